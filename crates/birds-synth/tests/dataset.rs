//! Whole-dataset tests on small images: determinism, CSV vs disk, masks vs pixels, defects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use birds_synth::species::species;
use birds_synth::truth::read_boxes;
use birds_synth::{SynthParams, generate, write_dataset};

type R = Result<(), Box<dyn std::error::Error>>;

fn small(seed: u64) -> SynthParams {
    SynthParams {
        classes: 4,
        train: 3,
        valid: 2,
        test: 2,
        size: 64,
        seed,
        defects: false,
    }
}

/// Every file under `root` (relative path → bytes), sorted.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let (Ok(rel), Ok(bytes)) = (p.strip_prefix(root), std::fs::read(&p)) {
                out.insert(rel.to_string_lossy().replace('\\', "/"), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn tree_hash(root: &Path) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    for (path, bytes) in tree(root) {
        h.update(path.as_bytes());
        h.update(&[0]);
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.finalize()
}

/// `(filepaths, labels, data set)` rows of birds.csv, checking the header and the class id format.
/// `(filepaths, labels, data set)` of each row.
type Rows = Vec<(String, String, String)>;

fn csv_rows(root: &Path) -> Result<Rows, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(root.join("birds.csv"))?;
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("class id,filepaths,labels,data set,scientific name")
    );
    let mut rows = Vec::new();
    for line in lines {
        let f = birds_synth::truth::split_csv_line(line);
        assert_eq!(f.len(), 5, "{line}");
        assert!(
            f[0].ends_with(".0") && f[0].trim_end_matches(".0").parse::<u32>().is_ok(),
            "{line}"
        );
        rows.push((f[1].clone(), f[2].clone(), f[3].clone()));
    }
    Ok(rows)
}

#[test]
fn same_seed_same_bytes_other_seed_differs() -> R {
    let a = tempfile::tempdir()?;
    let b = tempfile::tempdir()?;
    let c = tempfile::tempdir()?;
    generate(&small(7), a.path())?;
    // Different thread counts must not change a byte.
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()?
        .install(|| generate(&small(7), b.path()))?;
    generate(&small(8), c.path())?;
    assert_eq!(tree_hash(a.path()), tree_hash(b.path()));
    let (ta, tc) = (tree(a.path()), tree(c.path()));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tc.keys().collect::<Vec<_>>());
    assert_ne!(tree_hash(a.path()), tree_hash(c.path()));
    let differing = ta
        .iter()
        .filter(|(k, v)| k.ends_with(".jpg") && tc.get(*k) != Some(*v))
        .count();
    assert_eq!(differing, 4 * 7, "every image changes with the seed");
    Ok(())
}

#[test]
fn csv_lists_exactly_the_images_on_disk() -> R {
    let dir = tempfile::tempdir()?;
    let summary = generate(&small(1), dir.path())?;
    let rows = csv_rows(dir.path())?;
    let listed: BTreeSet<String> = rows.iter().map(|r| r.0.clone()).collect();
    let on_disk: BTreeSet<String> = tree(dir.path())
        .into_keys()
        .filter(|k| k.ends_with(".jpg"))
        .collect();
    assert_eq!(listed, on_disk);
    assert_eq!(rows.len(), 4 * 7);
    assert_eq!(summary.images, [12, 8, 8]);
    for (path, label, split) in &rows {
        assert_eq!(
            path,
            &format!("{split}/{label}/{}", path.rsplit('/').next().unwrap_or(""))
        );
        let img = image::open(dir.path().join(path))?;
        assert_eq!((img.width(), img.height()), (64, 64));
    }
    let labels: BTreeSet<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let expected: BTreeSet<String> = species(4)
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.label)
        .collect();
    assert_eq!(labels, expected.iter().map(String::as_str).collect());
    // Class ids are the index in the sorted labels.
    let text = std::fs::read_to_string(dir.path().join("birds.csv"))?;
    let sorted: Vec<&String> = expected.iter().collect();
    for line in text.lines().skip(1) {
        let f = birds_synth::truth::split_csv_line(line);
        let id = f[0].trim_end_matches(".0").parse::<usize>()?;
        assert_eq!(sorted[id], &f[2]);
    }
    let sheet = image::open(dir.path().join("contact_sheet.png"))?;
    assert!(sheet.height() > 4 * 64, "one row per species");
    Ok(())
}

