//! Is a stage up to date, and if not, why: the cache key and the reasons `birds status` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::error::Result;
use crate::hash::{Digest, HashCache};
use crate::lockfile::{ImplicitDep, LockFile, StageLock};
use crate::model::{Action, Pipeline, StageDef};
use crate::owned::Ownership;

/// Why a stage must run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Not in the lock file.
    NeverRun,
    /// `--force` or `--from`.
    Forced,
    /// Another birds version ran it.
    BirdsVersion {
        /// Version in the lock file.
        was: String,
        /// This version.
        now: String,
    },
    /// The action, deps or outs as written changed.
    Definition {
        /// What changed.
        what: String,
    },
    /// A param changed, appeared or disappeared.
    Param {
        /// Dotted key.
        key: String,
        /// Value in the lock file.
        was: Option<serde_json::Value>,
        /// Value now.
        now: Option<serde_json::Value>,
    },
    /// A dep's content changed.
    Dep {
        /// The dep path.
        path: String,
        /// `changed`, `missing`, `appeared`.
        change: String,
    },
    /// An out is missing or differs from what the stage wrote.
    Out {
        /// The out path.
        path: String,
        /// `missing` or `modified`.
        change: String,
    },
    /// A file the stage reads beyond its deps (e.g. the pretrained weights) changed.
    Implicit {
        /// What it is (`weights`).
        label: String,
        /// The file now.
        path: String,
        /// `changed`, `missing`, `appeared`.
        change: String,
    },
    /// An out exists but birds did not write it: `birds run` refuses to replace it (without `--overwrite-outs`).
    ForeignOut {
        /// The out path.
        path: String,
    },
    /// An upstream stage will run first, so the deps may change.
    Upstream {
        /// The upstream stage.
        stage: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map_or_else(|| String::from("(unset)"), |v| v.to_string())
        };
        match self {
            Reason::NeverRun => write!(f, "never run"),
            Reason::Forced => write!(f, "forced"),
            Reason::BirdsVersion { was, now } => write!(f, "birds version changed: {was} → {now}"),
            Reason::Definition { what } => write!(f, "definition changed: {what}"),
            Reason::Param { key, was, now } => {
                write!(f, "param `{key}` changed: {} → {}", show(was), show(now))
            }
            Reason::Dep { path, change } => write!(f, "dep `{path}` {change}"),
            Reason::Out { path, change } => write!(f, "out `{path}` {change}"),
            Reason::Implicit {
                label,
                path,
                change,
            } => write!(f, "{label} `{path}` {change}"),
            Reason::ForeignOut { path } => write!(
                f,
                "out `{path}` exists and birds did not write it: `birds run` will not replace it (move it away, or pass --overwrite-outs)"
            ),
            Reason::Upstream { stage } => write!(f, "upstream `{stage}` will run"),
        }
    }
}

/// The state of one stage right now.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The cache key from the current definition, params and dep contents.
    pub key: String,
    /// blake3 of the definition.
    pub definition: String,
    /// Current dep digests.
    pub deps: BTreeMap<String, Digest>,
    /// Current digests of the files a built-in stage reads beyond its deps, by label.
    pub implicit: BTreeMap<String, ImplicitDep>,
    /// Why it must run; empty when up to date.
    pub reasons: Vec<Reason>,
}

