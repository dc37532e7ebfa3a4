//! End-to-end tests: `ingest` on small datasets built in temp folders, asserting on the Parquet and JSON it writes.
//!
//! `fixtures/cmyk.jpg` (24×16, 4-component Adobe JPEG) was written by Pillow 13:
//! `Image.new("CMYK", (24, 16))`, pixels `(10x, 15y, 255 − 10x, 40)`, `save("cmyk.jpg", quality=85)`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use birds_core::Split;
use birds_ingest::{IngestError, IngestOutput, IngestParams, Layout, Report, ingest};
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb, RgbImage};
use polars::prelude::*;

// ---------------------------------------------------------------------------------------------------------------
// Fixture helpers

/// A smooth pseudo-random picture: blobs placed by `seed`, so different seeds give unrelated pHashes.
fn picture(seed: u64, w: u32, h: u32) -> RgbImage {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let blobs: Vec<(f64, f64, f64, f64)> = (0..7)
        .map(|_| (next(), next(), 0.05 + 0.25 * next(), next() * 2.0 - 1.0))
        .collect();
    ImageBuffer::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f64 / w as f64, y as f64 / h as f64);
        let v: f64 = blobs
            .iter()
            .map(|(cx, cy, r, a)| a * (-((fx - cx).powi(2) + (fy - cy).powi(2)) / (r * r)).exp())
            .sum();
        let g = (128.0 + 110.0 * v).clamp(0.0, 255.0) as u8;
        Rgb([g, 255 - g, g / 2 + 40])
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), format)
        .unwrap();
    out
}

fn picture_of(seed: u64) -> RgbImage {
    picture(seed, 64, 48)
}

fn jpeg(seed: u64) -> Vec<u8> {
    encode(
        &DynamicImage::ImageRgb8(picture(seed, 64, 48)),
        ImageFormat::Jpeg,
    )
}

fn write(path: impl AsRef<Path>, bytes: &[u8]) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn read_parquet(path: &Path) -> DataFrame {
    let file = std::fs::File::open(path).unwrap();
    ParquetReader::new(file).finish().unwrap()
}