fn gray_mask(path: &Path) -> Result<image::GrayImage, Box<dyn std::error::Error>> {
    let m = image::open(path)?;
    assert!(
        matches!(m.color(), image::ColorType::L8),
        "{}",
        path.display()
    );
    Ok(m.to_luma8())
}

#[test]
fn masks_cover_the_drawn_bird() -> R {
    let dir = tempfile::tempdir()?;
    let params = SynthParams {
        size: 96,
        ..small(3)
    };
    generate(&params, dir.path())?;
    let list = species(params.classes).unwrap_or_default();
    let boxes = read_boxes(dir.path())?;
    assert_eq!(boxes.len(), 4 * 7);
    let (mut inside_share, mut outside_share) = (0.0f64, 0.0f64);
    for b in &boxes {
        let img = image::open(dir.path().join(&b.path))?.to_rgb8();
        let mask = gray_mask(&dir.path().join(&b.mask))?;
        assert_eq!(mask.dimensions(), img.dimensions());
        assert!(
            mask.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255),
            "binary mask"
        );
        let area = mask.pixels().filter(|p| p.0[0] == 255).count() as u64;
        assert_eq!(area, b.mask_pixels);
        let total = u64::from(img.width() * img.height());
        assert!(
            area > total / 50 && area < total * 3 / 4,
            "{}: area {area}",
            b.path
        );
        // Box = the mask's extent, inside the image, and the bird does not touch the border.
        assert!(b.x_min > 0 && b.y_min > 0 && b.x_max < img.width() && b.y_max < img.height());
        for (x, y, p) in mask.enumerate_pixels() {
            let in_box = x >= b.x_min && x < b.x_max && y >= b.y_min && y < b.y_max;
            assert!(p.0[0] == 0 || in_box);
        }
        // The species' own colours dominate inside the mask.
        let s = list.iter().find(|s| s.label == b.label).ok_or("label")?;
        let colours: Vec<[f32; 3]> = s.colours().iter().map(|c| c.rgb().map(f32::from)).collect();
        let near = |p: &image::Rgb<u8>| {
            colours.iter().any(|c| {
                let d: f32 = (0..3).map(|k| (c[k] - f32::from(p.0[k])).powi(2)).sum();
                d.sqrt() < 70.0
            })
        };
        let (mut ni, mut nin, mut no, mut nout) = (0u32, 0u32, 0u32, 0u32);
        for (x, y, p) in img.enumerate_pixels() {
            if mask.get_pixel(x, y).0[0] == 255 {
                ni += 1;
                nin += u32::from(near(p));
            } else {
                no += 1;
                nout += u32::from(near(p));
            }
        }
        inside_share += f64::from(nin) / f64::from(ni.max(1));
        outside_share += f64::from(nout) / f64::from(no.max(1));
    }
    let n = boxes.len() as f64;
    let (inside_share, outside_share) = (inside_share / n, outside_share / n);
    assert!(
        inside_share > 0.6 && inside_share > 2.5 * outside_share,
        "species colours inside the mask {inside_share:.2}, outside {outside_share:.2}"
    );
    Ok(())
}

