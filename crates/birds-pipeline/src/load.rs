//! Reading and validating a pipeline file. Nothing runs before every check here has passed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use birds_core::stage::Stage;
use serde::Deserialize;

use crate::error::{Diagnostic, Diagnostics, PipelineError, Result};
use crate::graph;
use crate::locate::{LineIndex, MAX_DOCUMENT_DEPTH, Seg, TopLevel};
use crate::model::{Action, Dep, Pipeline, ProjectPath, StageDef};
use crate::overrides::SetOverride;
use crate::util::{did_you_mean, display_path, normalize};

/// The keys a stage may have.
pub const STAGE_KEYS: &[&str] = &["name", "uses", "cmd", "params", "deps", "outs"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    stages: Vec<RawStage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    uses: Option<String>,
    cmd: Option<String>,
    params: Option<serde_yaml::Value>,
    deps: Option<serde_yaml::Value>,
    outs: Option<Vec<String>>,
}

/// Finds a pipeline by name or path.
///
/// `arg` is a path when it names an existing file, contains a `/` or ends in `.yaml`/`.yml`; otherwise it is a name
/// looked up as `pipelines/<arg>.yaml` (then `.yml`) in `cwd` and its ancestors, like git finds `.git`.
pub fn find_pipeline(arg: &str, cwd: &Path) -> Result<PathBuf> {
    let as_path = Path::new(arg);
    let looks_like_path = arg.contains('/')
        || arg.ends_with(".yaml")
        || arg.ends_with(".yml")
        || cwd.join(as_path).is_file();
    if looks_like_path {
        let p = cwd.join(as_path);
        if p.is_file() {
            return Ok(as_path.to_path_buf());
        }
        not_regular(&p, as_path)?;
        return Err(PipelineError::NotFound {
            name: arg.to_string(),
            looked: vec![as_path.to_path_buf()],
        });
    }
    let mut looked = Vec::new();
    for dir in cwd.ancestors() {
        for ext in ["yaml", "yml"] {
            let candidate = dir.join("pipelines").join(format!("{arg}.{ext}"));
            if candidate.is_file() {
                // Show it relative to the current directory when it is below it.
                return Ok(candidate
                    .strip_prefix(cwd)
                    .map(Path::to_path_buf)
                    .unwrap_or(candidate));
            }
            not_regular(&candidate, &candidate)?;
            if ext == "yaml" {
                looked.push(candidate);
            }
        }
    }
    Err(PipelineError::NotFound {
        name: arg.to_string(),
        looked,
    })
}

/// Refuses a pipeline path that exists but is no regular file: reading a FIFO would block forever, and "no
/// pipeline found" would be wrong for a folder called `p.yaml`.
fn not_regular(path: &Path, shown: &Path) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_file() {
        return Ok(());
    }
    let kind = describe_kind(&meta.file_type());
    Err(invalid(
        Diagnostic::new(
            shown,
            None,
            format!("the pipeline file is {kind}, not a regular file"),
        )
        .help("a pipeline is a YAML file; rename or remove this one"),
    ))
}

fn describe_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// The project root of a pipeline file: the parent of its folder when that folder is called `pipelines`,
/// else the file's own folder.
pub fn project_root(file: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(file).map_err(|e| PipelineError::io("resolving", file, e))?;
    let dir = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let dir = dir
        .canonicalize()
        .map_err(|e| PipelineError::io("resolving", &dir, e))?;
    if dir.file_name().is_some_and(|n| n == "pipelines") {
        return Ok(dir.parent().map(Path::to_path_buf).unwrap_or(dir));
    }
    Ok(dir)
}

/// Reads, validates and resolves the pipeline at `file`, with `--set` overrides applied.
pub fn load<'r>(file: &Path, registry: &[&'r dyn Stage], sets: &[String]) -> Result<Pipeline<'r>> {
    let source =
        std::fs::read_to_string(file).map_err(|e| PipelineError::io("reading", file, e))?;
    let root = project_root(file)?;
    load_str(file, &source, &root, registry, sets)
}