fn read_report(out: &Path) -> Report {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// `path → (status, error, color_type, width, height, label, split)` from `images.parquet`.
#[derive(Debug, Clone, PartialEq)]
struct IndexRow {
    status: String,
    error: Option<String>,
    color_type: Option<String>,
    format: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    label: String,
    split: String,
    class_id: u32,
    file_bytes: u64,
    root: String,
}

fn index_rows(images: &Path) -> BTreeMap<String, IndexRow> {
    let df = read_parquet(images);
    let s = |name: &str| df.column(name).unwrap().str().unwrap().clone();
    let u = |name: &str| df.column(name).unwrap().u32().unwrap().clone();
    let (path, status, error, color, format, label, split, root) = (
        s("path"),
        s("status"),
        s("error"),
        s("color_type"),
        s("format"),
        s("label"),
        s("split"),
        s("root"),
    );
    let (width, height, class_id) = (u("width"), u("height"), u("class_id"));
    let bytes = df.column("file_bytes").unwrap().u64().unwrap().clone();
    (0..df.height())
        .map(|i| {
            (
                path.get(i).unwrap().to_string(),
                IndexRow {
                    status: status.get(i).unwrap().to_string(),
                    error: error.get(i).map(str::to_string),
                    color_type: color.get(i).map(str::to_string),
                    format: format.get(i).map(str::to_string),
                    width: width.get(i),
                    height: height.get(i),
                    label: label.get(i).unwrap().to_string(),
                    split: split.get(i).unwrap().to_string(),
                    class_id: class_id.get(i).unwrap(),
                    file_bytes: bytes.get(i).unwrap(),
                    root: root.get(i).unwrap().to_string(),
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// The Kaggle-layout fixture with every bad case, built once and shared by the tests below.

const MALLARD: &str = "train/MALLARD DUCK";
const ROBIN: &str = "train/Rotkehlchen Ä";

struct Fixture {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    out: PathBuf,
    output: IngestOutput,
    rows: BTreeMap<String, IndexRow>,
}

fn build_kaggle_fixture(data: &Path) {
    // Good pictures, each unrelated to the others.
    for (i, name) in ["good1.jpg", "good2.jpg", "good3.jpg"].iter().enumerate() {
        write(data.join(MALLARD).join(name), &jpeg(10 + i as u64));
    }
    // Bad cases.
    write(data.join(MALLARD).join("zero.jpg"), b"");
    let whole = jpeg(20);
    write(
        data.join(MALLARD).join("truncated.jpg"),
        &whole[..whole.len() * 3 / 5],
    );
    write(
        data.join(MALLARD).join("text.jpg"),
        b"hello, I am a text file, not a JPEG\n",
    );
    let rgba = DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(picture(21, 40, 40)).to_rgba8());
    write(
        data.join(MALLARD).join("alpha.png"),
        &encode(&rgba, ImageFormat::Png),
    );
    let grey = DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(picture(22, 48, 32)).to_luma8());
    write(
        data.join(MALLARD).join("grey.jpg"),
        &encode(&grey, ImageFormat::Jpeg),
    );
    write(
        data.join(MALLARD).join("cmyk.jpg"),
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cmyk.jpg"))
            .unwrap(),
    );
    let deep = DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(picture(23, 40, 30)).to_rgb16());
    write(
        data.join(MALLARD).join("deep.png"),
        &encode(&deep, ImageFormat::Png),
    );
    write(
        data.join(MALLARD).join("huge.png"),
        &birds_core::image::png_declaring(100_000, 100_000),
    );
    write(data.join(MALLARD).join("notes.txt"), b"field notes");
    write(data.join(MALLARD).join(".DS_Store"), b"\0\0\0\x01Bud1");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bad_name = std::ffi::OsStr::from_bytes(b"caf\xe9.jpg");
        write(data.join(MALLARD).join(bad_name), &jpeg(24));
        // A folder link back to its own parent, and a file link to itself.
        std::os::unix::fs::symlink("..", data.join(MALLARD).join("loop")).unwrap();
        std::os::unix::fs::symlink("self.jpg", data.join(MALLARD).join("self.jpg")).unwrap();
        // A file link out of the data root (to the file the CSV also points at), and one within it.
        std::os::unix::fs::symlink(
            "../../../outside.jpg",
            data.join(MALLARD).join("outside.jpg"),
        )
        .unwrap();
    }
    // The label spelled with two spaces in train and one in test, as in BIRDS 525.
    write(data.join("train/PARAKETT  AUKLET/p1.jpg"), &jpeg(30));
    write(data.join("train/PARAKETT  AUKLET/p2.jpg"), &jpeg(31));
    write(data.join("test/PARAKETT AUKLET/p3.jpg"), &jpeg(32));
    // Non-ASCII and spaces in folder and file names.
    let robin = jpeg(40);
    write(data.join(ROBIN).join("bild 1 é.jpg"), &robin);
    write(
        data.join(ROBIN).join("größe 2.png"),
        &encode(
            &DynamicImage::ImageRgb8(picture(41, 50, 50)),
            ImageFormat::Png,
        ),
    );
    // Leakage: a byte-identical copy, and a resized, re-encoded copy, in test.
    write(data.join("test/Rotkehlchen Ä/copy of bild 1.jpg"), &robin);
    let resized = DynamicImage::ImageRgb8(picture(10, 64, 48)).resize_exact(
        45,
        34,
        image::imageops::FilterType::Lanczos3,
    );
    write(
        data.join("test/MALLARD DUCK/resized good1.jpg"),
        &encode(&resized, ImageFormat::Jpeg),
    );
    write(data.join("test/MALLARD DUCK/t1.jpg"), &jpeg(50));
    // No valid/ folder. A file outside the root that the CSV points at.
    write(data.parent().unwrap().join("outside.jpg"), &jpeg(60));
    let csv = "\
class id,filepaths,labels,data set,scientific name
0.0,train/MALLARD DUCK/good1.jpg,MALLARD DUCK,train,ANAS PLATYRHYNCHOS
0.0,train/MALLARD DUCK/good2.jpg,MALLARD DUCK,train,ANAS PLATYRHYNCHOS
0.0,train/MALLARD DUCK/good3.jpg,MALLARD DUCK,test,ANAS PLATYRHYNCHOS
1.0,train/PARAKETT  AUKLET/p1.jpg,MALLARD DUCK,train,AETHIA PSITTACULA
1.0,train/PARAKETT  AUKLET/p2.jpg,PARAKETT  AUKLET,train,AETHIA PSITTACULA
0.0,../../etc/passwd,MALLARD DUCK,train,
0.0,/etc/passwd,MALLARD DUCK,train,
0.0,../outside.jpg,MALLARD DUCK,train,
0.0,valid/MALLARD DUCK/v1.jpg,MALLARD DUCK,valid,ANAS PLATYRHYNCHOS
";
    write(data.join("birds.csv"), csv.as_bytes());
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data set");
        build_kaggle_fixture(&data);
        let out = tmp.path().join("out");
        let output = ingest(&data, &out, &IngestParams::default()).unwrap();
        let rows = index_rows(&output.images);
        Fixture {
            _tmp: tmp,
            data,
            out,
            output,
            rows,
        }
    })
}

fn row(path: &str) -> &'static IndexRow {
    fixture().rows.get(path).unwrap_or_else(|| {
        panic!(
            "{path} not in images.parquet; rows: {:?}",
            fixture().rows.keys()
        )
    })
}