#[test]
fn defects_are_planted_as_described() -> R {
    let dir = tempfile::tempdir()?;
    let params = SynthParams {
        defects: true,
        ..small(5)
    };
    let summary = generate(&params, dir.path())?;
    let kinds: Vec<&str> = summary.defects.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        vec![
            "label_whitespace",
            "cross_split_near_duplicate",
            "truncated_file"
        ]
    );
    let rows = csv_rows(dir.path())?;
    let on_disk: BTreeSet<String> = tree(dir.path())
        .into_keys()
        .filter(|k| k.ends_with(".jpg"))
        .collect();
    assert_eq!(
        rows.iter().map(|r| r.0.clone()).collect::<BTreeSet<_>>(),
        on_disk
    );
    let list = species(4).unwrap_or_default();
    let variant = list[0].label.replacen(' ', "  ", 1);
    let valid_labels: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.2 == "valid")
        .map(|r| r.1.as_str())
        .collect();
    assert!(valid_labels.contains(variant.as_str()), "{valid_labels:?}");
    assert!(!valid_labels.contains(list[0].label.as_str()));
    // The truncated file is a JPEG start without its end-of-image marker (lenient decoders fill the rest with
    // grey, so ingest checks the marker); the duplicate decodes and is close to its source.
    let trunc = std::fs::read(dir.path().join(PathBuf::from(&summary.defects[2].paths[0])))?;
    assert!(trunc.starts_with(&[0xFF, 0xD8]) && !trunc.ends_with(&[0xFF, 0xD9]));
    let whole = std::fs::read(dir.path().join(&rows[0].0))?;
    assert!(whole.ends_with(&[0xFF, 0xD9]));
    let (src, dup) = (&summary.defects[1].paths[0], &summary.defects[1].paths[1]);
    assert!(src.starts_with("train/") && !dup.starts_with("train/"));
    let a = image::open(dir.path().join(src))?.to_rgb8();
    let b = image::open(dir.path().join(dup))?.to_rgb8();
    let mean_abs: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| f64::from((i16::from(*x) - i16::from(*y)).abs()))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    assert!(mean_abs > 1.0 && mean_abs < 15.0, "{mean_abs}");
    Ok(())
}

#[test]
fn write_dataset_refuses_foreign_folders_and_replaces_its_own() -> R {
    let dir = tempfile::tempdir()?;
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign)?;
    std::fs::write(foreign.join("keep.txt"), b"mine")?;
    let p = SynthParams {
        classes: 2,
        train: 1,
        valid: 1,
        test: 1,
        size: 48,
        ..Default::default()
    };
    let e = write_dataset(&p, &foreign, true)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("not a synth dataset"), "{e}");
    assert!(foreign.join("keep.txt").is_file());
    let out = dir.path().join("synth");
    write_dataset(&p, &out, false)?;
    let e = write_dataset(&p, &out, false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("not empty"), "{e}");
    let bigger = SynthParams { classes: 3, ..p };
    write_dataset(&bigger, &out, true)?;
    assert_eq!(csv_rows(&out)?.len(), 9);
    let leftovers = std::fs::read_dir(dir.path())?.count();
    assert_eq!(leftovers, 2, "no temporary folders left behind");
    Ok(())
}

