//! The graph algorithms behind [`load`](mod@crate::load): outs of different stages that overlap, the stages a dep
//! reads from, a topological order that keeps file order where the deps allow, and one cycle (with its message)
//! among the stages no order can place.
//!
//! Stages are named by their index in the file. Nothing here reads the pipeline file or reports a diagnostic:
//! [`load`](mod@crate::load) turns what these functions return into messages with lines and fixes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::ops::Bound;
use std::path::Path;

use crate::model::{Dep, ProjectPath, StageDef};

/// Two outs of different stages where one is, or lies inside, the other.
///
/// Ordered by the stage pair first, then by the outs' indices within their stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Overlap {
    /// The two stages, the one earlier in the file first.
    pub stages: (usize, usize),
    /// The index of each stage's out, in the same order as [`stages`](Self::stages).
    pub outs: (usize, usize),
}

impl Overlap {
    /// The two outs in `stages` (the list [`overlapping_outs`] was given); `None` if they are not in it.
    pub fn paths<'s>(
        &self,
        stages: &'s [StageDef<'_>],
    ) -> Option<(&'s ProjectPath, &'s ProjectPath)> {
        let a = stages.get(self.stages.0)?.outs.get(self.outs.0)?;
        let b = stages.get(self.stages.1)?.outs.get(self.outs.1)?;
        Some((a, b))
    }
}

/// Every pair of outs of different stages where one is, or lies inside, the other: sorted, without repeats.
/// Nested outs of one stage are no overlap.
///
/// The outs are sorted by path (component-wise, so a folder's contents follow it directly): each out overlaps
/// exactly the outs on the stack of its ancestors. O(n log n) instead of all pairs.
pub fn overlapping_outs(stages: &[StageDef<'_>]) -> Vec<Overlap> {
    let mut all: Vec<(&Path, usize, usize)> = stages
        .iter()
        .enumerate()
        .flat_map(|(s, st)| {
            st.outs
                .iter()
                .enumerate()
                .map(move |(k, o)| (o.abs.as_path(), s, k))
        })
        .collect();
    all.sort();
    let mut stack: Vec<(&Path, usize, usize)> = Vec::new();
    let mut pairs: Vec<Overlap> = Vec::new();
    for &(path, s, k) in &all {
        while stack.last().is_some_and(|top| !path.starts_with(top.0)) {
            stack.pop();
        }
        for &(_, ts, tk) in &stack {
            if ts != s {
                let (stages, outs) = if ts < s {
                    ((ts, s), (tk, k))
                } else {
                    ((s, ts), (k, tk))
                };
                pairs.push(Overlap { stages, outs });
            }
        }
        stack.push((path, s, k));
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// The stages that write each out path, to find the stages a dep reads from.
#[derive(Debug, Clone, Default)]
pub struct OutIndex<'p> {
    by_path: BTreeMap<&'p Path, Vec<usize>>,
}

impl<'p> OutIndex<'p> {
    /// Indexes the outs of `stages`.
    pub fn new(stages: &'p [StageDef<'_>]) -> Self {
        let mut by_path: BTreeMap<&'p Path, Vec<usize>> = BTreeMap::new();
        for (t, st) in stages.iter().enumerate() {
            for o in &st.outs {
                by_path.entry(o.abs.as_path()).or_default().push(t);
            }
        }
        Self { by_path }
    }

    /// The stages `dep` reads from: the stage it names, and every stage with an out that is one of its paths, a
    /// folder above one, or inside one. Empty when nothing makes the dep.
    pub fn producers(&self, dep: &Dep) -> BTreeSet<usize> {
        let mut producers = BTreeSet::new();
        if let Some(j) = dep.stage {
            producers.insert(j);
        }
        for dp in &dep.paths {
            // Outs that are the dep or a folder above it, then outs inside it (contiguous after it).
            for anc in dp.abs.ancestors() {
                if let Some(ts) = self.by_path.get(anc) {
                    producers.extend(ts.iter().copied());
                }
            }
            let after = (Bound::Excluded(dp.abs.as_path()), Bound::Unbounded);
            for (_, ts) in self
                .by_path
                .range::<Path, _>(after)
                .take_while(|(o, _)| o.starts_with(&dp.abs))
            {
                producers.extend(ts.iter().copied());
            }
        }
        producers
    }
}

/// The stage graph: the direct upstream and downstream stages of each stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dag {
    upstream: Vec<Vec<usize>>,
    downstream: Vec<Vec<usize>>,
}

impl Dag {
    /// The graph of `n` stages with `edges` (upstream, downstream). Each stage's lists follow the order of
    /// `edges` (sorted when `edges` is); edges naming a stage `>= n` are left out.
    pub fn from_edges(n: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut upstream = vec![Vec::new(); n];
        let mut downstream = vec![Vec::new(); n];
        for (t, s) in edges {
            if t < n && s < n {
                upstream[s].push(t);
                downstream[t].push(s);
            }
        }
        Self {
            upstream,
            downstream,
        }
    }