fn assert_error(path: &str, needle: &str) {
    let r = row(path);
    assert_eq!(r.status, "error", "{path}");
    let err = r.error.as_deref().unwrap_or("");
    assert!(
        err.contains(needle),
        "{path}: error {err:?} should mention {needle:?}"
    );
    assert_eq!((r.width, r.height), (None, None), "{path}");
    let report = &fixture().output.report;
    assert!(
        report
            .undecodable
            .iter()
            .any(|p| p.path == path && p.error == err),
        "{path} listed as undecodable in the report"
    );
}

fn assert_ok(path: &str, color: &str, size: (u32, u32)) {
    let r = row(path);
    assert_eq!(r.status, "ok", "{path}: {:?}", r.error);
    assert_eq!(r.error, None);
    assert_eq!(r.color_type.as_deref(), Some(color), "{path}");
    assert_eq!((r.width, r.height), (Some(size.0), Some(size.1)), "{path}");
}

fn skipped_reason(path: &str) -> String {
    fixture()
        .output
        .report
        .skipped
        .iter()
        .find(|s| s.path == path)
        .map(|s| s.reason.clone())
        .unwrap_or_else(|| {
            panic!(
                "{path} not in skipped: {:?}",
                fixture().output.report.skipped
            )
        })
}

#[test]
fn zero_byte_file_is_kept_as_error() {
    assert_error(&format!("{MALLARD}/zero.jpg"), "empty file");
    assert_eq!(row(&format!("{MALLARD}/zero.jpg")).file_bytes, 0);
}

#[test]
fn truncated_jpeg_is_an_error() {
    assert_error(&format!("{MALLARD}/truncated.jpg"), "truncated JPEG");
}

#[test]
fn text_named_jpg_is_not_an_image() {
    assert_error(&format!("{MALLARD}/text.jpg"), "not an image");
    assert_eq!(row(&format!("{MALLARD}/text.jpg")).format, None);
}

#[test]
fn enormous_declared_dimensions_are_refused_before_decoding() {
    assert_error(&format!("{MALLARD}/huge.png"), "100000×100000");
    assert_error(&format!("{MALLARD}/huge.png"), "max_dimension");
}

#[test]
fn alpha_grey_cmyk_and_16_bit_images_decode_and_report_their_colour_type() {
    assert_ok(&format!("{MALLARD}/alpha.png"), "Rgba8", (40, 40));
    assert_ok(&format!("{MALLARD}/grey.jpg"), "L8", (48, 32));
    assert_ok(&format!("{MALLARD}/cmyk.jpg"), "Cmyk8", (24, 16));
    assert_ok(&format!("{MALLARD}/deep.png"), "Rgb16", (40, 30));
    assert_ok(&format!("{MALLARD}/good1.jpg"), "Rgb8", (64, 48));
    let colours: BTreeMap<String, usize> = fixture()
        .output
        .report
        .color_types
        .iter()
        .map(|c| (c.name.clone(), c.count))
        .collect();
    assert_eq!(colours.get("Cmyk8"), Some(&1));
    assert_eq!(colours.get("Rgb16"), Some(&1));
}

#[test]
fn non_ascii_and_space_names_round_trip() {
    let r = row("train/Rotkehlchen Ä/bild 1 é.jpg");
    assert_eq!(r.status, "ok");
    assert_eq!(r.label, "ROTKEHLCHEN Ä");
    assert_ok("train/Rotkehlchen Ä/größe 2.png", "Rgb8", (50, 50));
    // `root/path` opens the file, as the preprocess stage will do.
    let opened = Path::new(&r.root).join("train/Rotkehlchen Ä/bild 1 é.jpg");
    assert!(image::open(opened).is_ok());
    assert_eq!(Path::new(&r.root), fixture().data.canonicalize().unwrap());
}

#[cfg(unix)]
#[test]
fn non_utf8_name_is_skipped_and_reported() {
    assert_eq!(
        skipped_reason(&format!("{MALLARD}/caf\u{fffd}.jpg")),
        "name is not valid UTF-8"
    );
}

#[cfg(unix)]
#[test]
fn symlink_loops_are_skipped_and_reported() {
    let folder = skipped_reason(&format!("{MALLARD}/loop"));
    assert!(folder.contains("symlink loop"), "{folder}");
    let file = skipped_reason(&format!("{MALLARD}/self.jpg"));
    assert!(file.contains("symlink"), "{file}");
    assert!(!fixture().rows.keys().any(|p| p.contains("/loop/")));
}