#[test]
fn label_quirk_spellings_and_shape_counts() -> R {
    let spec = birds_synth::SynthSpec {
        classes: 7,
        train: 2,
        train_max: 6,
        valid: 2,
        test: 1,
        size: 48,
        odd_sizes: 1,
        label_quirk: true,
        near_duplicates: 2,
        ..birds_synth::SynthSpec::default()
    };
    let (params, shape) = spec.parts();
    let dir = tempfile::tempdir()?;
    let summary = birds_synth::generate_shaped(&params, &shape, dir.path())?;
    let quirk = summary
        .defects
        .iter()
        .find(|d| d.kind == "label_quirk")
        .ok_or("no label_quirk")?;
    let two = quirk.paths[0].trim_start_matches("train/").to_string();
    let one = quirk.paths[1].trim_start_matches("valid/").to_string();
    assert_eq!(two.replacen("  ", " ", 1), one);
    assert!(dir.path().join("train").join(&two).is_dir());
    assert!(dir.path().join("test").join(&two).is_dir());
    assert!(dir.path().join("valid").join(&one).is_dir());
    assert!(!dir.path().join("valid").join(&two).exists());
    // birds.csv: the folder spelling in filepaths, a third spelling in labels, for every row of the class.
    let rows = csv_rows(dir.path())?;
    let class_rows: Vec<_> = rows
        .iter()
        .filter(|(p, _, _)| p.contains(&format!("/{two}/")) || p.contains(&format!("/{one}/")))
        .collect();
    assert!(class_rows.len() > 4, "{class_rows:?}");
    for (_, label, _) in &class_rows {
        assert_ne!(label, &two);
        assert_ne!(label, &one);
        assert_ne!(
            label.split_whitespace().collect::<Vec<_>>(),
            one.split_whitespace().collect::<Vec<_>>()
        );
    }
    // Counts: between train and train_max, both ends present; valid/test as asked; odd size on disk.
    let counts = birds_synth::train_counts(&params, &shape);
    assert_eq!(summary.images, [counts.iter().sum::<usize>(), 14, 7]);
    assert_eq!(
        (counts.iter().min(), counts.iter().max()),
        (Some(&2), Some(&6))
    );
    let odd = summary
        .defects
        .iter()
        .find(|d| d.kind == "odd_size")
        .ok_or("no odd_size")?;
    let img = image::open(dir.path().join(&odd.paths[0]))?;
    assert_eq!((img.width(), img.height()), (84, 140));
    let mask = image::open(
        dir.path()
            .join(birds_synth::truth::mask_path_for(&odd.paths[0])),
    )?;
    assert_eq!((mask.width(), mask.height()), (84, 140));
    // Same params, same bytes.
    let again = tempfile::tempdir()?;
    birds_synth::generate_shaped(&params, &shape, again.path())?;
    assert_eq!(tree_hash(dir.path()), tree_hash(again.path()));
    Ok(())
}

/// A small run of `classes` species × 5 training images with `label_errors`.
fn with_label_errors(seed: u64, label_errors: f64) -> (SynthParams, birds_synth::DatasetShape) {
    birds_synth::SynthSpec {
        classes: 6,
        train: 5,
        valid: 2,
        test: 2,
        size: 48,
        seed,
        label_errors,
        ..birds_synth::SynthSpec::default()
    }
    .parts()
}

/// Every row of birds.csv as its five fields.
fn csv_fields(root: &Path) -> Result<Vec<Vec<String>>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(root.join("birds.csv"))?;
    Ok(text
        .lines()
        .skip(1)
        .map(birds_synth::truth::split_csv_line)
        .collect())
}

