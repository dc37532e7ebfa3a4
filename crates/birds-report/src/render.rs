//! The page: one HTML document with inline CSS, SVG, images and a few lines of JavaScript (the sortable table).
//!
//! Sections, in order, each an element with a fixed `id`: `run` (parameters and versions), `ingest` (audit
//! highlights), `training` (curves), `comparison` (objective 1), `summary` (metrics), `per-class` (sortable table),
//! `confusion` (heatmap), `most-confused` (pairs with thumbnails), `needs-more-training`, `gradcam` (gallery and
//! "why X, not Y"). A section whose input is missing says "Not run" and names the input.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::html::{duration, escape, flatten_json, num, pct, sort_key};
use crate::images::thumbnail;
use crate::load::{CamRow, Evaluation, Explanation, Loaded, Prediction, Run};
use crate::params::ReportParams;
use crate::svg::{PALETTE, Series, heatmap, line_chart};

/// The sections of the page: (id, heading).
pub const SECTIONS: [(&str, &str); 10] = [
    ("run", "Run parameters and versions"),
    ("ingest", "Dataset audit"),
    ("training", "Training curves"),
    ("comparison", "Pretrained vs from scratch"),
    ("summary", "Summary metrics"),
    ("per-class", "Per-class metrics"),
    ("confusion", "Confusion heatmap"),
    ("most-confused", "Most-confused pairs"),
    ("needs-more-training", "Needs more training"),
    ("gradcam", "Grad-CAM: what the model looked at"),
];

/// Figures about what the page holds (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageStats {
    /// Sections that had their input.
    pub sections_with_data: usize,
    /// Sections that say "Not run".
    pub sections_not_run: usize,
    /// Inlined images.
    pub images: usize,
    /// Images that could not be read (shown as a note).
    pub missing_images: usize,
}

struct Ctx<'a> {
    params: &'a ReportParams,
    stats: PageStats,
}

impl Ctx<'_> {
    /// A thumbnail `<figure>`; an unreadable image becomes a visible note instead of an error.
    fn figure(&mut self, path: &Path, max_side: u32, caption: &str, class: &str) -> String {
        match thumbnail(path, max_side) {
            Ok(uri) => {
                self.stats.images += 1;
                format!(
                    r#"<figure class="{class}"><img src="{uri}" alt="{alt}"><figcaption>{caption}</figcaption></figure>"#,
                    alt = escape(&path.display().to_string())
                )
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "report: image not inlined");
                self.stats.missing_images += 1;
                format!(
                    r#"<figure class="{class} missing"><div class="noimg">image unavailable<br><small>{}</small></div><figcaption>{caption}</figcaption></figure>"#,
                    escape(&e.to_string())
                )
            }
        }
    }

    fn not_run(&mut self, what: &str) -> String {
        self.stats.sections_not_run += 1;
        format!(r#"<p class="not-run">Not run: {what}</p>"#)
    }
}

