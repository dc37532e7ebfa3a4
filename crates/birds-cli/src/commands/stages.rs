//! `birds stages`: the built-in stages a pipeline can `uses:`.

/// Arguments of `birds stages`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Lists the registered built-in stages with their inputs.
pub fn run(_args: Args) -> anyhow::Result<()> {
    let registry = crate::stages::builtin();
    if registry.is_empty() {
        outln!("no built-in stages registered; use `cmd:` stages");
        return Ok(());
    }
    for s in registry {
        let mut inputs: Vec<String> = s.inputs().iter().map(|i| (*i).to_string()).collect();
        inputs.extend(s.optional_inputs().iter().map(|i| format!("{i}?")));
        outln!("{:<12} {}", s.name(), s.about());
        outln!("{:<12} deps: {{ {} }}", "", inputs.join(", "));
    }
    Ok(())
}