#[cfg(unix)]
#[test]
fn file_links_out_of_the_root_are_skipped_and_never_read() {
    let reason = skipped_reason(&format!("{MALLARD}/outside.jpg"));
    assert!(reason.contains("symlink outside the data root"), "{reason}");
    assert!(
        !fixture()
            .rows
            .contains_key(&format!("{MALLARD}/outside.jpg"))
    );
}

#[test]
fn undecodable_files_are_described_without_their_content() {
    let err = row(&format!("{MALLARD}/text.jpg"))
        .error
        .clone()
        .unwrap_or_default();
    assert!(err.contains("36 bytes, looks like text"), "{err}");
    let json = std::fs::read_to_string(&fixture().output.report_json).unwrap();
    let md = std::fs::read_to_string(&fixture().output.report_md).unwrap();
    assert!(!json.contains("hello") && !md.contains("hello"));
}

#[test]
fn other_files_are_skipped_with_a_reason() {
    assert_eq!(
        skipped_reason(&format!("{MALLARD}/notes.txt")),
        "not an image file extension"
    );
    assert_eq!(skipped_reason(&format!("{MALLARD}/.DS_Store")), "hidden");
    assert!(!fixture().rows.contains_key(&format!("{MALLARD}/notes.txt")));
}

#[test]
fn missing_split_folder_is_reported() {
    let report = &fixture().output.report;
    assert_eq!(report.missing_splits, vec![Split::Valid]);
    assert!(
        report
            .anomalies
            .iter()
            .any(|a| a == "split folder missing: valid"),
        "{:?}",
        report.anomalies
    );
    let csv = report.csv.as_ref().unwrap();
    assert!(
        csv.rows_without_files
            .iter()
            .any(|r| r.path == "valid/MALLARD DUCK/v1.jpg" && r.line == 10)
    );
}

#[test]
fn csv_paths_escaping_the_root_are_refused_and_never_indexed() {
    let csv = fixture().output.report.csv.as_ref().unwrap();
    let refused: BTreeMap<&str, &str> = csv
        .refused
        .iter()
        .map(|r| (r.path.as_str(), r.reason.as_str()))
        .collect();
    assert!(refused["../../etc/passwd"].contains("escapes the data root"));
    assert!(refused["/etc/passwd"].contains("absolute path"));
    assert!(refused["../outside.jpg"].contains("escapes the data root"));
    assert_eq!(
        csv.refused.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![7, 8, 9]
    );
    assert!(
        !fixture()
            .rows
            .keys()
            .any(|p| p.contains("passwd") || p.contains("outside"))
    );
    assert!(
        !csv.rows_without_files
            .iter()
            .any(|r| r.path.contains("passwd"))
    );
}

#[test]
fn csv_disagreements_with_the_folders_are_listed() {
    let csv = fixture().output.report.csv.as_ref().unwrap();
    assert!(csv.header);
    assert_eq!(csv.rows, 9);
    assert_eq!(csv.matched, 5);
    let labels: Vec<(&str, &str)> = csv
        .label_disagreements
        .iter()
        .map(|d| (d.path.as_str(), d.csv.as_str()))
        .collect();
    assert_eq!(
        labels,
        vec![("train/PARAKETT  AUKLET/p1.jpg", "MALLARD DUCK")]
    );
    let splits: Vec<(&str, &str, &str)> = csv
        .split_disagreements
        .iter()
        .map(|d| (d.path.as_str(), d.csv.as_str(), d.folder.as_str()))
        .collect();
    assert_eq!(
        splits,
        vec![("train/MALLARD DUCK/good3.jpg", "test", "train")]
    );
    assert!(
        csv.files_without_rows
            .contains(&"test/PARAKETT AUKLET/p3.jpg".to_string())
    );
    assert!(
        csv.files_without_rows
            .contains(&format!("{MALLARD}/zero.jpg"))
    );
    // Scientific names come from the CSV.
    let classes = &fixture().output.report.classes;
    assert_eq!(
        classes[0].scientific_name.as_deref(),
        Some("ANAS PLATYRHYNCHOS")
    );
    assert_eq!(
        classes[1].scientific_name.as_deref(),
        Some("AETHIA PSITTACULA")
    );
    assert_eq!(classes[2].scientific_name, None);
}

