//! `birds dag`: the stage graph.

use birds_pipeline::dag::{DagFormat, render};

use super::run::pipeline_arg;

/// Arguments of `birds dag`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline: a name (pipelines/NAME.yaml, searched from the current folder upwards) or a path.
    #[arg(default_value = "default", value_name = "PIPELINE")]
    pipeline: String,

    /// Output format: text, mermaid or dot.
    #[arg(long, default_value = "text", value_parser = clap::builder::ValueParser::new(parse_format))]
    format: DagFormat,
}

fn parse_format(s: &str) -> Result<DagFormat, String> {
    s.parse()
}

/// Prints the DAG.
pub fn run(args: Args) -> anyhow::Result<()> {
    let registry = crate::stages::builtin();
    let file = pipeline_arg(&args.pipeline)?;
    let pipeline = birds_pipeline::load(&file, &registry, &[])?;
    out!("{}", render(&pipeline, args.format));
    Ok(())
}