/// [`load`] on text already read (`file` is used for messages, the lock file and the pipeline name).
pub fn load_str<'r>(
    file: &Path,
    source: &str,
    root: &Path,
    registry: &[&'r dyn Stage],
    sets: &[String],
) -> Result<Pipeline<'r>> {
    let index = LineIndex::build(source);
    if let Some(pos) = index.too_deep() {
        return Err(invalid(
            Diagnostic::new(
                file,
                Some(pos),
                format!("nested deeper than {MAX_DOCUMENT_DEPTH} levels"),
            )
            .help("a pipeline needs a few levels of nesting; flatten this value"),
        ));
    }
    let (raws, prefix) = parse(file, source, &index)?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| String::from("pipeline"));
    let mut v = Validator {
        file,
        index: &index,
        prefix,
        diags: Vec::new(),
        guarded: guarded_paths(file, root, &name),
    };
    let stages = v.stages(&name, root, raws, registry, sets);
    if !v.diags.is_empty() {
        return Err(PipelineError::Invalid(Diagnostics(v.diags)));
    }
    let artifacts = root.join("artifacts").join(&name);
    let mut pipeline = Pipeline {
        name,
        file: file.to_path_buf(),
        root: root.to_path_buf(),
        artifacts,
        upstream: vec![Vec::new(); stages.len()],
        downstream: vec![Vec::new(); stages.len()],
        order: Vec::new(),
        edges: BTreeMap::new(),
        stages,
    };
    v.graph(&mut pipeline);
    if !v.diags.is_empty() {
        return Err(PipelineError::Invalid(Diagnostics(v.diags)));
    }
    Ok(pipeline)
}

fn parse(file: &Path, source: &str, index: &LineIndex) -> Result<(Vec<RawStage>, Vec<Seg>)> {
    let empty = source
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if empty {
        return Err(invalid(
            Diagnostic::new(file, None, "the pipeline file is empty")
                .help("write `stages:` followed by a list of stages, see docs/pipeline.md"),
        ));
    }
    let parsed = match index.top_level() {
        TopLevel::Sequence => {
            serde_yaml::from_str::<Vec<RawStage>>(source).map(|s| (s, Vec::new()))
        }
        _ => serde_yaml::from_str::<RawFile>(source)
            .map(|f| (f.stages, vec![Seg::Key(String::from("stages"))])),
    };
    parsed.map_err(|e| invalid(serde_diagnostic(file, &e)))
}

fn invalid(d: Diagnostic) -> PipelineError {
    PipelineError::Invalid(Diagnostics(vec![d]))
}

/// Turns serde_yaml's error into a diagnostic with position and, for unknown keys, a fix.
fn serde_diagnostic(file: &Path, e: &serde_yaml::Error) -> Diagnostic {
    let pos = e.location().map(|l| (l.line(), l.column()));
    let mut msg = e.to_string();
    if let Some(cut) = msg.find(" at line ") {
        msg.truncate(cut);
    }
    let mut d = Diagnostic::new(file, pos, msg.clone());
    if let Some(field) = backticked_after(&msg, "unknown field `") {
        let mut help = format!("a stage's keys are: {}", STAGE_KEYS.join(", "));
        if msg.contains("expected `stages`") {
            help = String::from("the file's only top-level key is `stages:` (a list of stages)");
        }
        if let Some(s) = did_you_mean(&field, STAGE_KEYS.iter().copied().chain(["stages"])) {
            help = format!("did you mean `{s}`? {help}");
        }
        d = d.help(help);
    } else if msg.contains("missing field `name`") {
        d = d.help("every stage needs `name:` (unique; letters, digits, `_` and `-`)");
    } else if msg.contains("missing field `stages`") {
        d = d.help("write `stages:` followed by a list of stages");
    } else if pos.is_some() && !msg.contains("invalid type") {
        d = d.help("the file is not valid YAML here; check indentation, quotes and brackets");
    }
    d
}

fn backticked_after(msg: &str, marker: &str) -> Option<String> {
    let start = msg.find(marker)? + marker.len();
    let end = msg[start..].find('`')?;
    Some(msg[start..start + end].to_string())
}

struct Validator<'a> {
    file: &'a Path,
    index: &'a LineIndex,
    prefix: Vec<Seg>,
    diags: Vec<Diagnostic>,
    /// Paths no out may be or contain (the pipeline file, its lock, the pipelines folder, `.git`, …), with what
    /// each is, for the message.
    guarded: Vec<(PathBuf, String)>,
}

/// Folders directly below the project root that hold the project's sources: an out may lie inside one (a
/// generated file) but may not be one.
const SOURCE_DIRS: &[&str] = &["src", "crates", "scripts", "tests", "docs", "pipelines"];

/// Version-control folders: an out may neither be, contain nor lie inside one.
const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn", ".jj"];