#[test]
fn two_space_label_variant_is_merged_and_reported() {
    let report = &fixture().output.report;
    let labels: Vec<&str> = report.classes.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        vec!["MALLARD DUCK", "PARAKETT AUKLET", "ROTKEHLCHEN Ä"]
    );
    assert_eq!(report.label_merges.len(), 1);
    let merge = &report.label_merges[0];
    assert_eq!(merge.label, "PARAKETT AUKLET");
    let spellings: Vec<(&str, usize)> = merge
        .spellings
        .iter()
        .map(|s| (s.spelling.as_str(), s.files))
        .collect();
    assert_eq!(
        spellings,
        vec![("PARAKETT  AUKLET", 2), ("PARAKETT AUKLET", 1)]
    );
    assert!(
        report
            .anomalies
            .iter()
            .any(|a| a.contains("PARAKETT AUKLET") && a.contains("merged"))
    );
    // Both spellings carry the one class id.
    assert_eq!(row("train/PARAKETT  AUKLET/p1.jpg").class_id, 1);
    assert_eq!(row("test/PARAKETT AUKLET/p3.jpg").class_id, 1);
    assert_eq!(row("test/PARAKETT AUKLET/p3.jpg").label, "PARAKETT AUKLET");
    let parakett = &report.classes[1];
    assert_eq!((parakett.train, parakett.valid, parakett.test), (2, 0, 1));
}

#[test]
fn cross_split_exact_and_near_duplicates_are_groups_listed_as_leakage() {
    use birds_ingest::report::DuplicateKind;
    let report = &fixture().output.report;
    let groups: Vec<(u32, DuplicateKind, Vec<&str>)> = report
        .duplicate_groups
        .iter()
        .map(|g| {
            (
                g.group,
                g.kind,
                g.examples.iter().map(|f| f.path.as_str()).collect(),
            )
        })
        .collect();
    // Nothing else is a duplicate; groups are numbered in the order of their first path.
    assert_eq!(
        groups,
        vec![
            (
                1,
                DuplicateKind::Near,
                vec![
                    "test/MALLARD DUCK/resized good1.jpg",
                    "train/MALLARD DUCK/good1.jpg"
                ]
            ),
            (
                2,
                DuplicateKind::Exact,
                vec![
                    "test/Rotkehlchen Ä/copy of bild 1.jpg",
                    "train/Rotkehlchen Ä/bild 1 é.jpg"
                ]
            ),
        ]
    );
    assert!(
        report
            .duplicate_groups
            .iter()
            .all(|g| g.cross_split && g.files == 2)
    );
    assert_eq!(report.duplicate_groups[0].distinct_contents, 2);
    assert_eq!(
        report.leakage.iter().map(|l| l.group).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let leak = &report.leakage[0];
    assert_eq!(
        leak.examples.iter().map(|f| f.split).collect::<Vec<_>>(),
        vec![Split::Train, Split::Test]
    );
    assert!(
        report.anomalies.iter().any(|a| a
            == "leakage: 2 near-duplicate images span train (1) and test (1) (duplicate group 1)"),
        "{:#?}",
        report.anomalies
    );
    assert!(
        report
            .anomalies
            .iter()
            .any(|a| a.starts_with("leakage: 2 byte-identical images span train (1) and test (1)"))
    );
    // images.parquet names every member's group, and no other file has one.
    let df = read_parquet(&fixture().output.images);
    let paths = df.column("path").unwrap().str().unwrap().clone();
    let group = df.column("duplicate_group").unwrap().u32().unwrap().clone();
    let members: Vec<(String, u32)> = (0..df.height())
        .filter_map(|i| Some((paths.get(i)?.to_string(), group.get(i)?)))
        .collect();
    assert_eq!(
        members,
        vec![
            ("test/MALLARD DUCK/resized good1.jpg".to_string(), 1),
            ("test/Rotkehlchen Ä/copy of bild 1.jpg".to_string(), 2),
            ("train/MALLARD DUCK/good1.jpg".to_string(), 1),
            ("train/Rotkehlchen Ä/bild 1 é.jpg".to_string(), 2),
        ]
    );
    let md = std::fs::read_to_string(&fixture().output.report_md).unwrap();
    assert!(
        md.contains("- group 1: 2 near-duplicate images span train (1) and test (1): `test/MALLARD DUCK/resized good1.jpg` (test), `train/MALLARD DUCK/good1.jpg` (train)"),
        "{md}"
    );
}

#[test]
fn duplicate_groups_join_transitively_and_stay_linear_in_size() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("copies");
    // 120 copies of one picture in train, 3 in test, a resized copy in valid: one group of 124, two contents.
    let picture = jpeg(10);
    for i in 0..120 {
        write(root.join(format!("train/A/{i:03}.jpg")), &picture);
    }
    for i in 0..3 {
        write(root.join(format!("test/A/{i}.jpg")), &picture);
    }
    let resized = DynamicImage::ImageRgb8(picture_of(10)).resize_exact(
        45,
        34,
        image::imageops::FilterType::Lanczos3,
    );
    write(
        root.join("valid/A/resized.jpg"),
        &encode(&resized, ImageFormat::Jpeg),
    );
    for (i, split) in ["train", "valid", "test"].iter().enumerate() {
        write(
            root.join(format!("{split}/B/other.jpg")),
            &jpeg(80 + i as u64),
        );
    }
    let out = ingest(&root, &tmp.path().join("out"), &IngestParams::default()).unwrap();
    let r = &out.report;
    assert_eq!(r.duplicate_groups.len(), 1, "{:#?}", r.duplicate_groups);
    let g = &r.duplicate_groups[0];
    assert_eq!((g.files, g.distinct_contents), (124, 2));
    assert_eq!(g.kind, birds_ingest::report::DuplicateKind::Near);
    assert_eq!(
        g.splits
            .iter()
            .map(|s| (s.split, s.files))
            .collect::<Vec<_>>(),
        vec![(Split::Train, 120), (Split::Valid, 1), (Split::Test, 3)]
    );
    // One example from each split first, then by path; at most GROUP_EXAMPLES.
    assert_eq!(g.examples.len(), birds_ingest::report::GROUP_EXAMPLES);
    for split in [Split::Train, Split::Valid, Split::Test] {
        assert!(g.examples.iter().any(|f| f.split == split), "{split}");
    }
    assert_eq!(r.leakage.len(), 1);
    // As pairs this was 7,626 entries; as a group the reports stay a few kB.
    let json = std::fs::metadata(&out.report_json).unwrap().len();
    let md = std::fs::metadata(&out.report_md).unwrap().len();
    assert!(
        json < 20_000 && md < 10_000,
        "report.json {json} B, report.md {md} B"
    );
}