#[test]
fn label_errors_are_filed_under_look_alikes() -> R {
    let (params, shape) = with_label_errors(11, 0.2);
    let (plain_params, plain_shape) = with_label_errors(11, 0.0);
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let summary = birds_synth::generate_shaped(&params, &shape, a.path())?;
    let plain = birds_synth::generate_shaped(&plain_params, &plain_shape, b.path())?;
    assert!(plain.label_errors.is_empty());
    // round(0.2 × 30 training images), one per species (equal counts: spread evenly).
    let errors = &summary.label_errors;
    assert_eq!(errors.len(), 6, "{errors:#?}");
    let true_labels: BTreeSet<&str> = errors.iter().map(|e| e.true_label.as_str()).collect();
    assert_eq!(true_labels.len(), 6, "{errors:#?}");
    assert_eq!(birds_synth::truth::read_label_errors(a.path())?, *errors);
    assert_eq!(summary.images, plain.images);
    // Each given label is the true species' look-alike; the file lies under it, and birds.csv lists it so (label,
    // class id, scientific name).
    let list = species(6).ok_or("species")?;
    let look = birds_synth::species::look_alikes(&list);
    let mut sorted: Vec<&str> = list.iter().map(|s| s.label.as_str()).collect();
    sorted.sort_unstable();
    let rows = csv_fields(a.path())?;
    for e in errors {
        assert_ne!(e.true_label, e.given_label);
        let t = list
            .iter()
            .position(|s| s.label == e.true_label)
            .ok_or("true label")?;
        let g = look[t].ok_or("no look-alike")?;
        assert_eq!(e.given_label, list[g].label);
        assert!(
            e.path.starts_with(&format!("train/{}/", e.given_label)),
            "{e:?}"
        );
        assert!(a.path().join(&e.path).is_file(), "{e:?}");
        let row = rows
            .iter()
            .find(|r| r[1] == e.path)
            .ok_or("not in birds.csv")?;
        assert_eq!(row[2], e.given_label);
        assert_eq!(row[3], "train");
        let id: usize = row[0].trim_end_matches(".0").parse()?;
        assert_eq!(sorted[id], e.given_label);
        assert_eq!(row[4], list[g].scientific_name);
    }
    // A designed pair among the first six: the errors of CRIMSON FINCH go to CRIMSON CRESTED FINCH.
    assert!(
        errors
            .iter()
            .filter(|e| e.true_label == list[1].label)
            .all(|e| e.given_label == list[0].label)
    );
    // birds.csv lists exactly the files on disk, no name collided, and every folder's rows stay together.
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    let jpgs = |t: &BTreeMap<String, Vec<u8>>| {
        t.keys()
            .filter(|k| k.ends_with(".jpg"))
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let listed: BTreeSet<String> = rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(listed, jpgs(&ta));
    assert_eq!(jpgs(&ta).len(), jpgs(&tb).len());
    // Here the species come in twin pairs that trade one image each: every folder keeps its file names.
    assert_eq!(jpgs(&ta), jpgs(&tb));
    let folders: Vec<&str> = rows
        .iter()
        .map(|r| r[1].rsplit_once('/').map_or("", |(d, _)| d))
        .collect();
    let mut seen = BTreeSet::new();
    for w in folders.windows(2) {
        if w[0] != w[1] {
            assert!(seen.insert(w[0]), "{} listed in two runs", w[0]);
        }
    }
    // Pixels and masks unchanged: the same image and mask files, only some of them elsewhere; valid and test
    // (and their masks) byte for byte where they were.
    let bytes_of = |t: &BTreeMap<String, Vec<u8>>, ext: &str| {
        let mut v: Vec<Vec<u8>> = t
            .iter()
            .filter(|(k, _)| k.ends_with(ext))
            .map(|(_, v)| v.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(bytes_of(&ta, ".jpg"), bytes_of(&tb, ".jpg"));
    assert_eq!(bytes_of(&ta, ".png"), bytes_of(&tb, ".png"));
    for (k, v) in tb
        .iter()
        .filter(|(k, _)| !k.contains("train/") && k.contains('/'))
    {
        assert_eq!(ta.get(k), Some(v), "{k} changed");
    }
    assert_eq!(ta.get("contact_sheet.png"), tb.get("contact_sheet.png"));
    let from = moved_from(&ta, &tb, errors)?;
    let mut originals = from.clone();
    originals.sort();
    originals.dedup();
    assert_eq!(originals.len(), errors.len(), "{from:?}");
    // boxes.csv follows the images: every row's image and mask exist, labelled as birds.csv labels them.
    let boxes = read_boxes(a.path())?;
    assert_eq!(
        boxes
            .iter()
            .map(|b| b.path.clone())
            .collect::<BTreeSet<_>>(),
        listed
    );
    for bx in &boxes {
        assert!(a.path().join(&bx.mask).is_file(), "{}", bx.mask);
        assert_eq!(bx.mask, birds_synth::truth::mask_path_for(&bx.path));
        let row = rows.iter().find(|r| r[1] == bx.path).ok_or("box row")?;
        assert_eq!(bx.label, row[2]);
    }
    // Same seed: the same list and bytes; another seed: other images chosen.
    let again = tempfile::tempdir()?;
    let same = birds_synth::generate_shaped(&params, &shape, again.path())?;
    assert_eq!(same.label_errors, *errors);
    assert_eq!(tree_hash(a.path()), tree_hash(again.path()));
    let (other_params, other_shape) = with_label_errors(12, 0.2);
    let (c, d) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let other = birds_synth::generate_shaped(&other_params, &other_shape, c.path())?;
    generate(&other_params, d.path())?;
    assert_eq!(other.label_errors.len(), 6);
    assert_ne!(
        moved_from(&tree(c.path()), &tree(d.path()), &other.label_errors)?,
        from
    );
    Ok(())
}

/// For each label error of the dataset `with` (files of the tree), the path its image and mask have in the same
/// dataset drawn without label errors (`without`): one of its true species' training images.
fn moved_from(
    with: &BTreeMap<String, Vec<u8>>,
    without: &BTreeMap<String, Vec<u8>>,
    errors: &[birds_synth::LabelError],
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for e in errors {
        let (own, _) = without
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("train/{}/", e.true_label)))
            .find(|(_, v)| Some(*v) == with.get(&e.path))
            .ok_or("moved image is none of its species'")?;
        let mask = birds_synth::truth::mask_path_for(&e.path);
        assert_eq!(
            with.get(&mask),
            without.get(&birds_synth::truth::mask_path_for(own)),
            "{mask}"
        );
        out.push(own.clone());
    }
    Ok(out)
}

#[test]
fn label_errors_off_write_what_they_did_and_out_of_range_is_refused() -> R {
    // 0: nothing planted, no field in synth.json, the same bytes as without the shape at all.
    let (params, shape) = with_label_errors(4, 0.0);
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let summary = birds_synth::generate_shaped(&params, &shape, a.path())?;
    generate(&params, b.path())?;
    assert!(summary.label_errors.is_empty());
    let json = std::fs::read_to_string(a.path().join("synth.json"))?;
    assert!(!json.contains("label_errors"), "{json}");
    assert!(birds_synth::truth::read_label_errors(a.path())?.is_empty());
    assert_eq!(tree_hash(a.path()), tree_hash(b.path()));
    // A fraction rounding to no image plants none.
    let (params, shape) = with_label_errors(4, 0.01);
    let c = tempfile::tempdir()?;
    assert!(
        birds_synth::generate_shaped(&params, &shape, c.path())?
            .label_errors
            .is_empty()
    );
    // Out of range, or nowhere to file an image: refused, naming the param.
    for (classes, f) in [(6, 0.5), (6, 0.9), (6, -0.01), (6, f64::NAN), (1, 0.1)] {
        let spec = birds_synth::SynthSpec {
            classes,
            label_errors: f,
            ..birds_synth::SynthSpec::default()
        };
        let e = spec
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`label_errors`"), "{classes} {f}: {e}");
    }
    Ok(())
}

#[test]
fn label_errors_with_every_other_quirk_stay_consistent() -> R {
    let spec = birds_synth::SynthSpec {
        classes: 7,
        train: 2,
        train_max: 6,
        valid: 2,
        test: 1,
        size: 48,
        seed: 3,
        odd_sizes: 2,
        label_quirk: true,
        near_duplicates: 2,
        defects: true,
        label_errors: 0.3,
        ..birds_synth::SynthSpec::default()
    };
    let (params, shape) = spec.parts();
    let counts = birds_synth::train_counts(&params, &shape);
    let dir = tempfile::tempdir()?;
    let summary = birds_synth::generate_shaped(&params, &shape, dir.path())?;
    let expected = (0.3 * counts.iter().sum::<usize>() as f64).round() as usize;
    assert_eq!(summary.label_errors.len(), expected);
    let rows = csv_fields(dir.path())?;
    let listed: BTreeSet<String> = rows.iter().map(|r| r[1].clone()).collect();
    let on_disk: BTreeSet<String> = tree(dir.path())
        .into_keys()
        .filter(|k| k.ends_with(".jpg"))
        .collect();
    assert_eq!(listed, on_disk);
    assert_eq!(listed.len(), summary.total(), "a file name collided");
    for e in &summary.label_errors {
        assert!(listed.contains(&e.path), "{e:?}");
        assert!(
            dir.path()
                .join(birds_synth::truth::mask_path_for(&e.path))
                .is_file()
        );
    }
    for d in &summary.defects {
        for p in d.paths.iter().filter(|p| p.ends_with(".jpg")) {
            assert!(dir.path().join(p).is_file(), "{}: {p}", d.kind);
        }
    }
    for bx in read_boxes(dir.path())? {
        assert!(listed.contains(&bx.path) && dir.path().join(&bx.mask).is_file());
    }
    Ok(())
}