const CSS: &str = r#"
:root{--fg:#1d2327;--muted:#5f6b73;--line:#dde3e8;--bg:#f4f6f8;--card:#fff;--accent:#0b6e99;--good:#0a7d45;--bad:#c0392b}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#14323f;color:#fff;padding:22px 32px 18px}
header h1{margin:0 0 4px;font-size:26px}
header p{margin:0;color:#c8d8e0}
nav{position:sticky;top:0;z-index:2;background:#1c4253;padding:6px 32px;display:flex;flex-wrap:wrap;gap:4px 14px}
nav a{color:#e6f1f6;text-decoration:none;font-size:13px}
nav a:hover{text-decoration:underline}
main{max-width:1240px;margin:0 auto;padding:18px 24px 48px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:16px 0}
h2{margin:0 0 10px;font-size:19px;color:#14323f}
h3{margin:16px 0 8px;font-size:15px}
.lead{color:var(--muted);margin:0 0 12px}
.not-run{background:#fff7e0;border:1px solid #f0d58a;border-radius:6px;padding:10px 12px;margin:4px 0}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0 12px}
.tile{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:128px;background:#fafcfd}
.tile b{display:block;font-size:22px;color:#14323f}
.tile span{color:var(--muted);font-size:12px}
.tile.warn b{color:var(--bad)}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 9px;text-align:left;vertical-align:top}
th{background:#eef3f6;font-weight:600;vertical-align:bottom}
.wide{overflow-x:auto;max-width:100%}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#e7f6ee;font-weight:600}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th::after{content:" \2195";color:#9aa7b0;font-size:11px}
table.sortable th[aria-sort=ascending]::after{content:" \25B2";color:var(--accent)}
table.sortable th[aria-sort=descending]::after{content:" \25BC";color:var(--accent)}
.filter input{font:inherit;padding:3px 8px;border:1px solid var(--line);border-radius:4px;min-width:240px}
#per-class-count{color:var(--muted);font-size:12px}
.scroll{max-height:560px;overflow:auto;border:1px solid var(--line);border-radius:6px}
.scroll table{margin:0}
.scroll th{position:sticky;top:0}
.kv td:first-child{color:var(--muted);font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.params{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:8px 16px}
details{border:1px solid var(--line);border-radius:6px;padding:6px 10px;background:#fbfcfd}
summary{cursor:pointer;font-weight:600}
ul.findings{margin:6px 0;padding-left:20px}
ul.findings li{margin:2px 0;white-space:pre-wrap}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.charts svg{max-width:100%;height:auto}
svg text{font-family:system-ui,"DejaVu Sans",sans-serif}
svg .ctitle{font-size:13px;font-weight:600;fill:#14323f}
svg .tick{font-size:11px;fill:#5f6b73}
svg .hl{font-size:11px;fill:#1d2327}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:4px 0;font-size:13px}
.swatch{display:inline-block;width:22px;height:0;border-top:3px solid;vertical-align:middle;margin-right:6px}
.swatch.dash{border-top-style:dashed}
.verdict{font-size:15px;background:#eef7fb;border-left:4px solid var(--accent);padding:8px 12px;margin:8px 0}
.pair{border-top:1px solid var(--line);padding:10px 0}
.pair h3{margin:0 0 6px}
.thumbs{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0;text-align:center;font-size:12px;color:var(--muted)}
figure img{display:block;border-radius:4px;border:1px solid var(--line);margin:0 auto 3px;max-width:100%;height:auto}
figure.wrong img{border:3px solid var(--bad)}
figure.ref img{border:3px solid var(--good)}
figure.missing .noimg{width:110px;height:90px;border:1px dashed #bbb;border-radius:4px;display:flex;flex-direction:column;align-items:center;justify-content:center;word-break:break-all;padding:4px}
.sep{align-self:center;color:var(--muted);font-size:12px;padding:0 6px}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:14px}
.whynot{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px;background:#fcfdfe}
.card .pairimgs{display:flex;gap:8px;justify-content:center}
.card .pairimgs figure{flex:1 1 0;min-width:0}
.card p{margin:6px 0 0;font-size:12px;color:var(--muted);word-break:break-word}
.bad{color:var(--bad)} .good{color:var(--good)}
footer{color:var(--muted);font-size:12px;text-align:center;padding:12px}
"#;

const JS: &str = r#"
document.querySelectorAll('table.sortable').forEach(function(t){
  var heads=t.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads,function(th,i){
    th.tabIndex=0;
    var go=function(){
      var asc=th.getAttribute('aria-sort')!=='ascending';
      Array.prototype.forEach.call(heads,function(h){h.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      var num=th.getAttribute('data-type')==='num', body=t.tBodies[0];
      var rows=Array.prototype.slice.call(body.rows);
      var key=function(r){var c=r.cells[i];return num?c.getAttribute('data-v'):c.textContent;};
      rows.sort(function(a,b){
        var x=key(a),y=key(b);
        if(num){
          var ex=(x===''||x===null),ey=(y===''||y===null);
          if(ex||ey){return ex===ey?0:(ex?1:-1);}
          var d=parseFloat(x)-parseFloat(y);return asc?d:-d;
        }
        var s=x.localeCompare(y);return asc?s:-s;
      });
      rows.forEach(function(r){body.appendChild(r);});
    };
    th.addEventListener('click',go);
    th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();go();}});
  });
});
document.querySelectorAll('input[data-table]').forEach(function(box){
  var t=document.getElementById(box.getAttribute('data-table'));
  var count=document.getElementById(box.id.replace(/-filter$/,'-count'));
  if(!t){return;}
  var fold=function(x){return x.normalize('NFD').replace(/[\u0300-\u036f]/g,'').toLowerCase();};
  var rows=Array.prototype.slice.call(t.tBodies[0].rows);
  var text=rows.map(function(r){return fold(r.cells[1].textContent+' '+r.cells[r.cells.length-1].textContent);});
  var apply=function(){
    var q=fold(box.value.trim()), shown=0;
    rows.forEach(function(r,i){var on=q===''||text[i].indexOf(q)>=0;r.hidden=!on;if(on){shown++;}});
    if(count){count.textContent=q===''?rows.length+' classes':shown+' of '+rows.length+' classes';}
  };
  box.addEventListener('input',apply);
  var m=/(?:^#|&)filter=([^&]*)/.exec(location.hash);
  if(m){try{box.value=decodeURIComponent(m[1].replace(/\+/g,' '));}catch(e){box.value=m[1];}}
  apply();
});
document.documentElement.setAttribute('data-report-ready','1');
"#;

/// Renders the page.
pub fn render(data: &Loaded, params: &ReportParams) -> (String, PageStats) {
    let mut cx = Ctx {
        params,
        stats: PageStats::default(),
    };
    let bodies = [
        section_run(&mut cx, data),
        section_ingest(&mut cx, data),
        section_training(&mut cx, data),
        section_comparison(&mut cx, data),
        section_summary(&mut cx, data),
        section_per_class(&mut cx, data),
        section_confusion(&mut cx, data),
        section_most_confused(&mut cx, data),
        section_needs(&mut cx, data),
        section_gradcam(&mut cx, data),
    ];
    cx.stats.sections_with_data = SECTIONS.len() - cx.stats.sections_not_run;

    let mut page = String::with_capacity(1 << 20);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&params.title)
    );
    let _ = write!(
        page,
        "<header><h1>{}</h1><p>{}</p></header>\n<nav>",
        escape(&params.title),
        headline(data)
    );
    for (id, title) in SECTIONS {
        let _ = write!(page, r##"<a href="#{id}">{}</a>"##, escape(title));
    }
    page.push_str("</nav>\n<main>\n");
    for ((id, title), body) in SECTIONS.iter().zip(bodies) {
        let _ = write!(
            page,
            "<section id=\"{id}\">\n<h2>{}</h2>\n{body}\n</section>\n",
            escape(title)
        );
    }
    let _ = write!(
        page,
        "</main>\n<footer>birds {} · one self-contained file: no network, open it from disk or mail it.</footer>\n<script>{JS}</script>\n</body>\n</html>\n",
        escape(env!("CARGO_PKG_VERSION"))
    );
    (page, cx.stats)
}

fn headline(data: &Loaded) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &data.ingest {
        parts.push(format!(
            "{} images of {} classes",
            r.totals.ok, r.totals.classes
        ));
    }
    if !data.runs.is_empty() {
        parts.push(format!("{} training runs", data.runs.len()));
    }
    if let Some(e) = &data.evaluation {
        parts.push(format!(
            "{} {}: top-1 {} on {} {} images",
            escape(&e.summary.mode),
            escape(&e.summary.model),
            pct(e.summary.overall.accuracy),
            e.summary.overall.images,
            escape(&splits_label(e))
        ));
    }
    if parts.is_empty() {
        "a birds pipeline run".into()
    } else {
        parts.join(" · ")
    }
}

fn splits_label(e: &Evaluation) -> String {
    e.summary
        .splits
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

fn tile(value: &str, label: &str, warn: bool) -> String {
    format!(
        r#"<div class="tile{}"><b>{value}</b><span>{}</span></div>"#,
        if warn { " warn" } else { "" },
        escape(label)
    )
}

fn kv_table(rows: &[(String, String)]) -> String {
    let mut s = String::from(r#"<table class="kv"><tbody>"#);
    for (k, v) in rows {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(v));
    }
    s.push_str("</tbody></table>");
    s
}

fn section_run(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    let mut s = String::new();
    // The libtorch that trained the model, as its checkpoint recorded it: the report itself links no libtorch.
    let runtime = data.runs.iter().find_map(|r| r.runtime.as_ref());
    let recorded = |v: Option<&String>| v.cloned().unwrap_or_else(|| "not recorded".to_string());
    let mut versions = vec![
        ("birds".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        (
            "libtorch".to_string(),
            recorded(runtime.map(|r| &r.libtorch)),
        ),
        ("tch".to_string(), recorded(runtime.map(|r| &r.tch))),
    ];
    if let Some(run) = data.runs.first() {
        versions.push((
            "training device".into(),
            format!("{} ({} threads)", run.summary.device, run.summary.threads),
        ));
    }
    if let Some(e) = &data.evaluation {
        versions.push((
            "evaluated checkpoint".into(),
            format!("{} ({})", e.summary.checkpoint, e.summary.model),
        ));
    }
    s.push_str(r#"<div class="params"><div><h3>Versions</h3>"#);
    s.push_str(&kv_table(&versions));
    s.push_str("</div><div><h3>Inputs</h3>");
    let inputs: Vec<(String, String)> = data
        .inputs
        .iter()
        .map(|(k, v)| (k.clone(), v.display().to_string()))
        .collect();
    s.push_str(&kv_table(&inputs));
    s.push_str("</div></div><h3>Parameters of each stage</h3><div class=\"params\">");
    for p in &data.params {
        let flat = flatten_json(&p.params);
        let _ = write!(
            s,
            "<details><summary>{} <small>({}, {} params)</small></summary>{}</details>",
            escape(&p.stage),
            escape(&p.source),
            flat.len(),
            kv_table(&flat)
        );
    }
    s.push_str("</div>");
    if data.params.is_empty() {
        s.push_str(&cx.not_run(
            "no stage recorded params (give synth, ingest, preprocess, run or evaluate inputs).",
        ));
    }
    s
}

fn section_ingest(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    let Some(r) = &data.ingest else {
        return cx
            .not_run("the report has no <code>ingest</code> input, so there is no dataset audit.");
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<p class="lead">{} layout at <code>{}</code>.</p><div class="tiles">{}{}{}{}{}{}</div>"#,
        escape(r.layout.as_str()),
        escape(&r.root),
        tile(&r.totals.files.to_string(), "files indexed", false),
        tile(&r.totals.ok.to_string(), "decodable images", false),
        tile(
            &r.totals.errors.to_string(),
            "undecodable",
            r.totals.errors > 0
        ),
        tile(&r.totals.classes.to_string(), "classes", false),
        tile(
            &r.leakage.len().to_string(),
            "cross-split duplicate groups",
            !r.leakage.is_empty()
        ),
        tile(
            &r.anomalies.len().to_string(),
            "findings",
            !r.anomalies.is_empty()
        ),
    );
    s.push_str(
        r#"<table><thead><tr><th>split</th><th class="n">files</th><th class="n">decodable</th><th class="n">errors</th><th class="n">per class min</th><th class="n">median</th><th class="n">max</th><th class="n">max/min</th></tr></thead><tbody>"#,
    );
    for sp in &r.splits {
        let imb = r.imbalance.iter().find(|i| i.split == sp.split);
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            sp.split.as_str(),
            sp.files,
            sp.ok,
            sp.errors,
            imb.map(|i| i.min.to_string()).unwrap_or_default(),
            imb.map(|i| num(i.median, 1)).unwrap_or_default(),
            imb.map(|i| i.max.to_string()).unwrap_or_default(),
            imb.and_then(|i| i.ratio)
                .map(|x| num(x, 2))
                .unwrap_or_else(|| "–".into()),
        );
    }
    s.push_str("</tbody></table>");
    let sz = &r.image_sizes;
    let common = sz
        .most_common
        .first()
        .map(|c| {
            format!(
                "; most common {}×{} ({} images)",
                c.width, c.height, c.count
            )
        })
        .unwrap_or_default();
    let _ = write!(
        s,
        "<p>Image sizes: width {}–{}, height {}–{} px, {} distinct{}.</p>",
        sz.min_width, sz.max_width, sz.min_height, sz.max_height, sz.distinct, common
    );
    let _ = write!(
        s,
        "<p>Duplicate groups: {} byte-identical, {} near-duplicate · label spellings merged: {} · skipped entries: {}{}</p>",
        r.duplicate_groups
            .iter()
            .filter(|g| g.kind == birds_ingest::report::DuplicateKind::Exact)
            .count(),
        r.duplicate_groups
            .iter()
            .filter(|g| g.kind == birds_ingest::report::DuplicateKind::Near)
            .count(),
        r.label_merges.len(),
        r.skipped.len(),
        r.csv
            .as_ref()
            .map(|c| format!(
                " · CSV <code>{}</code>: {} rows, {} matched",
                escape(&c.file),
                c.rows,
                c.matched
            ))
            .unwrap_or_default()
    );
    if r.anomalies.is_empty() {
        s.push_str(r#"<p class="good">No findings: the audit found nothing worth a look.</p>"#);
    } else {
        s.push_str(r#"<h3>Findings</h3><ul class="findings">"#);
        for a in r.anomalies.iter().take(cx.params.anomalies) {
            let _ = write!(s, "<li>{}</li>", escape(a));
        }
        s.push_str("</ul>");
        if r.anomalies.len() > cx.params.anomalies {
            let _ = write!(
                s,
                "<p>… and {} more in the ingest stage's <code>report.md</code>.</p>",
                r.anomalies.len() - cx.params.anomalies
            );
        }
    }
    s
}

fn run_label(run: &Run) -> String {
    format!("{} ({})", run.name, run.summary.mode)
}

fn section_training(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    if data.runs.is_empty() {
        return cx.not_run(
            "the report has no training run inputs (<code>run1</code> … <code>run8</code>).",
        );
    }
    let mut acc = Vec::new();
    let mut loss = Vec::new();
    for (i, run) in data.runs.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        for (split, dashed) in [("train", true), ("valid", false)] {
            let rows = run.history.iter().filter(|r| r.split == split);
            let name = format!("{} — {split}", run_label(run));
            acc.push(Series {
                name: name.clone(),
                colour,
                dashed,
                points: rows
                    .clone()
                    .map(|r| (f64::from(r.epoch), r.accuracy))
                    .collect(),
            });
            loss.push(Series {
                name,
                colour,
                dashed,
                points: rows.map(|r| (f64::from(r.epoch), r.loss)).collect(),
            });
        }
    }
    let mut s = String::from(r#"<div class="legend">"#);
    for (i, run) in data.runs.iter().enumerate() {
        let _ = write!(
            s,
            r#"<span><i class="swatch" style="border-color:{}"></i>{}</span>"#,
            PALETTE[i % PALETTE.len()],
            escape(&run_label(run))
        );
    }
    s.push_str(r#"<span><i class="swatch dash" style="border-color:#555"></i>train (augmented, dropout on)</span><span><i class="swatch" style="border-color:#555"></i>valid</span></div><div class="charts">"#);
    s.push_str(&line_chart(
        "Accuracy",
        "top-1 accuracy",
        &acc,
        Some((0.0, 1.0)),
        560,
        300,
    ));
    s.push_str(&line_chart("Loss", "cross-entropy", &loss, None, 560, 300));
    s.push_str("</div>");
    let warm: Vec<String> = data
        .runs
        .iter()
        .filter(|r| r.history.iter().any(|h| h.phase == "head-warmup"))
        .map(|r| {
            let n = r
                .history
                .iter()
                .filter(|h| h.phase == "head-warmup" && h.split == "train")
                .count();
            format!(
                "{} ({n} epoch{})",
                escape(&r.name),
                if n == 1 { "" } else { "s" }
            )
        })
        .collect();
    if !warm.is_empty() {
        let _ = write!(
            s,
            r#"<p class="lead">Head warm-up with the backbone frozen, before unfreezing: {}.</p>"#,
            warm.join(", ")
        );
    }
    s
}

fn section_comparison(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    if data.runs.is_empty() {
        return cx
            .not_run("the report has no training run inputs, so there is nothing to compare.");
    }
    let best = data
        .runs
        .iter()
        .enumerate()
        .max_by(|a, b| score(a.1).total_cmp(&score(b.1)))
        .map(|(i, _)| i);
    let mut s = String::from(
        r#"<div class="wide"><table class="sortable"><thead><tr><th>run</th><th>mode</th><th>model</th><th class="n" data-type="num">epochs</th><th>stopped</th><th class="n" data-type="num">wall time</th><th class="n" data-type="num">train img/s</th><th class="n" data-type="num">trainable params</th><th class="n" data-type="num">best epoch</th><th class="n" data-type="num">best val acc</th><th class="n" data-type="num">val loss</th><th class="n" data-type="num">test acc</th></tr></thead><tbody>"#,
    );
    for (i, run) in data.runs.iter().enumerate() {
        let m = &run.summary;
        let stopped = m.stopped.as_str();
        let _ = write!(
            s,
            r#"<tr{}><td>{}</td><td>{}</td><td>{}</td><td class="n" data-v="{}">{}</td><td>{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td></tr>"#,
            if Some(i) == best {
                r#" class="best""#
            } else {
                ""
            },
            escape(&run.name),
            escape(&m.mode),
            escape(&m.model),
            m.epochs,
            m.epochs,
            escape(stopped),
            sort_key(Some(m.wall_time_s)),
            duration(m.wall_time_s),
            sort_key(Some(m.train_images_per_s)),
            num(m.train_images_per_s, 1),
            m.trainable_params,
            m.trainable_params,
            m.best_epoch,
            m.best_epoch,
            sort_key(Some(m.best_val_accuracy)),
            pct(m.best_val_accuracy),
            sort_key(Some(m.best_val_loss)),
            num(m.best_val_loss, 3),
            sort_key(m.test_accuracy),
            m.test_accuracy.map(pct).unwrap_or_else(|| "–".into()),
        );
    }
    s.push_str("</tbody></table></div>");
    let pretrained = data
        .runs
        .iter()
        .filter(|r| r.summary.mode != "scratch")
        .max_by(|a, b| score(a).total_cmp(&score(b)));
    let scratch = data
        .runs
        .iter()
        .filter(|r| r.summary.mode == "scratch")
        .max_by(|a, b| score(a).total_cmp(&score(b)));
    let which = |r: &Run| {
        if r.summary.test_accuracy.is_some() {
            "test"
        } else {
            "validation"
        }
    };
    match (pretrained, scratch) {
        (Some(p), Some(z)) => {
            let _ = write!(
                s,
                r#"<p class="verdict">Pretrained <b>{}</b> ({}) reaches <b>{}</b> {} accuracy in {}; the same data from scratch (<b>{}</b>, {}) reaches <b>{}</b> in {}: {} points {} for pretrained features.</p>"#,
                escape(&p.summary.mode),
                escape(&p.summary.model),
                pct(score(p)),
                which(p),
                duration(p.summary.wall_time_s),
                escape(&z.summary.mode),
                escape(&z.summary.model),
                pct(score(z)),
                duration(z.summary.wall_time_s),
                num(((score(p) - score(z)) * 100.0).abs(), 1),
                if score(p) >= score(z) {
                    "ahead"
                } else {
                    "behind"
                },
            );
        }
        _ => {
            s.push_str(r#"<p class="lead">Add both a pretrained run (feature-extract or fine-tune) and a scratch run to see the objective-1 comparison in one sentence.</p>"#);
        }
    }
    s.push_str(&paired(data));
    for r in data
        .runs
        .iter()
        .filter(|r| r.summary.best_phase.as_deref() == Some("head-warmup"))
    {
        let _ = write!(
            s,
            r#"<p class="verdict">Fine-tuning did not improve on the head alone: the checkpoint <b>{}</b> kept is its head warm-up epoch {} (backbone still frozen), so its figures are a linear probe's; the unfrozen epochs scored lower on validation.</p>"#,
            escape(&r.name),
            r.summary.best_epoch,
        );
    }
    s.push_str(r#"<p class="lead">Accuracy is of the checkpoint selected on validation; the highlighted row is the best test (else validation) accuracy. Wall time includes feature extraction and evaluation.</p>"#);
    s
}

/// A run's headline accuracy: test, else validation.
fn score(r: &Run) -> f64 {
    r.summary
        .test_accuracy
        .unwrap_or(r.summary.best_val_accuracy)
}

/// Fine-tune vs feature-extract on the same test images, image by image: what each gets right that the other
/// misses, and McNemar's exact p-value, so that a difference of an image or two is not sold as a win.
fn paired(data: &Loaded) -> String {
    let best = |mode: &str| {
        data.runs
            .iter()
            .filter(|r| r.summary.mode == mode && r.test_predictions.is_some())
            .max_by(|a, b| score(a).total_cmp(&score(b)))
    };
    let (Some(ft), Some(fe)) = (best("fine-tune"), best("feature-extract")) else {
        return String::new();
    };
    let (Some(a), Some(b)) = (&ft.test_predictions, &fe.test_predictions) else {
        return String::new();
    };
    let Some(p) = birds_core::stats::paired_comparison(a, b) else {
        return format!(
            r#"<p class="lead">No paired comparison of <b>{}</b> and <b>{}</b>: their test predictions are not of the same images ({} and {} images, or other classes).</p>"#,
            escape(&ft.name),
            escape(&fe.name),
            a.len(),
            b.len()
        );
    };
    let diff = p.first_only as i64 - p.second_only as i64;
    let verdict = if p.first_only + p.second_only == 0 {
        "they get exactly the same images right".to_string()
    } else if p.p_value < 0.05 {
        format!(
            "{} is ahead by {} images, unlikely to be chance (p &lt; 0.05)",
            if diff > 0 {
                "fine-tune"
            } else {
                "feature-extract"
            },
            diff.abs()
        )
    } else {
        format!(
            "a difference of {} image{} that chance explains as well (p ≥ 0.05): no evidence either way",
            diff.abs(),
            if diff.abs() == 1 { "" } else { "s" }
        )
    };
    format!(
        r#"<p class="verdict" id="paired">Same {} test images, image by image: <b>{}</b> (fine-tune) gets <b>{}</b> right that <b>{}</b> (feature-extract) misses, and misses <b>{}</b> that it gets right; both right on {}. McNemar's exact test: p {}; {}.</p>"#,
        p.images,
        escape(&ft.name),
        p.first_only,
        escape(&fe.name),
        p.second_only,
        p.both,
        if p.p_value < 0.001 {
            "&lt; 0.001".to_string()
        } else {
            format!("= {}", num(p.p_value, 3))
        },
        verdict
    )
}

fn section_summary(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    let Some(e) = &data.evaluation else {
        return cx.not_run("the report has no <code>evaluate</code> input.");
    };
    let o = &e.summary.overall;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<p class="lead">Checkpoint <code>{}</code> ({} {}), {} images of {} classes from the {} split(s), test-time augmentation: {}.</p><div class="tiles">{}{}{}{}{}{}{}{}</div>"#,
        escape(&e.summary.checkpoint),
        escape(&e.summary.mode),
        escape(&e.summary.model),
        o.images,
        e.summary.classes,
        escape(&splits_label(e)),
        escape(e.summary.tta.as_str()),
        tile(&pct(o.accuracy), "top-1 accuracy", false),
        tile(&pct(o.top5_accuracy), "top-5 accuracy", false),
        tile(&num(o.macro_avg.f1, 3), "macro F1", false),
        tile(&num(o.weighted_avg.f1, 3), "weighted F1", false),
        tile(&num(o.nll, 3), "NLL (mean −ln p)", false),
        tile(&num(o.ece, 3), "ECE (15 bins)", false),
        tile(&pct(o.mean_confidence), "mean confidence", false),
        tile(
            &num(o.calibration_gap * 100.0, 1),
            "calibration gap (points)",
            o.calibration_gap > 0.05
        ),
    );
    s.push_str(r#"<table><thead><tr><th>split</th><th class="n">images</th><th class="n">top-1</th><th class="n">top-5</th><th class="n">macro P</th><th class="n">macro R</th><th class="n">macro F1</th><th class="n">NLL</th><th class="n">ECE</th></tr></thead><tbody>"#);
    let mut rows: Vec<(String, &birds_artifacts::evaluate::Summary)> = e
        .summary
        .by_split
        .iter()
        .map(|(k, v)| (k.clone(), v))
        .collect();
    rows.push(("all evaluated".into(), o));
    for (name, m) in rows {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            escape(&name),
            m.images,
            pct(m.accuracy),
            pct(m.top5_accuracy),
            num(m.macro_avg.precision, 3),
            num(m.macro_avg.recall, 3),
            num(m.macro_avg.f1, 3),
            num(m.nll, 3),
            num(m.ece, 3)
        );
    }
    s.push_str("</tbody></table>");
    s.push_str(&calibration_block(cx, e));
    s
}

/// Temperature scaling (before and after, per split, with the reliability diagram) and the out-of-distribution
/// detector's flags; "uncalibrated" when evaluate fitted no temperature.
fn calibration_block(cx: &mut Ctx<'_>, e: &crate::load::Evaluation) -> String {
    let mut s = String::new();
    match &e.summary.calibration {
        Some(c) => {
            let t = c.temperature.map_or("–".into(), |t| num(t, 3));
            let _ = write!(
                s,
                r#"<h3 id="calibration">Calibration</h3><p class="lead">Temperature scaling (Guo et al. 2017): every logit divided by <b>T = {t}</b>, fitted on {} valid images by minimising their NLL. The figures above are after scaling; accuracy does not change. A probability of 80 % should now be right about 80 % of the time.</p><table><thead><tr><th>split</th><th class="n">images</th><th class="n">NLL before</th><th class="n">NLL after</th><th class="n">ECE before</th><th class="n">ECE after</th><th class="n">mean confidence before → after</th><th class="n">accuracy</th></tr></thead><tbody>"#,
                c.fit_images
            );
            for (split, f) in &c.by_split {
                let _ = write!(
                    s,
                    r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{} → {}</td><td class="n">{}</td></tr>"#,
                    escape(split),
                    f.images,
                    num(f.nll_before, 3),
                    num(f.nll_after, 3),
                    num(f.ece_before, 3),
                    num(f.ece_after, 3),
                    pct(f.mean_confidence_before),
                    pct(f.mean_confidence_after),
                    pct(f.accuracy)
                );
            }
            s.push_str("</tbody></table>");
            let png = e.dir.join("reliability.png");
            if png.is_file() {
                let fig = cx.figure(
                    &png,
                    900,
                    "reliability diagram: accuracy per confidence bin (blue) and its gap to the bin's confidence (red), before and after scaling",
                    "wide",
                );
                s.push_str(&fig);
            }
        }
        None => s.push_str(
            r#"<h3 id="calibration">Calibration</h3><p class="lead"><b>Uncalibrated</b>: evaluate fitted no temperature, so the probabilities are the network's own softmax and need not match how often it is right.</p>"#,
        ),
    }
    if let Some(o) = &e.summary.ood {
        let _ = write!(
            s,
            r#"<h3 id="ood">Out-of-distribution warning</h3><p class="lead">Each image's pooled embedding is compared with the {} training images' class means (squared Mahalanobis distance to the nearest one, per channel; ≈ 1 for a training image). Above <b>{}</b> (the {} quantile of {} valid images' scores) an image is flagged as unlike every class, and <code>birds predict</code> warns.</p><table><thead><tr><th>split</th><th class="n">images</th><th class="n">flagged</th><th class="n">median score</th></tr></thead><tbody>"#,
            o.info.fit_images,
            num(o.info.threshold, 2),
            num(o.info.quantile, 2),
            o.info.threshold_images
        );
        for (split, f) in &o.by_split {
            let _ = write!(
                s,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{} ({})</td><td class="n">{}</td></tr>"#,
                escape(split),
                f.images,
                f.flagged,
                pct(f.flagged_share),
                num(f.median_score, 2)
            );
        }
        s.push_str("</tbody></table>");
    }
    s
}

fn section_per_class(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    let Some(e) = &data.evaluation else {
        return cx.not_run("the report has no <code>evaluate</code> input.");
    };
    let mut s = String::from(
        r#"<p class="lead">Click a column to sort; type in the box to keep the classes whose name, or the class they are most confused with, contains the text (case and accents ignored; <code>index.html#filter=crow</code> opens the page filtered). Recall's bar shows its value; "recall ≥" is the Wilson 95 % lower bound.</p><p class="filter"><label>Filter classes <input type="search" id="per-class-filter" data-table="per-class-table" placeholder="e.g. warbler" autocomplete="off" spellcheck="false"></label> <span id="per-class-count" aria-live="polite"></span></p><div class="scroll"><table class="sortable" id="per-class-table"><thead><tr><th class="n" data-type="num">id</th><th>class</th><th class="n" data-type="num">train imgs</th><th class="n" data-type="num">evaluated</th><th class="n" data-type="num">correct</th><th class="n" data-type="num">precision</th><th class="n" data-type="num">recall</th><th class="n" data-type="num">recall ≥</th><th class="n" data-type="num">F1</th><th class="n" data-type="num">top-5 recall</th><th class="n" data-type="num">mean conf</th><th>most confused with</th></tr></thead><tbody>"#,
    );
    for c in &e.per_class {
        let bar = if c.support > 0 && c.recall.is_finite() {
            let p = (c.recall * 100.0).clamp(0.0, 100.0);
            format!(
                r#" style="background:linear-gradient(90deg,#cdebd9 {p:.1}%,transparent {p:.1}%)""#
            )
        } else {
            String::new()
        };
        let confused = match &c.most_confused_with {
            Some(l) => format!("{} ({})", escape(l), c.most_confused_count),
            None => String::new(),
        };
        let _ = write!(
            s,
            r#"<tr><td class="n" data-v="{}">{}</td><td>{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}"{bar}>{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td><td>{confused}</td></tr>"#,
            c.class_id,
            c.class_id,
            escape(&c.label),
            c.train_images,
            c.train_images,
            c.support,
            c.support,
            c.correct,
            c.correct,
            sort_key(Some(c.precision)),
            num(c.precision, 3),
            sort_key((c.support > 0).then_some(c.recall)),
            if c.support > 0 {
                num(c.recall, 3)
            } else {
                "–".into()
            },
            sort_key(c.recall_lower),
            c.recall_lower
                .map(|x| num(x, 3))
                .unwrap_or_else(|| "–".into()),
            sort_key(Some(c.f1)),
            num(c.f1, 3),
            sort_key((c.support > 0).then_some(c.top5_recall)),
            if c.support > 0 {
                num(c.top5_recall, 3)
            } else {
                "–".into()
            },
            sort_key(c.mean_confidence),
            c.mean_confidence.map(pct).unwrap_or_else(|| "–".into()),
        );
    }
    s.push_str("</tbody></table></div>");
    s
}

/// The classes of the heatmap, as indices into `per_class`: all when they fit, else those of the most-confused
/// pairs (a class next to its confuser), then the lowest-recall classes.
fn heatmap_classes(e: &Evaluation, max: usize) -> Vec<usize> {
    let n = e.per_class.len();
    if n <= max {
        return (0..n).collect();
    }
    let index: BTreeMap<u32, usize> = e
        .per_class
        .iter()
        .enumerate()
        .map(|(i, c)| (c.class_id, i))
        .collect();
    let mut chosen: Vec<usize> = Vec::new();
    let add = |i: usize, chosen: &mut Vec<usize>| {
        if chosen.len() < max && !chosen.contains(&i) {
            chosen.push(i);
        }
    };
    for p in &e.most_confused {
        for id in [p.true_id, p.pred_id] {
            if let Some(&i) = index.get(&id) {
                add(i, &mut chosen);
            }
        }
    }
    let mut by_recall: Vec<usize> = (0..n).filter(|&i| e.per_class[i].support > 0).collect();
    by_recall.sort_by(|&a, &b| {
        e.per_class[a]
            .recall
            .total_cmp(&e.per_class[b].recall)
            .then(a.cmp(&b))
    });
    for i in by_recall {
        add(i, &mut chosen);
    }
    chosen
}

fn section_confusion(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    let Some(e) = &data.evaluation else {
        return cx.not_run("the report has no <code>evaluate</code> input.");
    };
    let chosen = heatmap_classes(e, cx.params.heatmap_classes);
    let pos: BTreeMap<u32, usize> = chosen
        .iter()
        .enumerate()
        .map(|(k, &i)| (e.per_class[i].class_id, k))
        .collect();
    let n = chosen.len();
    let mut counts = vec![vec![0u32; n]; n];
    let mut totals = vec![0u32; n];
    for cell in &e.confusion {
        if let Some(&r) = pos.get(&cell.true_id) {
            totals[r] += cell.count;
            if let Some(&c) = pos.get(&cell.pred_id) {
                counts[r][c] += cell.count;
            }
        }
    }
    let labels: Vec<String> = chosen
        .iter()
        .map(|&i| e.per_class[i].label.clone())
        .collect();
    let mut s = String::new();
    let scope = if n < e.per_class.len() {
        format!(
            "the {n} most-confused of {} classes (pairs side by side)",
            e.per_class.len()
        )
    } else {
        format!("all {n} classes")
    };
    let _ = write!(
        s,
        r#"<p class="lead">Rows: true class; columns: predicted class; {}. A cell's shade is its share of the row (green: correct, red: an error; any error is visibly red); each row ends with correct/evaluated. Hover a cell for the pair.</p><div class="scroll" style="max-height:none">{}</div>"#,
        escape(&scope),
        heatmap(&labels, &counts, &totals)
    );
    s
}

fn section_most_confused(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    let Some(e) = &data.evaluation else {
        return cx.not_run("the report has no <code>evaluate</code> input.");
    };
    if e.most_confused.is_empty() {
        return r#"<p class="good">No confusions: every evaluated image was classified correctly.</p>"#.into();
    }
    let px = cx.params.thumbnail_px;
    let mut s = format!(
        r#"<p class="lead">The {} pairs with the most errors. Red frames: images of the true class that the model called the other one (highest loss first); green frames: confidently correct examples of each class, for comparison.</p>"#,
        cx.params.confused_pairs.min(e.most_confused.len())
    );
    let label_of: BTreeMap<u32, &str> = e
        .per_class
        .iter()
        .map(|c| (c.class_id, c.label.as_str()))
        .collect();
    for pair in e.most_confused.iter().take(cx.params.confused_pairs) {
        let _ = write!(
            s,
            r#"<div class="pair"><h3>{} <span class="bad">→ predicted as</span> {}: {} image{} ({} of the class)</h3><div class="thumbs">"#,
            escape(&pair.true_label),
            escape(&pair.pred_label),
            pair.count,
            if pair.count == 1 { "" } else { "s" },
            pct(pair.share)
        );
        let mut wrong: Vec<&Prediction> = e
            .predictions
            .iter()
            .filter(|p| p.true_id == pair.true_id && p.pred_id == pair.pred_id)
            .collect();
        wrong.sort_by(|a, b| b.loss.total_cmp(&a.loss));
        for p in wrong.iter().take(cx.params.thumbnails_per_pair) {
            let caption = format!(
                "{} · {} {}",
                escape(&p.split),
                escape(label_of.get(&p.pred_id).copied().unwrap_or("?")),
                pct(p.confidence)
            );
            let fig = cx.figure(&Path::new(&p.root).join(&p.path), px, &caption, "wrong");
            s.push_str(&fig);
        }
        for (id, label) in [
            (pair.true_id, &pair.true_label),
            (pair.pred_id, &pair.pred_label),
        ] {
            let reference = e
                .predictions
                .iter()
                .filter(|p| p.true_id == id && p.pred_id == id)
                .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
            if let Some(p) = reference {
                s.push_str(r#"<span class="sep">vs</span>"#);
                let caption = format!("a {} ({})", escape(label), pct(p.confidence));
                let fig = cx.figure(&Path::new(&p.root).join(&p.path), px, &caption, "ref");
                s.push_str(&fig);
            }
        }
        s.push_str("</div></div>");
    }
    s
}

fn section_needs(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    let Some(e) = &data.evaluation else {
        return cx.not_run("the report has no <code>evaluate</code> input.");
    };
    let mut s = String::from(
        r#"<p class="lead">Classes ranked by the Wilson 95 % lower bound of their recall (how low it could plausibly be), lowest first, with the next step in words.</p><table><thead><tr><th class="n">rank</th><th>class</th><th class="n">correct</th><th class="n">recall</th><th class="n">recall ≥</th><th class="n">train imgs</th><th>main confuser</th><th>next step</th></tr></thead><tbody>"#,
    );
    for n in e.needs.iter().take(cx.params.needs_more_training) {
        let _ = write!(
            s,
            r#"<tr><td class="n">{}</td><td>{}</td><td class="n">{}/{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td>{}</td></tr>"#,
            n.rank,
            escape(&n.label),
            n.correct,
            n.evaluated,
            num(n.recall, 3),
            n.recall_lower
                .map(|x| num(x, 3))
                .unwrap_or_else(|| "–".into()),
            n.train_images,
            n.main_confuser
                .as_ref()
                .map(|c| format!("{} ({})", escape(c), n.main_confuser_count))
                .unwrap_or_default(),
            escape(&n.next_step)
        );
    }
    s.push_str("</tbody></table>");
    if e.needs.len() > cx.params.needs_more_training {
        let _ = write!(
            s,
            "<p>… {} more classes in <code>needs_more_training.parquet</code>.</p>",
            e.needs.len() - cx.params.needs_more_training
        );
    }
    if let Some(d) = &data.diagnosis {
        s.push_str(&label_issues_block(cx, d));
    }
    s
}

/// The diagnose stage's findings: the learning-curve verdicts and the most suspect training labels, each with its
/// thumbnail, the given label and the likely one.
fn label_issues_block(cx: &mut Ctx<'_>, d: &crate::load::Diagnosis) -> String {
    use birds_artifacts::diagnose::Curve;
    let count = |c: Curve| d.classes.iter().filter(|r| r.curve == c).count();
    let mut s = format!(
        r#"<h3 id="label-issues">Suspected label errors and learning curves</h3><p class="lead">From linear heads trained on the cached pretrained features, 5-fold out-of-fold (diagnose stage). Learning curves: <b>{}</b> classes still rising from half to all of their training images (more images will likely help), <b>{}</b> flat (more of the same will not: check labels and look-alikes), <b>{}</b> saturated. Confident learning (cleanlab's method) flags <b>{}</b> training images whose given label looks wrong; the most suspect:</p><div class="thumbs">"#,
        count(Curve::Rising),
        count(Curve::Flat),
        count(Curve::Saturated),
        d.issues.len()
    );
    for r in d.issues.iter().take(cx.params.gallery.max(8)) {
        let caption = format!(
            "#{}: given <b>{}</b> (p {}), likely <b class=\"bad\">{}</b> (p {})",
            r.rank,
            escape(&r.given_label),
            num(r.p_given, 2),
            escape(&r.likely_label),
            num(r.p_likely, 2)
        );
        let fig = cx.figure(&Path::new(&r.root).join(&r.path), 160, &caption, "wrong");
        s.push_str(&fig);
    }
    s.push_str("</div>");
    s
}

fn mean<I: Iterator<Item = f64>>(it: I) -> Option<(f64, usize)> {
    let (sum, n) = it.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| (sum / n as f64, n))
}

fn checks_table(x: &Explanation, method: &str) -> String {
    // The explain stage's own figures when it wrote them; else the same averages from cams.parquet.
    let (loc, del) = match &x.metrics {
        Some(m) => (
            m.localisation
                .get(method)
                .map(|l| (l.images, l.energy_in_mask, l.mask_area, l.pointing_game)),
            m.deletion.get(method).filter(|d| d.images > 0).map(|d| {
                (
                    d.images,
                    d.drop_cam,
                    d.drop_random,
                    d.drop_blobs,
                    d.cam_beats_random,
                )
            }),
        ),
        None => {
            let rows: Vec<&CamRow> = x
                .cams
                .iter()
                .filter(|r| r.method == method && r.target_kind == "predicted" && r.in_check)
                .collect();
            let located: Vec<&&CamRow> = rows
                .iter()
                .filter(|r| r.correct == Some(true) && r.energy_in_mask.is_some())
                .collect();
            let loc = mean(located.iter().filter_map(|r| r.energy_in_mask)).map(|(e, n)| {
                let area =
                    mean(located.iter().filter_map(|r| r.mask_area)).map_or(f64::NAN, |a| a.0);
                let hits = mean(
                    located
                        .iter()
                        .filter_map(|r| r.pointing_hit.map(|h| if h { 1.0 } else { 0.0 })),
                )
                .map_or(f64::NAN, |h| h.0);
                (n, e, area, hits)
            });
            let drops: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| Some((r.drop_cam?, r.drop_random?)))
                .collect();
            let del = mean(drops.iter().map(|d| d.0)).map(|(c, n)| {
                let r = mean(drops.iter().map(|d| d.1)).map_or(f64::NAN, |r| r.0);
                let beats = drops.iter().filter(|d| d.0 > d.1).count() as f64 / n as f64;
                (n, c, r, f64::NAN, beats)
            });
            (loc, del)
        }
    };
    if loc.is_none() && del.is_none() {
        return String::new();
    }
    let mut s = String::from(
        r#"<h3>Are the maps right?</h3><table><thead><tr><th>check</th><th class="n">images</th><th class="n">CAM</th><th class="n">chance / baseline</th></tr></thead><tbody>"#,
    );
    if let Some((n, energy, area, hits)) = loc {
        let _ = write!(
            s,
            r#"<tr><td>share of CAM energy inside the bird mask (correct predictions)</td><td class="n">{n}</td><td class="n">{}</td><td class="n">{} (mask area)</td></tr><tr><td>pointing game: CAM peak inside the mask</td><td class="n">{n}</td><td class="n">{}</td><td class="n">{} (mask area)</td></tr>"#,
            pct(energy),
            pct(area),
            pct(hits),
            pct(area)
        );
    }
    if let Some((n, cam, random, blobs, beats)) = del {
        let _ = write!(
            s,
            r#"<tr><td>confidence drop after blurring the CAM's top pixels</td><td class="n">{n}</td><td class="n">{}</td><td class="n">{} (random pixels){}</td></tr><tr><td>images where the CAM's drop beats random pixels</td><td class="n">{n}</td><td class="n">{}</td><td class="n">50 %</td></tr>"#,
            num(cam, 3),
            num(random, 3),
            if blobs.is_finite() {
                format!(", {} (random blobs)", num(blobs, 3))
            } else {
                String::new()
            },
            pct(beats)
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn section_gradcam(cx: &mut Ctx<'_>, data: &Loaded) -> String {
    let Some(x) = &data.explanation else {
        return cx.not_run(
            "the report has no <code>explain</code> input, so there are no Grad-CAM maps.",
        );
    };
    let drawn: Vec<&CamRow> = x.cams.iter().filter(|r| r.overlay.is_some()).collect();
    let Some(method) = drawn.first().map(|r| r.method.clone()) else {
        return r#"<p class="lead">The explain stage drew no overlays.</p>"#.into();
    };
    // Group the primary method's drawn maps by image, keeping file order.
    let mut groups: Vec<(String, Vec<&CamRow>)> = Vec::new();
    for r in drawn.iter().filter(|r| r.method == method) {
        match groups.iter_mut().find(|(img, _)| *img == r.image) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((r.image.clone(), vec![r])),
        }
    }
    let side = cx.params.overlay_px;
    let mut why = String::new();
    let mut gallery = String::new();
    let (mut n_why, mut n_gallery) = (0, 0);
    for (image, rows) in groups.iter().take(cx.params.gallery) {
        let pred = rows.iter().find(|r| r.target_kind == "predicted");
        let truth = rows.iter().find(|r| r.target_kind == "true");
        let overlay_path = |r: &CamRow| x.dir.join(r.overlay.as_deref().unwrap_or_default());
        match (pred, truth) {
            (Some(p), Some(t)) => {
                n_why += 1;
                let a = cx.figure(
                    &overlay_path(p),
                    side,
                    &format!("why {} ({})", escape(&p.target), pct(p.target_prob)),
                    "",
                );
                let b = cx.figure(
                    &overlay_path(t),
                    side,
                    &format!("not {} ({})", escape(&t.target), pct(t.target_prob)),
                    "",
                );
                let _ = write!(
                    why,
                    r#"<div class="card"><div class="pairimgs">{a}{b}</div><p><b class="bad">{}</b> predicted for a <b>{}</b>: left, the evidence for the prediction; right, for the true class. <br><small>{} · {}</small></p></div>"#,
                    escape(&p.target),
                    escape(&t.target),
                    escape(image),
                    escape(&p.selection)
                );
            }
            _ => {
                let r = pred.copied().unwrap_or(rows[0]);
                n_gallery += 1;
                let verdict = match r.correct {
                    Some(true) => r#"<span class="good">correct</span>"#.to_string(),
                    Some(false) => format!(
                        r#"<span class="bad">true: {}</span>"#,
                        escape(r.label.as_deref().unwrap_or("?"))
                    ),
                    None => String::new(),
                };
                let fig = cx.figure(
                    &overlay_path(r),
                    side,
                    &format!("{} ({}) {verdict}", escape(&r.target), pct(r.target_prob)),
                    "",
                );
                let _ = write!(
                    gallery,
                    r#"<div class="card">{fig}<p><small>{} · {}</small></p></div>"#,
                    escape(image),
                    escape(&r.selection)
                );
            }
        }
    }
    let mut s = format!(
        r#"<p class="lead">{} maps (<code>{}</code>, the last feature map) for the weakest classes, upsampled and overlaid on the image the model saw: red is where the evidence for the class is.</p>"#,
        x.cams.len(),
        escape(&method)
    );
    s.push_str(&checks_table(x, &method));
    let _ = write!(
        s,
        "<h3>Why X, not Y ({n_why} misclassified image{})</h3>",
        if n_why == 1 { "" } else { "s" }
    );
    if n_why == 0 {
        s.push_str(r#"<p class="lead">No misclassified image among the explained ones.</p>"#);
    } else {
        let _ = write!(s, r#"<div class="whynot">{why}</div>"#);
    }
    let _ = write!(s, "<h3>Gallery ({n_gallery} images)</h3>");
    let _ = write!(s, r#"<div class="gallery">{gallery}</div>"#);
    s
}