#[test]
fn counts_and_classes_parquet_agree_with_the_files() {
    let report = &fixture().output.report;
    // 3 good + 7 bad-or-odd in MALLARD train (zero, truncated, text, alpha, grey, cmyk, deep, huge → 8), etc.
    let errors = ["zero.jpg", "truncated.jpg", "text.jpg", "huge.png"];
    assert_eq!(report.totals.errors, errors.len());
    assert_eq!(report.totals.files, fixture().rows.len());
    assert_eq!(report.totals.files, 3 + 8 + 2 + 1 + 2 + 1 + 1 + 1);
    let df = read_parquet(&fixture().output.classes);
    assert_eq!(df.height(), 3);
    let train = df.column("train").unwrap().u32().unwrap();
    let test = df.column("test").unwrap().u32().unwrap();
    // MALLARD: good1-3, alpha, grey, cmyk, deep in train; resized copy and t1 in test.
    assert_eq!((train.get(0), test.get(0)), (Some(7), Some(2)));
    assert_eq!((train.get(2), test.get(2)), (Some(2), Some(1)));
    let splits: Vec<(Split, usize, usize)> = report
        .splits
        .iter()
        .map(|s| (s.split, s.files, s.errors))
        .collect();
    assert_eq!(splits, vec![(Split::Train, 15, 4), (Split::Test, 4, 0)]);
    assert_eq!(
        report.classes_missing_from_splits,
        Vec::<birds_ingest::report::MissingClasses>::new(),
        "every class has an image in train and test"
    );
}

#[test]
fn parquet_files_match_the_schema_in_birds_core() {
    let images = read_parquet(&fixture().output.images);
    birds_ingest::check_schema(&images, &birds_core::schema::ingest::IMAGES).unwrap();
    let classes = read_parquet(&fixture().output.classes);
    birds_ingest::check_schema(&classes, &birds_core::schema::ingest::CLASSES).unwrap();
    // Rows in path order, statuses only `ok`/`error`, errors only on `error` rows.
    let paths: Vec<&String> = fixture().rows.keys().collect();
    let path_col = images.column("path").unwrap().str().unwrap().clone();
    let in_file: Vec<String> = (0..path_col.len())
        .map(|i| path_col.get(i).unwrap_or_default().to_string())
        .collect();
    assert_eq!(in_file.iter().collect::<Vec<_>>(), paths);
    for r in fixture().rows.values() {
        assert_eq!(r.status == "ok", r.error.is_none());
    }
}

#[test]
fn same_input_gives_byte_identical_parquet() {
    let f = fixture();
    let out2 = f.out.parent().unwrap().join("out again");
    let second = ingest(&f.data, &out2, &IngestParams::default()).unwrap();
    for (a, b) in [
        (&f.output.images, &second.images),
        (&f.output.classes, &second.classes),
    ] {
        assert_eq!(
            std::fs::read(a).unwrap(),
            std::fs::read(b).unwrap(),
            "{}",
            a.display()
        );
    }
    assert_eq!(read_report(&out2), f.output.report);
    assert_eq!(read_report(&f.out), f.output.report);
}

