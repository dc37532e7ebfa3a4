//! Hostile-input cases: ingest (`birds ingest` on datasets built to break it).
//!
//! - many copies of one image: duplicates are reported as groups, so the report stays small (pairs grew with the
//!   square of the copies);
//! - one label spelled in Unicode NFC and NFD: one class, and the merge is reported;
//! - a file symlink to `/etc/passwd`, and a text file named `.jpg`: no file content in the reports;
//! - a broken `birds.csv` (unterminated quote, wrong column count, bytes that are not UTF-8): every broken line
//!   is named with its line number;
//! - labels with HTML and Markdown in them: `report.md` shows them as text.

use polars::prelude::SerReader as _;

use crate::util::{Project, TestResult};

/// A tiny PNG whose content depends on `seed` (different seeds give unrelated perceptual hashes).
fn png(seed: u32) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let img = image::RgbImage::from_fn(16, 16, |x, y| {
        let v = (x * 7 + y * 13 + seed.wrapping_mul(101)) ^ (x * y).wrapping_mul(seed + 3);
        let g = (v.wrapping_mul(2_654_435_761) >> 24) as u8;
        image::Rgb([g, 255 - g, g / 2])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
}

fn ingest(p: &Project) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    p.ok(&["ingest", "--data", "data", "--out", "out", "--quiet"])?;
    Ok(serde_json::from_str(&p.read("out/report.json"))?)
}

fn size(p: &Project, rel: &str) -> u64 {
    std::fs::metadata(p.path(rel)).map_or(0, |m| m.len())
}

fn anomalies(report: &serde_json::Value) -> Vec<String> {
    report["anomalies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn many_copies_of_one_image_are_one_group_and_the_report_stays_small() -> TestResult {
    let p = Project::new()?;
    let copy = png(1)?;
    // 100 copies in each split: 30,000 cross-split pairs and 44,850 pairs in all, but one group.
    for (s, split) in ["train", "valid", "test"].iter().enumerate() {
        for i in 0..100 {
            p.write(&format!("data/{split}/COPIED/{i:03}.png"), &copy)?;
        }
        for (k, label) in ["OTHER", "THIRD"].iter().enumerate() {
            let seed = 10 + k as u32 * 3 + s as u32;
            p.write(&format!("data/{split}/{label}/1.png"), png(seed)?)?;
        }
    }
    let report = ingest(&p)?;
    let (json, md) = (size(&p, "out/report.json"), size(&p, "out/report.md"));
    assert!(
        json < 100_000 && md < 30_000,
        "report.json {json} bytes, report.md {md} bytes: duplicates must be reported as groups, not pairs"
    );
    let groups = report["duplicate_groups"]
        .as_array()
        .ok_or("no duplicate_groups")?;
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0]["files"], 300);
    assert_eq!(groups[0]["kind"], "exact");
    // The leakage finding stays clear: one group, spanning all three splits.
    let leaks = report["leakage"].as_array().ok_or("no leakage")?;
    assert_eq!(leaks.len(), 1, "{leaks:#?}");
    let found = anomalies(&report);
    assert!(
        found
            .iter()
            .any(|a| a.contains("300") && a.contains("train") && a.contains("test")),
        "{found:#?}"
    );
    let md = p.read("out/report.md");
    assert!(
        md.contains("300 byte-identical")
            && md.contains("span train (100), valid (100) and test (100)"),
        "{md}"
    );
    // Every member is findable in the index: images.parquet names the group of each file.
    let df =
        polars::prelude::ParquetReader::new(std::fs::File::open(p.path("out/images.parquet"))?)
            .finish()?;
    let group = df.column("duplicate_group")?.u32()?.clone();
    let in_group = group.len() - group.null_count();
    assert_eq!(in_group, 300);
    Ok(())
}

#[test]
fn one_label_in_nfc_and_nfd_is_one_class_and_the_merge_is_reported() -> TestResult {
    let p = Project::new()?;
    // "Café" precomposed (U+00E9) in train, decomposed (e + U+0301) in test: they print the same.
    p.write("data/train/Caf\u{e9}/1.png", png(1)?)?;
    p.write("data/train/Caf\u{e9}/2.png", png(2)?)?;
    p.write("data/test/Cafe\u{301}/3.png", png(3)?)?;
    p.write("data/train/OTHER/4.png", png(4)?)?;
    p.write("data/test/OTHER/5.png", png(5)?)?;
    let report = ingest(&p)?;
    let labels: Vec<&str> = report["classes"]
        .as_array()
        .ok_or("no classes")?
        .iter()
        .filter_map(|c| c["label"].as_str())
        .collect();
    assert_eq!(
        labels,
        vec!["CAF\u{c9}", "OTHER"],
        "NFC and NFD spellings must be one class"
    );
    let merges = report["label_merges"].as_array().ok_or("no label_merges")?;
    assert_eq!(merges.len(), 1, "{merges:#?}");
    let found = anomalies(&report);
    assert!(
        found
            .iter()
            .any(|a| a.contains("merged") && a.contains("NFC")),
        "the merge must be reported and say why: {found:#?}"
    );
    Ok(())
}

