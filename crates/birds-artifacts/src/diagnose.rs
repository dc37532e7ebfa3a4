//! Typed rows of the diagnose stage's Parquet outputs (`label_issues.parquet`, `class_diagnosis.parquet`; columns
//! in [`birds_core::schema::diagnose`]) and their readers, for evaluate (the needs-more-training advice) and the
//! report (the suspects' thumbnails).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ArtifactError, Frame, Result};

/// What a class's learning curve says (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Curve {
    /// Recall still rose by at least `min_gain` from half to all of the class's images: more will likely help.
    Rising,
    /// It rose less: more of the same images will not help much.
    Flat,
    /// Recall with half the images is already ≥ 0.98: nothing left to gain.
    Saturated,
}

impl Curve {
    /// `rising`, `flat` or `saturated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::Rising => "rising",
            Curve::Flat => "flat",
            Curve::Saturated => "saturated",
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Curve {
    type Err = ArtifactError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "rising" => Ok(Curve::Rising),
            "flat" => Ok(Curve::Flat),
            "saturated" => Ok(Curve::Saturated),
            _ => Err(ArtifactError::Input(format!(
                "curve {s:?}: expected rising, flat or saturated"
            ))),
        }
    }
}

/// A row of `class_diagnosis.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDiagnosisRow {
    /// Class id.
    pub class_id: u32,
    /// Label.
    pub label: String,
    /// Training images.
    pub train_images: u32,
    /// Suspected label errors among them.
    pub label_issues: u32,
    /// The likely class most of them go to.
    pub issues_likely: Option<String>,
    /// Out-of-fold recall at 25 %, 50 % and 100 % of the class's training images.
    pub recall: [f64; 3],
    /// The verdict.
    pub curve: Curve,
}

/// A row of `label_issues.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelIssueRow {
    /// 1 = most suspect.
    pub rank: u32,
    /// Path relative to the data root.
    pub path: String,
    /// Data root.
    pub root: String,
    /// The label it was given.
    pub given_label: String,
    /// The likely true class.
    pub likely_label: String,
    /// Out-of-fold probability of the given label.
    pub p_given: f64,
    /// …and of the likely class.
    pub p_likely: f64,
}

/// Reads `class_diagnosis.parquet` (extra columns ignored; a missing or mistyped one, or an unknown curve, is an
/// error naming it).
pub fn read_class_diagnosis(path: &Path) -> Result<Vec<ClassDiagnosisRow>> {
    let f = Frame::read(path)?;
    let (ids, labels, train, issues) = (
        f.u32_req("class_id")?,
        f.str_req("label")?,
        f.u32_req("train_images")?,
        f.u32_req("label_issues")?,
    );
    let likely = f.str("issues_likely")?;
    let (r25, r50, r100) = (
        f.f64_or_nan("recall_25")?,
        f.f64_or_nan("recall_50")?,
        f.f64_or_nan("recall_100")?,
    );
    let curves = f.str_req("curve")?;
    (0..f.height())
        .map(|i| {
            Ok(ClassDiagnosisRow {
                class_id: ids[i],
                label: labels[i].clone(),
                train_images: train[i],
                label_issues: issues[i],
                issues_likely: likely[i].clone(),
                recall: [r25[i], r50[i], r100[i]],
                curve: curves[i].parse().map_err(|e| f.error(e))?,
            })
        })
        .collect()
}

/// Reads `label_issues.parquet` (extra columns ignored; a missing or mistyped one is an error naming it).
pub fn read_label_issues(path: &Path) -> Result<Vec<LabelIssueRow>> {
    let f = Frame::read(path)?;
    let (rank, p, root) = (f.u32_req("rank")?, f.str_req("path")?, f.str_req("root")?);
    let (given, likely) = (f.str_req("given_label")?, f.str_req("likely_label")?);
    let (pg, pl) = (f.f64_or_nan("p_given")?, f.f64_or_nan("p_likely")?);
    Ok((0..f.height())
        .map(|i| LabelIssueRow {
            rank: rank[i],
            path: p[i].clone(),
            root: root[i].clone(),
            given_label: given[i].clone(),
            likely_label: likely[i].clone(),
            p_given: pg[i],
            p_likely: pl[i],
        })
        .collect())
}