#[test]
fn labels_kept_apart_when_normalisation_is_off() {
    let f = fixture();
    let params = IngestParams {
        normalize_labels: false,
        ..IngestParams::default()
    };
    let out = f.out.parent().unwrap().join("out raw labels");
    let report = ingest(&f.data, &out, &params).unwrap().report;
    let labels: Vec<&str> = report.classes.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "MALLARD DUCK",
            "PARAKETT  AUKLET",
            "PARAKETT AUKLET",
            "Rotkehlchen Ä"
        ]
    );
    assert!(report.label_merges.is_empty());
    assert_eq!(report.unmerged_label_variants.len(), 1);
    assert!(report.anomalies.iter().any(|a| a.contains("NOT merged")));
}

// ---------------------------------------------------------------------------------------------------------------
// Whole-run failures.

#[test]
fn nonexistent_root_names_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no such folder");
    let err = ingest(&missing, &tmp.path().join("out"), &IngestParams::default()).unwrap_err();
    assert!(matches!(err, IngestError::RootMissing { .. }));
    assert!(err.to_string().contains("no such folder"), "{err}");
    let file = tmp.path().join("a file");
    write(&file, b"x");
    let err = ingest(&file, &tmp.path().join("out"), &IngestParams::default()).unwrap_err();
    assert!(matches!(err, IngestError::RootNotDir { .. }), "{err}");
}

#[test]
fn empty_root_fails_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("empty");
    std::fs::create_dir(&root).unwrap();
    let err = ingest(&root, &tmp.path().join("out"), &IngestParams::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, IngestError::NoImages { .. }));
    assert!(
        msg.contains("empty") && msg.contains(&root.canonicalize().unwrap().display().to_string()),
        "{msg}"
    );
    // Split folders with nothing but non-images: the message says what was skipped.
    write(root.join("train/A/readme.txt"), b"x");
    let msg = ingest(&root, &tmp.path().join("out"), &IngestParams::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("kaggle layout") && msg.contains("1 not an image file extension"),
        "{msg}"
    );
}

#[test]
fn nothing_decodable_fails_but_explains_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("broken");
    write(root.join("A/1.jpg"), b"");
    write(root.join("A/2.jpg"), b"not a picture");
    write(root.join("B/3.png"), b"neither");
    let out = tmp.path().join("out");
    let err = ingest(&root, &out, &IngestParams::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, IngestError::NothingUsable { .. }), "{msg}");
    assert!(
        msg.contains("broken")
            && msg.contains("2 × not an image")
            && msg.contains("1 × empty file"),
        "{msg}"
    );
    assert!(out.join("report.md").is_file() && out.join("report.json").is_file());
    assert!(
        !out.join("images.parquet").exists(),
        "no index for later stages to consume"
    );
}