/// Computes the key of `stage` (of `pipeline`) and compares it (and the outs) with its lock entry; outs that
/// exist but are not `owned` by birds are reported as [`Reason::ForeignOut`].
pub fn assess(
    pipeline: &Pipeline<'_>,
    stage: &StageDef<'_>,
    lock: Option<&StageLock>,
    cache: &HashCache,
    owned: &Ownership,
) -> Result<Assessment> {
    let mut deps = BTreeMap::new();
    for p in stage.dep_paths() {
        deps.insert(p.rel.clone(), cache.digest(&p.abs)?);
    }
    let mut implicit = BTreeMap::new();
    for (label, path) in pipeline.implicit_deps(stage)? {
        let digest = cache.digest(&path)?;
        implicit.insert(
            label,
            ImplicitDep {
                path: path.display().to_string(),
                digest,
            },
        );
    }
    let definition = blake3::hash(canonical_json(&stage.definition()).as_bytes())
        .to_hex()
        .to_string();
    let key = cache_key(&definition, &stage.params, &deps, &implicit);
    let mut reasons = Vec::new();
    let Some(lock) = lock else {
        reasons.push(Reason::NeverRun);
        foreign_outs(stage, owned, &mut reasons);
        return Ok(Assessment {
            key,
            definition,
            deps,
            implicit,
            reasons,
        });
    };
    if lock.key != key {
        if lock.birds != birds_core::VERSION {
            reasons.push(Reason::BirdsVersion {
                was: lock.birds.clone(),
                now: birds_core::VERSION.to_string(),
            });
        }
        if lock.definition != definition {
            reasons.push(Reason::Definition {
                what: definition_change(stage, lock),
            });
        }
        param_changes("", Some(&lock.params), Some(&stage.params), &mut reasons);
        for (path, now) in &deps {
            match lock.deps.get(path) {
                Some(was) if was == now => {}
                Some(_) if now.is_missing() => reasons.push(dep_reason(path, "missing")),
                Some(_) => reasons.push(dep_reason(path, "changed")),
                None => {} // a new dep is a definition change
            }
        }
        for (label, now) in &implicit {
            let change = match lock.implicit.get(label) {
                Some(was) if was.digest == now.digest => None,
                _ if now.digest.is_missing() => Some("missing"),
                Some(was) if was.digest.is_missing() => Some("appeared"),
                Some(_) | None => Some("changed"),
            };
            if let Some(change) = change {
                reasons.push(Reason::Implicit {
                    label: label.clone(),
                    path: now.path.clone(),
                    change: change.to_string(),
                });
            }
        }
        for label in lock.implicit.keys().filter(|l| !implicit.contains_key(*l)) {
            reasons.push(Reason::Implicit {
                label: label.clone(),
                path: lock.implicit[label].path.clone(),
                change: String::from("no longer read"),
            });
        }
        if reasons.is_empty() {
            reasons.push(Reason::Definition {
                what: String::from("cache key changed"),
            });
        }
    }
    for out in &stage.outs {
        let now = cache.digest(&out.abs)?;
        let change = match lock.outs.get(&out.rel) {
            _ if now.is_missing() => Some("missing"),
            Some(was) if *was == now => None,
            _ => Some("modified"),
        };
        if let Some(change) = change {
            reasons.push(Reason::Out {
                path: out.rel.clone(),
                change: change.to_string(),
            });
        }
    }
    if !reasons.is_empty() {
        foreign_outs(stage, owned, &mut reasons);
    }
    Ok(Assessment {
        key,
        definition,
        deps,
        implicit,
        reasons,
    })
}

fn foreign_outs(stage: &StageDef<'_>, owned: &Ownership, reasons: &mut Vec<Reason>) {
    for out in &stage.outs {
        if owned.is_foreign(out) {
            reasons.push(Reason::ForeignOut {
                path: out.rel.clone(),
            });
        }
    }
}

fn dep_reason(path: &str, change: &str) -> Reason {
    Reason::Dep {
        path: path.to_string(),
        change: change.to_string(),
    }
}

fn definition_change(stage: &StageDef<'_>, lock: &StageLock) -> String {
    let mut what = Vec::new();
    match &stage.action {
        Action::Cmd { cmd, .. } if lock.cmd.as_deref() != Some(cmd.as_str()) => what.push("cmd"),
        Action::Builtin { uses, .. } if lock.uses.as_deref() != Some(uses.as_str()) => {
            what.push("uses")
        }
        _ => {}
    }
    let deps_now: BTreeSet<&str> = stage
        .dep_paths()
        .into_iter()
        .map(|p| p.rel.as_str())
        .collect();
    let deps_was: BTreeSet<&str> = lock.deps.keys().map(String::as_str).collect();
    if deps_now != deps_was {
        what.push("deps");
    }
    let outs_now: BTreeSet<&str> = stage.outs.iter().map(|p| p.rel.as_str()).collect();
    let outs_was: BTreeSet<&str> = lock.outs.keys().map(String::as_str).collect();
    if outs_now != outs_was {
        what.push("outs");
    }
    if what.is_empty() {
        String::from("deps or inputs as written")
    } else {
        what.join(", ")
    }
}

fn param_changes(
    prefix: &str,
    was: Option<&serde_json::Value>,
    now: Option<&serde_json::Value>,
    out: &mut Vec<Reason>,
) {
    if let (Some(serde_json::Value::Object(a)), Some(serde_json::Value::Object(b))) = (was, now) {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            param_changes(&key, a.get(k), b.get(k), out);
        }
        return;
    }
    if was != now {
        out.push(Reason::Param {
            key: prefix.to_string(),
            was: was.cloned(),
            now: now.cloned(),
        });
    }
}

/// blake3 over the birds version, the definition hash, the params, the dep digests and the implicit deps'
/// contents (by label, not path), in a canonical form.
pub fn cache_key(
    definition: &str,
    params: &serde_json::Value,
    deps: &BTreeMap<String, Digest>,
    implicit: &BTreeMap<String, ImplicitDep>,
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"birds-stage-key 1\0");
    h.update(birds_core::VERSION.as_bytes());
    h.update(b"\0");
    h.update(definition.as_bytes());
    h.update(b"\0");
    h.update(canonical_json(params).as_bytes());
    h.update(b"\0");
    for (path, d) in deps {
        h.update(path.as_bytes());
        h.update(b"\0");
        h.update(d.hash.as_bytes());
        h.update(b"\0");
    }
    // Nothing is added without implicit deps, so the keys of other stages stay what they were.
    for (label, d) in implicit {
        h.update(b"implicit\0");
        h.update(label.as_bytes());
        h.update(b"\0");
        h.update(d.digest.hash.as_bytes());
        h.update(b"\0");
    }
    h.finalize().to_hex().to_string()
}