#[cfg(unix)]
#[test]
fn file_contents_never_reach_the_reports() -> TestResult {
    let p = Project::new()?;
    p.write("data/train/A/1.png", png(1)?)?;
    p.write("data/test/A/2.png", png(2)?)?;
    p.write("secret.txt", "TOP-SECRET-TOKEN 1234\n")?;
    std::os::unix::fs::symlink("/etc/passwd", p.path("data/train/A/passwd.jpg"))?;
    std::os::unix::fs::symlink(p.path("secret.txt"), p.path("data/train/A/secret.jpg"))?;
    // A link inside the root is followed.
    std::os::unix::fs::symlink("1.png", p.path("data/train/A/inside.png"))?;
    // Text in a file named like an image: undecodable, but its bytes are not shown.
    p.write(
        "data/train/A/notes.jpg",
        "PRIVATE NOTES: the nest is at 52.1N\n",
    )?;
    let report = ingest(&p)?;
    let (json, md) = (p.read("out/report.json"), p.read("out/report.md"));
    for text in [&json, &md] {
        for needle in ["root:x:", "TOP-SECRET", "PRIVATE", "NOTES"] {
            assert!(
                !text.contains(needle),
                "{needle:?} leaked into a report:\n{text}"
            );
        }
    }
    let skipped = report["skipped"].as_array().ok_or("no skipped")?;
    for link in ["train/A/passwd.jpg", "train/A/secret.jpg"] {
        assert!(
            skipped.iter().any(|s| s["path"] == link
                && s["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("symlink outside the data root"))),
            "{link} must be skipped as a symlink outside the data root: {skipped:#?}"
        );
    }
    let undecodable = report["undecodable"].as_array().ok_or("no undecodable")?;
    let notes = undecodable
        .iter()
        .find(|u| u["path"] == "train/A/notes.jpg")
        .ok_or("notes.jpg not undecodable")?;
    let error = notes["error"].as_str().unwrap_or("");
    assert!(
        error.contains("not an image") && error.contains("36 bytes"),
        "{error}"
    );
    let indexed = report["totals"]["files"].as_u64();
    assert_eq!(indexed, Some(4), "1.png, 2.png, inside.png, notes.jpg");
    Ok(())
}

/// A Kaggle layout with one image per listed path, and `birds.csv` as given.
fn csv_project(csv: &[u8]) -> Result<Project, Box<dyn std::error::Error>> {
    let p = Project::new()?;
    for (i, path) in [
        "train/A/1.png",
        "train/A/2.png",
        "train/A/3.png",
        "test/A/4.png",
    ]
    .iter()
    .enumerate()
    {
        p.write(&format!("data/{path}"), png(i as u32)?)?;
    }
    p.write("data/birds.csv", csv)?;
    Ok(p)
}

#[test]
fn unterminated_quote_in_the_csv_is_reported_with_its_line() -> TestResult {
    let p = csv_project(
        b"class id,filepaths,labels,data set\n\
          0,train/A/1.png,A,train\n\
          0,\"train/A/2.png,A,train\n\
          0,train/A/3.png,A,train\n\
          0,test/A/4.png,A,test\n",
    )?;
    let report = ingest(&p)?;
    let found = anomalies(&report);
    assert!(
        found.iter().any(|a| a.contains("birds.csv:3")
            && a.contains("quote")
            && a.contains("lines 4–5")
            && a.contains("not read")),
        "{found:#?}"
    );
    let md = p.read("out/report.md");
    assert!(md.contains("birds.csv:3"), "{md}");
    Ok(())
}

#[test]
fn csv_rows_with_the_wrong_column_count_or_bad_bytes_are_refused_by_line() -> TestResult {
    let p = csv_project(
        b"class id,filepaths,labels,data set\n\
          0,train/A/1.png,A,train\n\
          0,train/A/2.png,A, B,train\n\
          0,train/A/3.png,A\xff,train\n\
          0,test/A/4.png,A,test\n",
    )?;
    let report = ingest(&p)?;
    let refused = report["csv"]["refused"].as_array().ok_or("no refused")?;
    let lines: Vec<(u64, String)> = refused
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap_or(0),
                r["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0].0, 3);
    assert!(
        lines[0].1.contains("5 fields") && lines[0].1.contains("4"),
        "{lines:#?}"
    );
    assert_eq!(lines[1].0, 4);
    assert!(lines[1].1.contains("UTF-8"), "{lines:#?}");
    Ok(())
}

#[test]
fn html_and_markdown_in_labels_are_text_in_report_md() -> TestResult {
    let p = Project::new()?;
    let labels = [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)",
        "PIPE | LABEL",
        "**BOLD** [LINK](x) `TICK`",
    ];
    for (i, label) in labels.iter().enumerate() {
        p.write(&format!("data/train/{label}/1.png"), png(i as u32)?)?;
        p.write(&format!("data/test/{label}/2.png"), png(10 + i as u32)?)?;
    }
    // An undecodable file puts the label and its path into a list.
    p.write("data/train/<script>alert(1)/bad.png", "not a png")?;
    ingest(&p)?;
    let md = p.read("out/report.md");
    let lower = md.to_lowercase();
    for raw in ["<script", "<img", "**bold**", "[link](x)", "`tick`"] {
        assert!(!lower.contains(raw), "{raw:?} raw in report.md:\n{md}");
    }
    assert!(lower.contains("&lt;script&gt;alert(1)"), "{md}");
    // In tables, `|` is escaped, so every row of a table has as many cells as its header.
    let mut header_cells = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            header_cells = None;
            continue;
        }
        let cells = line.replace("\\|", "").matches('|').count();
        let header = *header_cells.get_or_insert(cells);
        assert_eq!(cells, header, "table row with a stray `|`: {line}");
    }
    Ok(())
}
