//! Artifact schemas, written down once: every Parquet file birds writes, column by column.
//!
//! Writers build their frames from these lists (so a renamed column is a compile-time change here), tests check
//! written files against them, and the README's "Artifacts" section mirrors them.

pub mod diagnose;
pub mod evaluate;
pub mod explain;
pub mod ingest;
pub mod preprocess;
pub mod train;

/// A logical column type, as Parquet readers (pandas, pyarrow, polars, duckdb) see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 string.
    Str,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// Signed 64-bit integer.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// Boolean.
    Bool,
    /// List of strings.
    ListStr,
    /// List of 32-bit floats.
    ListF32,
    /// List of unsigned 32-bit integers.
    ListU32,
}

/// One column of an artifact.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Logical type.
    pub ty: ColumnType,
    /// Whether nulls may appear.
    pub nullable: bool,
    /// What it holds.
    pub doc: &'static str,
}

/// A Parquet artifact: its file name and columns in order.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// File name inside the stage's output folder.
    pub file: &'static str,
    /// One row is …
    pub row: &'static str,
    /// Columns in order.
    pub columns: &'static [Column],
}

impl Schema {
    /// Column names in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }

    /// The schema as a Markdown table (used to keep the README in step).
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "`{}`: one row per {}.\n\n| column | type | null | meaning |\n|---|---|---|---|\n",
            self.file, self.row
        );
        for c in self.columns {
            s.push_str(&format!(
                "| `{}` | {:?} | {} | {} |\n",
                c.name,
                c.ty,
                if c.nullable { "yes" } else { "no" },
                c.doc
            ));
        }
        s
    }
}

/// Shorthand for a non-null column.
pub const fn col(name: &'static str, ty: ColumnType, doc: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        doc,
    }
}

/// Shorthand for a nullable column.
pub const fn col_null(name: &'static str, ty: ColumnType, doc: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        doc,
    }
}

/// Every schema birds writes, for docs and tests.
pub fn all() -> Vec<&'static Schema> {
    vec![
        &ingest::IMAGES,
        &ingest::CLASSES,
        &preprocess::PREPROCESSED,
        &train::HISTORY,
        &train::COMPARISON,
        &train::TEST_PREDICTIONS,
        &explain::CAMS,
        &evaluate::PREDICTIONS,
        &evaluate::PER_CLASS,
        &evaluate::CONFUSION,
        &evaluate::MOST_CONFUSED,
        &evaluate::NEEDS_MORE_TRAINING,
        &diagnose::LABEL_ISSUES,
        &diagnose::CLASS_DIAGNOSIS,
    ]
}