/// JSON with object keys sorted at every level, whatever serde_json's map order is.
pub fn canonical_json(v: &serde_json::Value) -> String {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(map) => {
                let sorted: BTreeMap<&String, &serde_json::Value> = map.iter().collect();
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// One line of `birds status` / `birds run --dry-run`.
#[derive(Debug, Clone, Serialize)]
pub struct StageStatus {
    /// Stage name.
    pub name: String,
    /// Whether it would run.
    pub stale: bool,
    /// Why (empty when up to date).
    pub reasons: Vec<Reason>,
    /// When it last succeeded (from the lock file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
}

/// The state of the stages in `set` (in DAG order): a stage is also stale when a stale upstream stage in `set`
/// will run first. Stages in `forced` get [`Reason::Forced`].
pub fn plan(
    pipeline: &Pipeline<'_>,
    lock: &LockFile,
    cache: &HashCache,
    owned: &Ownership,
    set: &BTreeSet<usize>,
    forced: &BTreeSet<usize>,
) -> Result<Vec<(usize, Assessment)>> {
    let mut stale = vec![false; pipeline.stages.len()];
    let mut out = Vec::new();
    for &i in pipeline.order.iter().filter(|i| set.contains(i)) {
        let stage = &pipeline.stages[i];
        let mut a = assess(pipeline, stage, lock.stages.get(&stage.name), cache, owned)?;
        if forced.contains(&i) {
            a.reasons.insert(0, Reason::Forced);
        }
        for &u in &pipeline.upstream[i] {
            if stale[u] {
                a.reasons.push(Reason::Upstream {
                    stage: pipeline.stages[u].name.clone(),
                });
            }
        }
        stale[i] = !a.reasons.is_empty();
        out.push((i, a));
    }
    Ok(out)
}

/// `birds status`: every stage, stale or not, and why.
pub fn status(
    pipeline: &Pipeline<'_>,
    lock: &LockFile,
    cache: &HashCache,
) -> Result<Vec<StageStatus>> {
    let all: BTreeSet<usize> = (0..pipeline.stages.len()).collect();
    status_of(pipeline, lock, cache, &all)
}

/// `birds status PIPELINE TARGET…`: the stages in `set` only (in DAG order).
pub fn status_of(
    pipeline: &Pipeline<'_>,
    lock: &LockFile,
    cache: &HashCache,
    set: &BTreeSet<usize>,
) -> Result<Vec<StageStatus>> {
    let owned = Ownership::load(pipeline, lock, false);
    let planned = plan(pipeline, lock, cache, &owned, set, &BTreeSet::new())?;
    Ok(planned
        .into_iter()
        .map(|(i, a)| {
            let name = pipeline.stages[i].name.clone();
            StageStatus {
                last_run: lock.stages.get(&name).map(|l| l.started.clone()),
                name,
                stale: !a.reasons.is_empty(),
                reasons: a.reasons,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "s"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    #[test]
    fn param_diff_names_leaf_keys() {
        let mut out = Vec::new();
        param_changes(
            "",
            Some(&json!({"lr": 0.1, "opt": {"m": 1}, "gone": 1})),
            Some(&json!({"lr": 0.2, "opt": {"m": 1}, "new": true})),
            &mut out,
        );
        let shown: Vec<String> = out.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "param `gone` changed: 1 → (unset)",
                "param `lr` changed: 0.1 → 0.2",
                "param `new` changed: (unset) → true",
            ]
        );
    }

    #[test]
    fn key_depends_on_every_part() {
        let deps = BTreeMap::from([(
            String::from("d"),
            Digest {
                hash: String::from("h1"),
                bytes: 1,
                files: None,
            },
        )]);
        let none = BTreeMap::new();
        let k = cache_key("def", &json!({"a": 1}), &deps, &none);
        assert_eq!(k, cache_key("def", &json!({"a": 1}), &deps, &none));
        assert_ne!(k, cache_key("def2", &json!({"a": 1}), &deps, &none));
        assert_ne!(k, cache_key("def", &json!({"a": 2}), &deps, &none));
        let mut deps2 = deps.clone();
        if let Some(d) = deps2.get_mut("d") {
            d.hash = String::from("h2");
        }
        assert_ne!(k, cache_key("def", &json!({"a": 1}), &deps2, &none));
    }
}