/// What no out may be or contain: the pipeline file, its lock file, its folder when that is `pipelines/`, the
/// version-control folders and source folders of the project root.
fn guarded_paths(file: &Path, root: &Path, name: &str) -> Vec<(PathBuf, String)> {
    let abs = normalize(&std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()));
    let dir = abs
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .unwrap_or_else(|| root.to_path_buf());
    let mut out = Vec::new();
    if let Some(fname) = abs.file_name() {
        out.push((dir.join(fname), String::from("the pipeline file")));
    }
    out.push((
        dir.join(format!("{name}.lock")),
        String::from("the pipeline's lock file"),
    ));
    if dir.file_name().is_some_and(|n| n == "pipelines") {
        out.push((dir.clone(), String::from("the pipelines folder")));
    }
    for d in VCS_DIRS {
        out.push((root.join(d), format!("the version-control folder `{d}`")));
    }
    for d in SOURCE_DIRS {
        if root.join(d).is_dir() {
            out.push((root.join(d), format!("the source folder `{d}`")));
        }
    }
    out
}

/// A dep before stage names are resolved.
struct RawDep {
    input: Option<String>,
    spec: String,
    at: Vec<Seg>,
}

impl Validator<'_> {
    fn path(&self, stage: usize, rest: &[Seg]) -> Vec<Seg> {
        let mut p = self.prefix.clone();
        p.push(Seg::Index(stage));
        p.extend_from_slice(rest);
        p
    }

    fn pos(&self, stage: usize, rest: &[Seg]) -> Option<(usize, usize)> {
        self.index.nearest(&self.path(stage, rest))
    }

    fn error(&mut self, pos: Option<(usize, usize)>, msg: String, help: Option<String>) {
        let mut d = Diagnostic::new(self.file, pos, msg);
        d.help = help;
        self.diags.push(d);
    }

    fn stages<'r>(
        &mut self,
        pipeline: &str,
        root: &Path,
        raws: Vec<RawStage>,
        registry: &[&'r dyn Stage],
        sets: &[String],
    ) -> Vec<StageDef<'r>> {
        if raws.is_empty() {
            self.error(
                self.index.nearest(&self.prefix),
                String::from("the pipeline has no stages"),
                Some(String::from(
                    "add at least one stage with `name:` and `uses:` or `cmd:`",
                )),
            );
        }
        // Names first: deps may refer to any stage.
        let mut first_by_name: HashMap<&str, usize> = HashMap::new();
        for (i, raw) in raws.iter().enumerate() {
            let at = self.pos(i, &[Seg::from("name")]);
            check_name(&raw.name).unwrap_or_else(|(msg, help)| {
                self.error(at, format!("stage `{}`: {msg}", raw.name), Some(help));
            });
            if let Some(&j) = first_by_name.get(raw.name.as_str()) {
                let first = self.pos(j, &[Seg::from("name")]).map(|p| p.0);
                self.error(
                    at,
                    format!(
                        "duplicate stage name `{}` (first defined on line {})",
                        raw.name,
                        first.map_or_else(|| String::from("?"), |l| l.to_string())
                    ),
                    Some(String::from("give each stage a unique `name:`")),
                );
            } else {
                first_by_name.insert(raw.name.as_str(), i);
            }
        }
        let names: Vec<&str> = raws.iter().map(|r| r.name.as_str()).collect();

        // --set overrides, grouped by stage.
        let mut overrides: Vec<Vec<SetOverride>> = vec![Vec::new(); raws.len()];
        for raw in sets {
            match SetOverride::parse(raw) {
                Err(msg) => self.error(None, msg, None),
                Ok(o) => match first_by_name.get(o.stage.as_str()) {
                    Some(&i) => overrides[i].push(o),
                    None => {
                        let mut help = format!("stages: {}", names.join(", "));
                        if let Some(s) = did_you_mean(&o.stage, names.iter().copied()) {
                            help = format!("did you mean `{s}`? {help}");
                        }
                        self.error(
                            None,
                            format!("--set `{}`: no stage `{}`", o.raw, o.stage),
                            Some(help),
                        );
                    }
                },
            }
        }

        let mut defs = Vec::new();
        let mut raw_deps: Vec<Vec<RawDep>> = Vec::new();
        for (i, raw) in raws.into_iter().enumerate() {
            let stage_line = self.pos(i, &[]).map(|p| p.0);
            let params = self.params(i, &raw, &overrides[i]);
            let action = self.action(i, &raw, registry, &params, pipeline, root);
            let deps = self.raw_deps(i, &raw, action.as_ref());
            let outs = self.outs(i, &raw, action.as_ref(), pipeline, root);
            raw_deps.push(deps);
            if let Some(action) = action {
                defs.push(StageDef {
                    name: raw.name,
                    action,
                    params,
                    deps: Vec::new(),
                    outs,
                    line: stage_line,
                });
            }
        }
        if !self.diags.is_empty() {
            return defs;
        }
        // Resolve deps now that every stage's outs are known.
        let by_name: HashMap<String, usize> = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        let outs_of: Vec<Vec<ProjectPath>> = defs.iter().map(|d| d.outs.clone()).collect();
        for (i, deps) in raw_deps.into_iter().enumerate() {
            let builtin = matches!(defs[i].action, Action::Builtin { .. });
            let mut resolved = Vec::new();
            for d in deps {
                let pos = self.index.nearest(&d.at);
                if let Some(&j) = by_name.get(&d.spec) {
                    if builtin && outs_of[j].len() != 1 {
                        self.error(
                            pos,
                            format!(
                                "stage `{}`: input `{}` = stage `{}`, which has {} outs",
                                defs[i].name,
                                d.input.as_deref().unwrap_or_default(),
                                d.spec,
                                outs_of[j].len()
                            ),
                            Some(String::from(
                                "name the one path you mean instead of the stage",
                            )),
                        );
                        continue;
                    }
                    resolved.push(Dep {
                        input: d.input,
                        spec: d.spec,
                        paths: outs_of[j].clone(),
                        stage: Some(j),
                    });
                } else {
                    let p = project_path(root, &d.spec);
                    resolved.push(Dep {
                        input: d.input,
                        spec: d.spec,
                        paths: vec![p],
                        stage: None,
                    });
                }
            }
            defs[i].deps = resolved;
        }
        defs
    }

    fn params(&mut self, i: usize, raw: &RawStage, sets: &[SetOverride]) -> serde_json::Value {
        let at = self.pos(i, &[Seg::from("params")]);
        let mut params = match &raw.params {
            None | Some(serde_yaml::Value::Null) => serde_json::Value::Object(Default::default()),
            Some(v @ serde_yaml::Value::Mapping(_)) => match serde_json::to_value(v) {
                Ok(j) => j,
                Err(e) => {
                    self.error(
                        at,
                        format!("stage `{}`: params cannot be read: {e}", raw.name),
                        Some(String::from("use string keys and plain values")),
                    );
                    serde_json::Value::Object(Default::default())
                }
            },
            Some(_) => {
                self.error(
                    at,
                    format!("stage `{}`: `params:` must be a mapping", raw.name),
                    Some(String::from("write e.g. `params: { lr: 0.01, epochs: 3 }`")),
                );
                serde_json::Value::Object(Default::default())
            }
        };
        let is_cmd = raw.cmd.is_some() && raw.uses.is_none();
        for o in sets {
            let exists = lookup(&params, &o.key).is_some();
            if is_cmd && !exists {
                let keys = param_keys(&params);
                let mut help = if keys.is_empty() {
                    format!(
                        "stage `{}` declares no params; add it under `params:` first",
                        raw.name
                    )
                } else {
                    format!("params of `{}`: {}", raw.name, keys.join(", "))
                };
                if let Some(s) = did_you_mean(&o.dotted_key(), keys.iter().map(String::as_str)) {
                    help = format!("did you mean `{}.{s}`? {help}", raw.name);
                }
                self.error(
                    at.or_else(|| self.pos(i, &[])),
                    format!(
                        "--set `{}`: stage `{}` has no param `{}`",
                        o.raw,
                        raw.name,
                        o.dotted_key()
                    ),
                    Some(help),
                );
                continue;
            }
            if let Err(msg) = assign(&mut params, &o.key, o.value.clone()) {
                self.error(
                    at.or_else(|| self.pos(i, &[])),
                    format!("--set `{}`: {msg}", o.raw),
                    None,
                );
            }
        }
        params
    }

    fn action<'r>(
        &mut self,
        i: usize,
        raw: &RawStage,
        registry: &[&'r dyn Stage],
        params: &serde_json::Value,
        pipeline: &str,
        root: &Path,
    ) -> Option<Action<'r>> {
        match (&raw.uses, &raw.cmd) {
            (Some(_), Some(_)) => {
                self.error(
                    self.pos(i, &[Seg::from("cmd")]),
                    format!("stage `{}` has both `uses:` and `cmd:`", raw.name),
                    Some(String::from(
                        "keep `uses:` for a built-in stage or `cmd:` for an external command",
                    )),
                );
                None
            }
            (None, None) => {
                self.error(
                    self.pos(i, &[]),
                    format!("stage `{}` has neither `uses:` nor `cmd:`", raw.name),
                    Some(format!(
                        "add `uses: <built-in>` (one of: {}) or `cmd: <shell command>`",
                        builtin_names(registry)
                    )),
                );
                None
            }
            (Some(uses), None) => {
                let at = self.pos(i, &[Seg::from("uses")]);
                let Some(stage) = registry.iter().find(|s| s.name() == uses.as_str()) else {
                    let names: Vec<&str> = registry.iter().map(|s| s.name()).collect();
                    let mut help = format!(
                        "built-in stages: {}; for an external command write `cmd:` instead of `uses:`",
                        builtin_names(registry)
                    );
                    if let Some(s) = did_you_mean(uses, names.iter().copied()) {
                        help = format!("did you mean `{s}`? {help}");
                    }
                    self.error(
                        at,
                        format!("stage `{}`: unknown stage type `{uses}`", raw.name),
                        Some(help),
                    );
                    return None;
                };
                if let Err(msg) = stage.check_params(params) {
                    let key = backticked_after(&msg, "`").filter(|k| params.get(k).is_some());
                    let pos = key
                        .as_ref()
                        .and_then(|k| {
                            self.index
                                .get(&self.path(i, &[Seg::from("params"), Seg::Key(k.clone())]))
                        })
                        .or_else(|| self.pos(i, &[Seg::from("params")]));
                    self.error(
                        pos,
                        format!("stage `{}` (uses {uses}): bad params: {msg}", raw.name),
                        Some(format!("see `birds stages` for what `{uses}` accepts")),
                    );
                }
                Some(Action::Builtin {
                    uses: uses.clone(),
                    stage: *stage,
                })
            }
            (None, Some(cmd)) => {
                let at = self.pos(i, &[Seg::from("cmd")]);
                if cmd.trim().is_empty() {
                    self.error(
                        at,
                        format!("stage `{}`: `cmd:` is empty", raw.name),
                        Some(String::from("write the shell command to run")),
                    );
                    return None;
                }
                match interpolate(cmd, params, &raw.name, pipeline, root) {
                    Ok(expanded) => Some(Action::Cmd {
                        template: cmd.clone(),
                        cmd: expanded,
                    }),
                    Err((msg, help)) => {
                        self.error(at, format!("stage `{}`: {msg}", raw.name), Some(help));
                        None
                    }
                }
            }
        }
    }

    fn raw_deps(&mut self, i: usize, raw: &RawStage, action: Option<&Action<'_>>) -> Vec<RawDep> {
        let mut out = Vec::new();
        let Some(deps) = &raw.deps else {
            if let Some(Action::Builtin { stage, uses }) = action
                && !stage.inputs().is_empty()
            {
                self.error(
                    self.pos(i, &[]),
                    format!("stage `{}` (uses {uses}) has no `deps:`", raw.name),
                    Some(format!(
                        "write `deps: {{ {} }}` with paths or stage names",
                        stage
                            .inputs()
                            .iter()
                            .map(|n| format!("{n}: …"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
            return out;
        };
        let at = self.pos(i, &[Seg::from("deps")]);
        match action {
            None => {}
            Some(Action::Cmd { .. }) => {
                let serde_yaml::Value::Sequence(items) = deps else {
                    self.error(
                        at,
                        format!(
                            "stage `{}`: `deps:` of a `cmd:` stage must be a list",
                            raw.name
                        ),
                        Some(String::from(
                            "write e.g. `deps: [data/raw.csv, ingest]` (paths or stage names)",
                        )),
                    );
                    return out;
                };
                for (k, item) in items.iter().enumerate() {
                    let path = self.path(i, &[Seg::from("deps"), Seg::Index(k)]);
                    match dep_string(item) {
                        Some(spec) => out.push(RawDep {
                            input: None,
                            spec,
                            at: path,
                        }),
                        None => self.error(
                            self.index.nearest(&path),
                            format!(
                                "stage `{}`: dep {} is not a path or stage name",
                                raw.name,
                                k + 1
                            ),
                            Some(String::from("each dep is a string: a path or a stage name")),
                        ),
                    }
                }
            }
            Some(Action::Builtin { stage, uses }) => {
                let serde_yaml::Value::Mapping(map) = deps else {
                    self.error(
                        at,
                        format!(
                            "stage `{}` (uses {uses}): `deps:` of a built-in stage must map input names to paths or stage names",
                            raw.name
                        ),
                        Some(format!("write `deps: {{ {}: … }}`", stage.inputs().join(": …, "))),
                    );
                    return out;
                };
                let known: Vec<&str> = stage
                    .inputs()
                    .iter()
                    .chain(stage.optional_inputs())
                    .copied()
                    .collect();
                let mut given = BTreeSet::new();
                for (k, v) in map {
                    let Some(input) = k.as_str() else {
                        self.error(
                            at,
                            format!("stage `{}`: input names must be strings", raw.name),
                            None,
                        );
                        continue;
                    };
                    let path = self.path(i, &[Seg::from("deps"), Seg::from(input)]);
                    if !known.contains(&input) {
                        let mut help = format!("inputs of `{uses}`: {}", known.join(", "));
                        if let Some(s) = did_you_mean(input, known.iter().copied()) {
                            help = format!("did you mean `{s}`? {help}");
                        }
                        self.error(
                            self.index.nearest(&path),
                            format!("stage `{}`: `{uses}` has no input `{input}`", raw.name),
                            Some(help),
                        );
                        continue;
                    }
                    match dep_string(v) {
                        Some(spec) => {
                            given.insert(input.to_string());
                            out.push(RawDep {
                                input: Some(input.to_string()),
                                spec,
                                at: path,
                            });
                        }
                        None => self.error(
                            self.index.nearest(&path),
                            format!(
                                "stage `{}`: input `{input}` must be a path or a stage name",
                                raw.name
                            ),
                            None,
                        ),
                    }
                }
                for need in stage.inputs() {
                    if !given.contains(*need) {
                        self.error(
                            at,
                            format!(
                                "stage `{}` (uses {uses}): input `{need}` missing from `deps:`",
                                raw.name
                            ),
                            Some(format!("add `{need}: <path or stage name>` under `deps:`")),
                        );
                    }
                }
            }
        }
        out
    }

    fn outs(
        &mut self,
        i: usize,
        raw: &RawStage,
        action: Option<&Action<'_>>,
        pipeline: &str,
        root: &Path,
    ) -> Vec<ProjectPath> {
        let builtin = matches!(action, Some(Action::Builtin { .. }));
        let at = self.pos(i, &[Seg::from("outs")]);
        let specs: Vec<String> = match &raw.outs {
            None if builtin => vec![format!("artifacts/{pipeline}/{}", raw.name)],
            None => Vec::new(),
            Some(list) => list.clone(),
        };
        if builtin && specs.len() != 1 {
            self.error(
                at,
                format!(
                    "stage `{}`: a built-in stage writes one output folder, not {}",
                    raw.name,
                    specs.len()
                ),
                Some(format!(
                    "give one path in `outs:`, or drop `outs:` to use artifacts/{pipeline}/{}",
                    raw.name
                )),
            );
        }
        let artifacts = root.join("artifacts").join(pipeline);
        let protected = [artifacts.join(".cache"), artifacts.join("logs")];
        let mut outs = Vec::new();
        for (k, spec) in specs.iter().enumerate() {
            let pos = self
                .index
                .get(&self.path(i, &[Seg::from("outs"), Seg::Index(k)]))
                .or(at);
            if spec.trim().is_empty() {
                self.error(pos, format!("stage `{}`: empty out path", raw.name), None);
                continue;
            }
            let p = project_path(root, spec);
            if root.starts_with(&p.abs)
                || protected
                    .iter()
                    .any(|q| q.starts_with(&p.abs) || p.abs.starts_with(q))
            {
                self.error(
                    pos,
                    format!(
                        "stage `{}`: out `{spec}` would contain the project, the run cache or the logs",
                        raw.name
                    ),
                    Some(format!(
                        "name a file or folder of its own, e.g. artifacts/{pipeline}/{}/…",
                        raw.name
                    )),
                );
                continue;
            }
            let inside_vcs = p.abs.strip_prefix(root).is_ok_and(|r| {
                r.components()
                    .any(|c| VCS_DIRS.iter().any(|d| c.as_os_str() == *d))
            });
            let hit = self
                .guarded
                .iter()
                .find(|(g, _)| g.starts_with(&p.abs))
                .map(|(_, what)| format!("is or contains {what}"))
                .or_else(|| {
                    inside_vcs.then(|| String::from("lies inside a version-control folder"))
                });
            if let Some(what) = hit {
                self.error(
                    pos,
                    format!("stage `{}`: out `{spec}` {what}", raw.name),
                    Some(format!(
                        "birds deletes a stage's outs before it runs; name a file or folder of its own, e.g. artifacts/{pipeline}/{}/…",
                        raw.name
                    )),
                );
                continue;
            }
            if outs.iter().any(|o: &ProjectPath| o.abs == p.abs) {
                self.error(
                    pos,
                    format!("stage `{}`: out `{spec}` listed twice", raw.name),
                    None,
                );
                continue;
            }
            outs.push(p);
        }
        outs
    }

    /// Builds the DAG; reports overlapping outs, self-deps, cycles and deps that nothing makes and do not exist.
    fn graph(&mut self, p: &mut Pipeline<'_>) {
        self.report_overlaps(p);
        if !self.diags.is_empty() {
            return;
        }
        self.link_deps(p);
        if !self.diags.is_empty() {
            return;
        }
        let dag = graph::Dag::from_edges(p.stages.len(), p.edges.keys().copied());
        let order = dag.file_order();
        (p.upstream, p.downstream) = dag.into_parts();
        match order {
            Ok(order) => p.order = order,
            Err(cycle) => self.error(
                self.pos(cycle.first(), &[]),
                cycle.message(&p.stages),
                Some(cycle.help(&p.stages, &p.edges)),
            ),
        }
    }

    /// Where out `k` of stage `s` is written, else its `outs:`, else the stage.
    fn out_pos(&self, s: usize, k: usize) -> Option<(usize, usize)> {
        self.index
            .get(&self.path(s, &[Seg::from("outs"), Seg::Index(k)]))
            .or_else(|| self.pos(s, &[Seg::from("outs")]))
            .or_else(|| self.pos(s, &[]))
    }

    /// Reports every pair of outs of different stages where one is, or lies inside, the other.
    fn report_overlaps(&mut self, p: &Pipeline<'_>) {
        for overlap in graph::overlapping_outs(&p.stages) {
            let Some((oa, ob)) = overlap.paths(&p.stages) else {
                continue;
            };
            let ((a, b), (ka, _)) = (overlap.stages, overlap.outs);
            let (sa, sb) = (&p.stages[a].name, &p.stages[b].name);
            let what = if oa.abs == ob.abs {
                "the same out"
            } else {
                "overlapping outs"
            };
            let line_b = self
                .out_pos(b, 0)
                .map_or_else(|| String::from("?"), |l| l.0.to_string());
            self.error(
                self.out_pos(a, ka),
                format!(
                    "duplicate outs: stages `{sa}` and `{sb}` (line {line_b}) have {what}: `{}` and `{}`",
                    oa.rel, ob.rel
                ),
                Some(String::from(
                    "each file or folder must be written by one stage; rename one of the outs",
                )),
            );
        }
    }

    /// Adds an edge from each stage a dep reads from (the first such dep names it); reports a stage reading its
    /// own out, and deps that no stage makes and that do not exist.
    fn link_deps(&mut self, p: &mut Pipeline<'_>) {
        let outs = graph::OutIndex::new(&p.stages);
        for (s, stage) in p.stages.iter().enumerate() {
            for (k, dep) in stage.deps.iter().enumerate() {
                let producers = outs.producers(dep);
                if producers.contains(&s) {
                    self.error(
                        self.dep_pos(s, k, dep),
                        format!(
                            "cycle: stage `{}` depends on its own out (dep `{}`)",
                            stage.name, dep.spec
                        ),
                        Some(String::from(
                            "a stage cannot read what it writes; write to a new path",
                        )),
                    );
                    continue;
                }
                if producers.is_empty() {
                    self.missing_dep(s, k, stage, dep, &p.root);
                }
                for t in producers {
                    p.edges.entry((t, s)).or_insert_with(|| dep.spec.clone());
                }
            }
        }
    }

    /// Where dep `k` of stage `s` is written (its input name for a built-in stage).
    fn dep_pos(&self, s: usize, k: usize, dep: &Dep) -> Option<(usize, usize)> {
        let at = match &dep.input {
            Some(input) => self.path(s, &[Seg::from("deps"), Seg::Key(input.clone())]),
            None => self.path(s, &[Seg::from("deps"), Seg::Index(k)]),
        };
        self.index.nearest(&at)
    }

    /// Reports each path of dep `k` of stage `s` (which no stage makes) that does not exist.
    fn missing_dep(&mut self, s: usize, k: usize, stage: &StageDef<'_>, dep: &Dep, root: &Path) {
        for dp in &dep.paths {
            if !dp.abs.exists() {
                self.error(
                    self.dep_pos(s, k, dep),
                    format!(
                        "stage `{}`: dep `{}` does not exist and no stage produces it",
                        stage.name, dep.spec
                    ),
                    Some(format!(
                        "create {} (paths are relative to {}), fix the path, or add a stage with it in `outs:`",
                        dp.abs.display(),
                        root.display()
                    )),
                );
            }
        }
    }
}

fn project_path(root: &Path, spec: &str) -> ProjectPath {
    let written = normalize(Path::new(spec.trim()));
    let abs = normalize(&root.join(&written));
    ProjectPath {
        rel: display_path(&written),
        abs,
    }
}

fn dep_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn builtin_names(registry: &[&dyn Stage]) -> String {
    if registry.is_empty() {
        return String::from("(none registered)");
    }
    registry
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_name(name: &str) -> std::result::Result<(), (String, String)> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if name.is_empty() || !ok_chars || name.starts_with('-') {
        return Err((
            String::from("bad stage name"),
            String::from("use letters, digits, `_` and `-` (it names a folder and a log file)"),
        ));
    }
    if name == "logs" {
        return Err((
            String::from("the name `logs` is taken by the logs folder"),
            String::from("pick another name"),
        ));
    }
    Ok(())
}

fn lookup<'v>(params: &'v serde_json::Value, key: &[String]) -> Option<&'v serde_json::Value> {
    key.iter().try_fold(params, |v, k| v.get(k))
}

fn assign(
    params: &mut serde_json::Value,
    key: &[String],
    value: serde_json::Value,
) -> std::result::Result<(), String> {
    let Some((last, parents)) = key.split_last() else {
        return Err(String::from("empty key"));
    };
    let mut cur = params;
    for (depth, k) in parents.iter().enumerate() {
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("`{}` is not a mapping", key[..depth].join(".")))?;
        cur = obj
            .entry(k.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    let obj = cur
        .as_object_mut()
        .ok_or_else(|| format!("`{}` is not a mapping", parents.join(".")))?;
    obj.insert(last.clone(), value);
    Ok(())
}

fn param_keys(params: &serde_json::Value) -> Vec<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        if let Some(obj) = v.as_object() {
            for (k, child) in obj {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if child.is_object() {
                    walk(&key, child, out);
                } else {
                    out.push(key);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk("", params, &mut out);
    out
}

/// Substitutes `${params.KEY}` (nested keys with dots) and `${birds.stage|pipeline|artifacts|root}` in a command.
/// Any other `${…}` is left for the shell. Strings go in as they are, other values as compact JSON.
pub fn interpolate(
    cmd: &str,
    params: &serde_json::Value,
    stage: &str,
    pipeline: &str,
    root: &Path,
) -> std::result::Result<String, (String, String)> {
    let mut out = String::with_capacity(cmd.len());
    let mut rest = cmd;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = after[..end].trim();
        let replacement = if let Some(key) = inner.strip_prefix("params.") {
            let path: Vec<String> = key.split('.').map(str::to_string).collect();
            match lookup(params, &path) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(v) => Some(v.to_string()),
                None => {
                    let keys = param_keys(params);
                    return Err((
                        format!("`${{{inner}}}` in `cmd:` names no param"),
                        if keys.is_empty() {
                            String::from("declare it under `params:`")
                        } else {
                            format!("params: {}", keys.join(", "))
                        },
                    ));
                }
            }
        } else if let Some(var) = inner.strip_prefix("birds.") {
            Some(match var {
                "stage" => stage.to_string(),
                "pipeline" => pipeline.to_string(),
                "artifacts" => format!("artifacts/{pipeline}"),
                "root" => root.display().to_string(),
                _ => {
                    return Err((
                        format!("`${{{inner}}}` in `cmd:` is not a birds variable"),
                        String::from(
                            "birds variables: ${birds.stage}, ${birds.pipeline}, ${birds.artifacts}, ${birds.root}",
                        ),
                    ));
                }
            })
        } else {
            None
        };
        match replacement {
            Some(r) => out.push_str(&r),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn interpolation() {
        let params = json!({"lr": 0.5, "name": "a b", "opt": {"m": 2}});
        let root = Path::new("/proj");
        let got = interpolate(
            "train --lr ${params.lr} --n '${params.name}' ${params.opt.m} ${HOME} ${birds.stage} ${birds.artifacts}",
            &params,
            "st",
            "default",
            root,
        );
        assert_eq!(
            got,
            Ok(String::from(
                "train --lr 0.5 --n 'a b' 2 ${HOME} st artifacts/default"
            ))
        );
        assert!(interpolate("x ${params.nope}", &params, "s", "p", root).is_err());
        assert!(interpolate("x ${birds.nope}", &params, "s", "p", root).is_err());
        assert_eq!(
            interpolate("x ${unclosed", &params, "s", "p", root),
            Ok(String::from("x ${unclosed"))
        );
    }

    #[test]
    fn assign_nested() {
        let mut p = json!({"a": {"b": 1}, "c": 2});
        assert!(assign(&mut p, &["a".into(), "b".into()], json!(5)).is_ok());
        assert!(assign(&mut p, &["c".into(), "d".into()], json!(5)).is_err());
        assert_eq!(p, json!({"a": {"b": 5}, "c": 2}));
        assert_eq!(param_keys(&p), vec!["a.b", "c"]);
    }

    #[test]
    fn names() {
        assert!(check_name("train-2_b").is_ok());
        for bad in ["", "a b", "a/b", "a.b", "-x", "logs"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