    /// The upstream and downstream lists, as [`Pipeline`](crate::model::Pipeline) keeps them.
    pub fn into_parts(self) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        (self.upstream, self.downstream)
    }

    /// A topological order that keeps file order where the deps allow: Kahn's algorithm, taking the ready stage
    /// earliest in the file first. Fails with one [`Cycle`] when some stages cannot be ordered.
    pub fn file_order(&self) -> Result<Vec<usize>, Cycle> {
        let n = self.upstream.len();
        let mut indeg: Vec<usize> = self.upstream.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| indeg[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &j in &self.downstream[i] {
                indeg[j] -= 1;
                if indeg[j] == 0 {
                    ready.push(Reverse(j));
                }
            }
        }
        if order.len() < n {
            return Err(self.find_cycle(&indeg));
        }
        Ok(order)
    }

    /// One cycle among the stages [`file_order`](Self::file_order) could not order (those with `indeg > 0`): from
    /// the first of them in the file, walks upstream (every such stage has an upstream one) until a stage repeats.
    fn find_cycle(&self, indeg: &[usize]) -> Cycle {
        let left = |i: usize| indeg.get(i).is_some_and(|&d| d > 0);
        let Some(start) = (0..indeg.len()).find(|&i| left(i)) else {
            return Cycle { stages: Vec::new() };
        };
        let mut seen: HashMap<usize, usize> = HashMap::new();
        let mut walk = vec![start];
        let mut cur = start;
        seen.insert(start, 0);
        loop {
            let Some(&up) = self.upstream[cur].iter().find(|&&u| left(u)) else {
                return Cycle { stages: walk };
            };
            if let Some(&at) = seen.get(&up) {
                let mut stages: Vec<usize> = walk[at..].to_vec();
                stages.reverse(); // upstream → downstream
                return Cycle { stages };
            }
            seen.insert(up, walk.len());
            walk.push(up);
            cur = up;
        }
    }
}

/// A dependency cycle: stages in dependency order, each reading from the one before it and the first from the
/// last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    stages: Vec<usize>,
}

impl Cycle {
    /// The stages, in dependency order.
    pub fn stages(&self) -> &[usize] {
        &self.stages
    }

    /// The stage the cycle starts from (0 for an empty cycle).
    pub fn first(&self) -> usize {
        self.stages.first().copied().unwrap_or(0)
    }

    /// `cycle: a → b → a`.
    pub fn message(&self, stages: &[StageDef<'_>]) -> String {
        let names: Vec<&str> = self
            .stages
            .iter()
            .chain(self.stages.first())
            .map(|&i| name(stages, i))
            .collect();
        format!("cycle: {}", names.join(" → "))
    }

    /// Every hop with the dep that makes it (from `edges`, as [`Pipeline::edges`](crate::model::Pipeline::edges)
    /// keeps them): `` `b` (line 9) reads `x` from `a`, …; remove one of these deps``.
    pub fn help(
        &self,
        stages: &[StageDef<'_>],
        edges: &BTreeMap<(usize, usize), String>,
    ) -> String {
        let hops: Vec<String> = self
            .stages
            .iter()
            .zip(self.stages.iter().cycle().skip(1))
            .map(|(&a, &b)| {
                let line = stages
                    .get(b)
                    .and_then(|s| s.line)
                    .map_or_else(|| String::from("?"), |l| l.to_string());
                format!(
                    "`{}` (line {line}) reads `{}` from `{}`",
                    name(stages, b),
                    edges.get(&(a, b)).map_or("?", String::as_str),
                    name(stages, a)
                )
            })
            .collect();
        format!("{}; remove one of these deps", hops.join(", "))
    }
}

/// The name of stage `i`, `?` when there is none.
fn name<'s>(stages: &'s [StageDef<'_>], i: usize) -> &'s str {
    stages.get(i).map_or("?", |s| s.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_order_takes_the_earliest_ready_stage() {
        // 0 needs 1; 2 is ready from the start but comes after 0 in the file.
        let dag = Dag::from_edges(3, [(1, 0)]);
        assert_eq!(dag.file_order(), Ok(vec![1, 0, 2]));
        assert_eq!(
            dag.into_parts(),
            (vec![vec![1], vec![], vec![]], vec![vec![], vec![0], vec![]])
        );
    }

    #[test]
    fn cycle_is_found_from_a_stage_below_it() {
        // 0 reads 2; 1 and 2 read each other; 3 is free.
        let dag = Dag::from_edges(4, [(1, 2), (2, 0), (2, 1)]);
        let cycle = dag
            .file_order()
            .err()
            .unwrap_or(Cycle { stages: Vec::new() });
        assert_eq!(cycle.stages(), [1, 2]);
        assert_eq!(cycle.first(), 1);
        let self_loop = Dag::from_edges(2, [(1, 1), (5, 0)]).file_order();
        assert_eq!(self_loop.err().map(|c| c.stages), Some(vec![1]));
    }

    #[test]
    fn empty_cycle_is_harmless() {
        let cycle = Cycle { stages: Vec::new() };
        assert_eq!(cycle.first(), 0);
        assert_eq!(cycle.message(&[]), "cycle: ");
        assert_eq!(
            cycle.help(&[], &BTreeMap::new()),
            "; remove one of these deps"
        );
    }
}
