//! Where each node of a YAML document is: `stages[2].params.lr` → line 14, column 7.
//!
//! serde_yaml reports positions for the errors it finds itself (syntax, unknown keys, wrong types) but keeps no
//! positions for values, so the checks that come after deserialising (duplicate names, cycles, unknown stage
//! types…) look their line up here. The index is built from the event stream of `saphyr-parser`; when that parser
//! rejects a file serde_yaml accepted, the index is empty and messages simply carry no line.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index (0-based).
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_string())
    }
}

impl From<&String> for Seg {
    fn from(key: &String) -> Self {
        Seg::Key(key.clone())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// The top-level shape of a pipeline document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopLevel {
    /// `stages: [...]`.
    Mapping,
    /// A bare list of stages.
    Sequence,
    /// Anything else (empty file, a scalar).
    Other,
}

/// Nodes nested deeper than this are not indexed: messages never point below a stage's params, and each indexed
/// node stores its whole path, so indexing a hostile `[[[[…]]]]` of depth d cost O(d²) time and memory (100,000
/// levels ran for minutes). serde_yaml refuses such files itself (recursion limit), with a position.
const MAX_INDEXED_DEPTH: usize = 32;

/// Documents nested deeper than this are refused before serde_yaml sees them: its libyaml scanner is quadratic in
/// flow nesting (a 100,000-deep `[[[…]]]` took over a minute before it reported its own recursion limit of 128).
pub const MAX_DOCUMENT_DEPTH: usize = 128;

/// Line and column (1-based) of every node, keyed by its path. For a mapping entry the position is that of the
/// key, which is where a reader looks.
#[derive(Debug, Default)]
pub struct LineIndex {
    positions: HashMap<Vec<Seg>, (usize, usize)>,
    top: Option<TopLevel>,
    too_deep: Option<(usize, usize)>,
}

enum Frame {
    Seq {
        path: Vec<Seg>,
        next: usize,
    },
    Map {
        path: Vec<Seg>,
        key: Option<String>,
    },
    /// A complex (non-scalar) mapping key being skipped; counts nested starts.
    Skip(usize),
}

impl LineIndex {
    /// Indexes `source`; an unparsable document gives an empty index.
    pub fn build(source: &str) -> Self {
        let mut index = LineIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut depth = 0usize;
        for item in Parser::new_from_str(source) {
            let (event, span) = match item {
                Ok(item) => item,
                Err(e) => {
                    index.positions.clear();
                    // saphyr scans ahead through flow collections and stops at 255 levels with this message,
                    // before any event past the limit reaches us.
                    if e.info() == "recursion limit exceeded" {
                        index.too_deep = Some((e.marker().line(), e.marker().col() + 1));
                    }
                    return index;
                }
            };
            let pos = (span.start.line(), span.start.col() + 1);
            match &event {
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    depth += 1;
                    if depth > MAX_DOCUMENT_DEPTH {
                        index.too_deep = Some(pos);
                        return index;
                    }
                }
                Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
                _ => {}
            }
            let starts = match &event {
                Event::SequenceStart(..) | Event::MappingStart(..) => Some(true),
                Event::Scalar(..) | Event::Alias(..) => Some(false),
                _ => None,
            };
            if let Some(Frame::Skip(depth)) = stack.last_mut() {
                match &event {
                    Event::SequenceStart(..) | Event::MappingStart(..) => *depth += 1,
                    Event::SequenceEnd | Event::MappingEnd => {
                        *depth -= 1;
                        if *depth == 0 {
                            stack.pop();
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match starts {
                Some(is_container) => {
                    if index.top.is_none() {
                        index.top = Some(match &event {
                            Event::MappingStart(..) => TopLevel::Mapping,
                            Event::SequenceStart(..) => TopLevel::Sequence,
                            _ => TopLevel::Other,
                        });
                    }
                    // Is this node a mapping key?
                    if let Some(Frame::Map { path, key }) = stack.last_mut()
                        && key.is_none()
                    {
                        if let Event::Scalar(text, ..) = &event {
                            let mut p = path.clone();
                            p.push(Seg::Key(text.to_string()));
                            index.positions.entry(p).or_insert(pos);
                            *key = Some(text.to_string());
                        } else if is_container {
                            *key = Some(String::from("?"));
                            stack.push(Frame::Skip(1));
                        } else {
                            *key = Some(String::from("?"));
                        }
                        continue;
                    }
                    // Too deep to be worth a position: skip the whole subtree.
                    if stack.len() >= MAX_INDEXED_DEPTH {
                        if is_container {
                            stack.push(Frame::Skip(1));
                        }
                        continue;
                    }
                    // A value: its path.
                    let node_path = match stack.last_mut() {
                        None => Vec::new(),
                        Some(Frame::Seq { path, next }) => {
                            let mut p = path.clone();
                            p.push(Seg::Index(*next));
                            *next += 1;
                            p
                        }
                        Some(Frame::Map { path, key }) => {
                            let mut p = path.clone();
                            p.push(Seg::Key(key.take().unwrap_or_default()));
                            p
                        }
                        Some(Frame::Skip(_)) => continue,
                    };
                    index.positions.entry(node_path.clone()).or_insert(pos);
                    match &event {
                        Event::SequenceStart(..) => stack.push(Frame::Seq {
                            path: node_path,
                            next: 0,
                        }),
                        Event::MappingStart(..) => stack.push(Frame::Map {
                            path: node_path,
                            key: None,
                        }),
                        _ => {}
                    }
                }
                None => {
                    if matches!(event, Event::SequenceEnd | Event::MappingEnd) {
                        stack.pop();
                    }
                }
            }
        }
        index
    }

    /// Where the document first nests deeper than [`MAX_DOCUMENT_DEPTH`] (line, column), if it does.
    pub fn too_deep(&self) -> Option<(usize, usize)> {
        self.too_deep
    }

    /// The top-level shape (mapping, list, other).
    pub fn top_level(&self) -> TopLevel {
        self.top.unwrap_or(TopLevel::Other)
    }

    /// Position of the node at `path`.
    pub fn get(&self, path: &[Seg]) -> Option<(usize, usize)> {
        self.positions.get(path).copied()
    }

    /// Position of the node at `path`, or of its nearest ancestor that has one.
    pub fn nearest(&self, path: &[Seg]) -> Option<(usize, usize)> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.positions.get(&path[..n]).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! yaml_path {
        ($($seg:expr),* $(,)?) => {
            [$(Seg::from($seg)),*]
        };
    }

    #[test]
    fn block_and_flow_positions() {
        let src = "stages:\n  - name: a\n    cmd: echo hi\n    params: {lr: 0.1, n: 2}\n  - name: b\n    deps:\n      - x\n      - y\n";
        let idx = LineIndex::build(src);
        assert_eq!(idx.top_level(), TopLevel::Mapping);
        assert_eq!(idx.get(&yaml_path!["stages"]), Some((1, 1)));
        assert_eq!(idx.get(&yaml_path!["stages", 0usize]), Some((2, 5)));
        assert_eq!(idx.get(&yaml_path!["stages", 0usize, "cmd"]), Some((3, 5)));
        assert_eq!(
            idx.get(&yaml_path!["stages", 0usize, "params", "n"]),
            Some((4, 23))
        );
        assert_eq!(idx.get(&yaml_path!["stages", 1usize, "name"]), Some((5, 5)));
        assert_eq!(
            idx.get(&yaml_path!["stages", 1usize, "deps", 1usize]),
            Some((8, 9))
        );
        assert_eq!(
            idx.nearest(&yaml_path!["stages", 1usize, "deps", 7usize]),
            Some((6, 5))
        );
    }

    #[test]
    fn bare_list_and_garbage() {
        let idx = LineIndex::build("- name: a\n  cmd: x\n");
        assert_eq!(idx.top_level(), TopLevel::Sequence);
        assert_eq!(idx.get(&yaml_path![0usize, "cmd"]), Some((2, 3)));
        let bad = LineIndex::build("stages: [a, b\n");
        assert_eq!(bad.get(&yaml_path!["stages"]), None);
        assert_eq!(LineIndex::build("").top_level(), TopLevel::Other);
    }

    #[test]
    fn deep_nesting_is_cut_off_and_the_rest_still_indexed() {
        let depth = MAX_DOCUMENT_DEPTH - 1;
        let src = format!("a: {}{}\nb: 2\n", "[".repeat(depth), "]".repeat(depth));
        let idx = LineIndex::build(&src);
        assert_eq!(idx.too_deep(), None);
        assert_eq!(idx.get(&yaml_path!["b"]), Some((2, 1)));
        assert!(
            idx.positions.len() <= MAX_INDEXED_DEPTH + 2,
            "{}",
            idx.positions.len()
        );
    }

    #[test]
    fn too_deep_documents_are_flagged_where_they_cross_the_limit() {
        let src = format!("a: {}\n", "[".repeat(200_000));
        let idx = LineIndex::build(&src);
        let (line, col) = idx.too_deep().unwrap_or_default();
        assert_eq!(line, 1);
        assert!(col > MAX_DOCUMENT_DEPTH, "{col}");
        let shallow = LineIndex::build("a: [[[1]]]\n");
        assert_eq!(shallow.too_deep(), None);
    }

    #[test]
    fn complex_keys_are_skipped() {
        let idx = LineIndex::build("? [a, b]\n: 1\nc: 2\n");
        assert_eq!(idx.get(&yaml_path!["c"]), Some((3, 1)));
    }
}