#[test]
fn explicit_missing_csv_and_bad_params_are_errors() {
    let f = fixture();
    let out = f.out.parent().unwrap().join("out csv");
    let params = IngestParams {
        csv: Some("other.csv".into()),
        ..IngestParams::default()
    };
    let err = ingest(&f.data, &out, &params).unwrap_err();
    assert!(err.to_string().contains("other.csv"), "{err}");
    let params = IngestParams {
        near_duplicate_distance: 40,
        ..IngestParams::default()
    };
    assert!(
        matches!(ingest(&f.data, &out, &params), Err(IngestError::Params(m)) if m.contains("near_duplicate_distance"))
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Flat layout.

fn flat_dataset(root: &Path) {
    for (label, base) in [("eagle", 100u64), ("Heron", 200), ("ibis", 300)] {
        for i in 0..10 {
            write(
                root.join(label).join(format!("{i:02}.jpg")),
                &jpeg(base + i),
            );
        }
    }
}

fn split_of(rows: &BTreeMap<String, IndexRow>) -> BTreeMap<String, String> {
    rows.iter()
        .map(|(p, r)| (p.clone(), r.split.clone()))
        .collect()
}

#[test]
fn flat_layout_is_split_stratified_and_by_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("flat");
    flat_dataset(&root);
    let run = |seed: u64, out: &str| {
        let params = IngestParams {
            seed,
            ..IngestParams::default()
        };
        let o = ingest(&root, &tmp.path().join(out), &params).unwrap();
        assert_eq!(o.report.layout, birds_ingest::params::Layout::Flat);
        (o.report.clone(), index_rows(&o.images))
    };
    let (report, rows) = run(7, "a");
    for c in &report.classes {
        assert_eq!((c.train, c.valid, c.test), (8, 1, 1), "{}", c.label);
    }
    assert_eq!(
        report
            .classes
            .iter()
            .map(|c| c.label.as_str())
            .collect::<Vec<_>>(),
        vec!["EAGLE", "HERON", "IBIS"]
    );
    assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
    let (_, again) = run(7, "b");
    assert_eq!(split_of(&rows), split_of(&again));
    let (_, other) = run(8, "c");
    assert_ne!(
        split_of(&rows),
        split_of(&other),
        "the seed changes the split"
    );
    // Forcing the Kaggle layout on a flat folder finds no split folders.
    let params = IngestParams {
        layout: Layout::Kaggle,
        ..IngestParams::default()
    };
    assert!(matches!(
        ingest(&root, &tmp.path().join("d"), &params),
        Err(IngestError::NoImages { .. })
    ));
}

// ---------------------------------------------------------------------------------------------------------------
// The stage interface.

#[test]
fn ingest_stage_runs_through_the_stage_trait() {
    use birds_core::stage::{Stage, StageContext, StageSpec};
    let stage = birds_ingest::IngestStage;
    assert_eq!(stage.name(), "ingest");
    assert_eq!(stage.inputs(), &["data"]);
    assert!(
        stage
            .check_params(&serde_json::json!({"near_duplicate_distance": 4}))
            .is_ok()
    );
    let err = stage
        .check_params(&serde_json::json!({"max_dim": 4}))
        .unwrap_err();
    assert!(err.contains("max_dim"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("flat");
    flat_dataset(&root);
    let out = tmp.path().join("stage-out");
    std::fs::create_dir(&out).unwrap();
    let inputs = BTreeMap::from([("data".to_string(), PathBuf::from("flat"))]);
    let params = serde_json::json!({"split": {"train": 0.6, "valid": 0.2, "test": 0.2}});
    let ctx = StageContext {
        name: "ingest",
        params: &params,
        inputs: &inputs,
        out_dir: &out,
        root: tmp.path(),
    };
    stage.run(&ctx).unwrap();
    let report = read_report(&out);
    assert_eq!(report.classes[0].train, 6);
    assert!(out.join("images.parquet").is_file() && out.join("classes.parquet").is_file());
    let missing = BTreeMap::new();
    let ctx = StageContext {
        inputs: &missing,
        ..ctx
    };
    assert!(
        stage
            .run(&ctx)
            .unwrap_err()
            .to_string()
            .contains("input `data`")
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The real sample (30 species), when present.

#[test]
fn birds_sample_indexes_cleanly_and_finds_its_one_recropped_photo() {
    let sample = birds_core::paths::workspace_root().join("../shared/data/birds-sample");
    if !sample.is_dir() {
        eprintln!("skipping: {} not present", sample.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = ingest(&sample, tmp.path(), &IngestParams::default()).unwrap();
    let r = &out.report;
    assert_eq!(r.layout, birds_ingest::params::Layout::Kaggle);
    assert_eq!(r.totals.classes, 30);
    let ok: Vec<(Split, usize, usize)> =
        r.splits.iter().map(|s| (s.split, s.ok, s.errors)).collect();
    assert_eq!(
        ok,
        vec![
            (Split::Train, 1495, 0),
            (Split::Valid, 150, 0),
            (Split::Test, 150, 0)
        ]
    );
    assert_eq!(r.totals.skipped, 0);
    assert!(r.label_merges.is_empty());
    let csv = r.csv.as_ref().unwrap();
    assert_eq!(csv.matched, 1795);
    assert!(
        csv.refused.is_empty()
            && csv.rows_without_files.is_empty()
            && csv.files_without_rows.is_empty()
    );
    assert!(csv.label_disagreements.is_empty() && csv.split_disagreements.is_empty());
    assert_eq!(r.image_sizes.most_common[0].count, 1795);
    assert!(r.classes.iter().all(|c| c.scientific_name.is_some()));
    // The only finding: test/BOBOLINK/4.jpg is the same photograph as train/BOBOLINK/047.jpg, cropped a few pixels
    // differently (checked by eye). The sample's own 256-bit dHash audit missed it.
    let groups: Vec<(birds_ingest::report::DuplicateKind, Vec<&str>)> = r
        .duplicate_groups
        .iter()
        .map(|g| (g.kind, g.examples.iter().map(|f| f.path.as_str()).collect()))
        .collect();
    assert_eq!(
        groups,
        vec![(
            birds_ingest::report::DuplicateKind::Near,
            vec!["test/BOBOLINK/4.jpg", "train/BOBOLINK/047.jpg"]
        )]
    );
    assert_eq!(r.leakage.len(), 1);
    assert_eq!(
        r.anomalies,
        vec![
            "leakage: 2 near-duplicate images span train (1) and test (1) (duplicate group 1)"
                .to_string()
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Docs stay in step with the schema.

#[test]
fn docs_show_the_schemas_from_birds_core() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ingest.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_default();
    for schema in [
        &birds_core::schema::ingest::IMAGES,
        &birds_core::schema::ingest::CLASSES,
    ] {
        let table = schema.to_markdown();
        assert!(
            doc.contains(&table),
            "{} must contain the {} table exactly:\n\n{table}",
            doc_path.display(),
            schema.file
        );
    }
}
