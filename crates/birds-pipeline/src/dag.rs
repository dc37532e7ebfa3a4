//! `birds dag`: the stage graph as text, Mermaid or Graphviz dot.

use std::fmt::Write;
use std::str::FromStr;

use crate::model::{Action, Pipeline};

/// Output format of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DagFormat {
    /// One line per stage in run order, with what it reads from.
    #[default]
    Text,
    /// A Mermaid `flowchart`.
    Mermaid,
    /// A Graphviz `digraph`.
    Dot,
}

impl FromStr for DagFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "mermaid" => Ok(Self::Mermaid),
            "dot" => Ok(Self::Dot),
            other => Err(format!(
                "unknown format `{other}`: expected text, mermaid or dot"
            )),
        }
    }
}

fn label(p: &Pipeline<'_>, i: usize) -> String {
    match &p.stages[i].action {
        Action::Builtin { uses, .. } => format!("uses {uses}"),
        Action::Cmd { .. } => String::from("cmd"),
    }
}

/// Renders the DAG of `p`.
pub fn render(p: &Pipeline<'_>, format: DagFormat) -> String {
    let mut out = String::new();
    match format {
        DagFormat::Text => {
            let width = p.stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for &i in &p.order {
                let s = &p.stages[i];
                let mut line = format!("{:<width$}  {:<16}", s.name, label(p, i));
                let ups: Vec<String> = p.upstream[i]
                    .iter()
                    .map(|&u| {
                        let via = p.edges.get(&(u, i)).map(String::as_str).unwrap_or("");
                        if via == p.stages[u].name {
                            p.stages[u].name.clone()
                        } else {
                            format!("{} ({via})", p.stages[u].name)
                        }
                    })
                    .collect();
                if !ups.is_empty() {
                    let _ = write!(line, "  <- {}", ups.join(", "));
                }
                // Trim the line, not the whole text (that was quadratic in the number of stages).
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        DagFormat::Mermaid => {
            out.push_str("flowchart TD\n");
            for &i in &p.order {
                let _ = writeln!(
                    out,
                    "    s{i}[\"{}<br/><small>{}</small>\"]",
                    mermaid_escape(&p.stages[i].name),
                    mermaid_escape(&label(p, i))
                );
            }
            for &(u, d) in p.edges.keys() {
                let _ = writeln!(out, "    s{u} --> s{d}");
            }
        }
        DagFormat::Dot => {
            let _ = writeln!(out, "digraph {} {{", dot_quote(&p.name));
            out.push_str("    node [shape=box];\n");
            for &i in &p.order {
                let _ = writeln!(
                    out,
                    "    {} [label={}];",
                    dot_quote(&p.stages[i].name),
                    dot_quote(&format!("{}\\n{}", p.stages[i].name, label(p, i)))
                );
            }
            for ((u, d), via) in &p.edges {
                let _ = writeln!(
                    out,
                    "    {} -> {} [label={}];",
                    dot_quote(&p.stages[*u].name),
                    dot_quote(&p.stages[*d].name),
                    dot_quote(via)
                );
            }
            out.push_str("}\n");
        }
    }
    out
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn dot_quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace("\\\\n", "\\n")
    )
}
