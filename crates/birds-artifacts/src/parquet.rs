//! Parquet artifacts: one writer and one reader for every stage.
//!
//! Writers build a frame with [`FrameBuilder`], which takes columns *by name* and places them where the schema
//! says, and write it with [`write_parquet`], which refuses a frame that differs from the schema (names, order,
//! types, nulls) before anything is written, then writes to a temporary file and renames it. Readers open a file
//! with [`Frame::read`] and take typed columns from it; every error names the file, and the column or row.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use birds_core::schema::{ColumnType, Schema};
use polars::prelude::*;

use crate::{ArtifactError, Result};

/// The polars type a schema column is written as.
pub fn dtype_of(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Str => DataType::String,
        ColumnType::U32 => DataType::UInt32,
        ColumnType::U64 => DataType::UInt64,
        ColumnType::I64 => DataType::Int64,
        ColumnType::F32 => DataType::Float32,
        ColumnType::F64 => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::ListStr => DataType::List(Box::new(DataType::String)),
        ColumnType::ListF32 => DataType::List(Box::new(DataType::Float32)),
        ColumnType::ListU32 => DataType::List(Box::new(DataType::UInt32)),
    }
}

/// A list of categoricals: how a list-of-strings column is stored (see [`write_parquet`]).
fn list_of_categorical() -> DataType {
    DataType::List(Box::new(DataType::from_categories(Categories::global())))
}

/// Checks `df` against `schema`: the same column names in the same order, the same types, no nulls where none
/// may be. A list-of-strings column may also be a list of categoricals (how it is stored, so files read back
/// pass).
pub fn check_schema(df: &DataFrame, schema: &Schema) -> std::result::Result<(), String> {
    let names: Vec<&str> = df.columns().iter().map(|c| c.name().as_str()).collect();
    if names != schema.names() {
        return Err(format!(
            "{}: columns {names:?}, schema says {:?}",
            schema.file,
            schema.names()
        ));
    }
    for (col, spec) in df.columns().iter().zip(schema.columns) {
        let want = dtype_of(spec.ty);
        let stored = spec.ty == ColumnType::ListStr && col.dtype() == &list_of_categorical();
        if col.dtype() != &want && !stored {
            return Err(format!(
                "{}: column `{}` is {}, schema says {want}",
                schema.file,
                spec.name,
                col.dtype()
            ));
        }
        if !spec.nullable && col.null_count() > 0 {
            return Err(format!(
                "{}: column `{}` has nulls but may not",
                schema.file, spec.name
            ));
        }
    }
    Ok(())
}

/// Builds a frame for `schema` from columns given by name, in any order; [`finish`](Self::finish) puts them in the
/// schema's order and fails if one is unknown, given twice, missing, of the wrong length or type.
pub struct FrameBuilder<'s> {
    schema: &'s Schema,
    height: usize,
    columns: Vec<Option<Column>>,
    error: Option<String>,
}

impl<'s> FrameBuilder<'s> {
    /// A builder of `height` rows for `schema`.
    pub fn new(schema: &'s Schema, height: usize) -> Self {
        Self {
            schema,
            height,
            columns: vec![None; schema.columns.len()],
            error: None,
        }
    }

    /// Sets column `name` to `values` (anything polars builds a series from: `Vec<u32>`, `Vec<Option<&str>>`, …).
    pub fn set<T, V>(self, name: &str, values: V) -> Self
    where
        Series: NamedFrom<V, T>,
        T: ?Sized,
    {
        if self.error.is_some() {
            return self;
        }
        self.column(Column::new(name.into(), values))
    }

    /// Sets a column built elsewhere, placed by its name.
    pub fn column(mut self, column: Column) -> Self {
        if self.error.is_some() {
            return self;
        }
        let name = column.name().to_string();
        match self.schema.columns.iter().position(|c| c.name == name) {
            None => {
                self.error = Some(format!(
                    "{}: no column `{name}` in the schema {:?}",
                    self.schema.file,
                    self.schema.names()
                ));
            }
            Some(i) if self.columns[i].is_some() => {
                self.error = Some(format!("{}: column `{name}` set twice", self.schema.file));
            }
            Some(i) => self.columns[i] = Some(column),
        }
        self
    }

    /// The frame, columns in the schema's order, checked against it.
    pub fn finish(self) -> std::result::Result<DataFrame, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut columns = Vec::with_capacity(self.columns.len());
        for (spec, col) in self.schema.columns.iter().zip(self.columns) {
            let col = col.ok_or_else(|| {
                format!("{}: column `{}` was not set", self.schema.file, spec.name)
            })?;
            if col.len() != self.height {
                return Err(format!(
                    "{}: column `{}` has {} rows, the frame {}",
                    self.schema.file,
                    spec.name,
                    col.len(),
                    self.height
                ));
            }
            columns.push(col);
        }
        let df = DataFrame::new(self.height, columns).map_err(|e| e.to_string())?;
        check_schema(&df, self.schema)?;
        Ok(df)
    }

    /// [`finish`](Self::finish), then [`write_parquet`] to `path`.
    pub fn write(self, path: &Path) -> Result<()> {
        let schema = self.schema;
        let df = self.finish().map_err(|reason| ArtifactError::Schema {
            path: path.to_path_buf(),
            reason,
        })?;
        write_parquet(path, schema, df)
    }
}

/// Writes `df` to `path` as Parquet after checking it against `schema` (a frame whose columns differ in name,
/// order, type or nulls is refused and nothing is written); temporary file, then rename.
///
/// Lists of strings are stored as lists of categoricals (Arrow dictionaries of plain strings): polars writes
/// strings as Arrow `string_view`, and pyarrow cannot convert a *list* of `string_view` to pandas ("Not
/// implemented type for Arrow list to pandas"); pandas, pyarrow, duckdb and polars all read the dictionaries as
/// lists of strings.
pub fn write_parquet(path: &Path, schema: &Schema, mut df: DataFrame) -> Result<()> {
    let schema_err = |reason: String| ArtifactError::Schema {
        path: path.to_path_buf(),
        reason,
    };
    check_schema(&df, schema).map_err(schema_err)?;
    for spec in schema
        .columns
        .iter()
        .filter(|c| c.ty == ColumnType::ListStr)
    {
        let cast = df
            .column(spec.name)
            .and_then(|c| c.cast(&list_of_categorical()))
            .map_err(|e| schema_err(e.to_string()))?;
        df.replace(spec.name, cast)
            .map_err(|e| schema_err(e.to_string()))?;
    }
    birds_core::atomic::write_with(path, |tmp| -> Result<()> {
        let file = std::fs::File::create(tmp)
            .map_err(|e| birds_core::CoreError::io("creating", tmp, e))?;
        let mut writer = std::io::BufWriter::new(file);
        ParquetWriter::new(&mut writer)
            .finish(&mut df)
            .map_err(|e| ArtifactError::file("writing", path, e))?;
        writer
            .flush()
            .map_err(|e| birds_core::CoreError::io("writing", tmp, e))?;
        Ok(())
    })
}

/// A Parquet file read into memory, with typed column access; every error names the file and the column.
pub struct Frame {
    path: PathBuf,
    df: DataFrame,
}

impl Frame {
    /// Reads every column of `path`.
    pub fn read(path: &Path) -> Result<Self> {
        Self::read_columns(path, None)
    }

    /// Reads only `columns` of `path` (all when `None`); a missing one is an error naming it.
    pub fn read_columns(path: &Path, columns: Option<&[&str]>) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| ArtifactError::reading(path, e))?;
        let reader = ParquetReader::new(file);
        let reader = match columns {
            Some(cols) => reader.with_columns(Some(cols.iter().map(|c| c.to_string()).collect())),
            None => reader,
        };
        let df = reader
            .finish()
            .map_err(|e| ArtifactError::reading(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            df,
        })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.df.height()
    }

    /// The frame itself.
    pub fn frame(&self) -> &DataFrame {
        &self.df
    }

    /// Checks the file against `schema` (names, order, types, nulls).
    pub fn check(&self, schema: &Schema) -> Result<()> {
        check_schema(&self.df, schema).map_err(|reason| ArtifactError::reading(&self.path, reason))
    }

    /// An error about this file.
    pub fn error(&self, reason: impl std::fmt::Display) -> ArtifactError {
        ArtifactError::reading(&self.path, reason)
    }

    fn column(&self, name: &str, dtype: &DataType) -> Result<Column> {
        let col = self
            .df
            .column(name)
            .map_err(|_| self.error(format!("no column `{name}`")))?;
        col.cast(dtype)
            .map_err(|e| self.error(format!("column `{name}`: {e}")))
    }

    fn bad(&self, name: &str, e: PolarsError) -> ArtifactError {
        self.error(format!("column `{name}`: {e}"))
    }

    fn required<T>(&self, name: &str, values: Vec<Option<T>>) -> Result<Vec<T>> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| self.error(format!("column `{name}`: null in row {i}"))))
            .collect()
    }

    /// A string column.
    pub fn str(&self, name: &str) -> Result<Vec<Option<String>>> {
        let col = self.column(name, &DataType::String)?;
        let ca = col.str().map_err(|e| self.bad(name, e))?;
        Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
    }

    /// A string column without nulls (a null is an error naming the row).
    pub fn str_req(&self, name: &str) -> Result<Vec<String>> {
        let values = self.str(name)?;
        self.required(name, values)
    }

    /// An integer column as `u32`.
    pub fn u32(&self, name: &str) -> Result<Vec<Option<u32>>> {
        let col = self.column(name, &DataType::UInt32)?;
        let ca = col.u32().map_err(|e| self.bad(name, e))?;
        Ok(ca.iter().collect())
    }

    /// An integer column as `u32` without nulls.
    pub fn u32_req(&self, name: &str) -> Result<Vec<u32>> {
        let values = self.u32(name)?;
        self.required(name, values)
    }

    /// An integer column as `u32`, nulls read as 0.
    pub fn u32_or0(&self, name: &str) -> Result<Vec<u32>> {
        Ok(self
            .u32(name)?
            .into_iter()
            .map(|v| v.unwrap_or(0))
            .collect())
    }

    /// An integer column as `u64`.
    pub fn u64(&self, name: &str) -> Result<Vec<Option<u64>>> {
        let col = self.column(name, &DataType::UInt64)?;
        let ca = col.u64().map_err(|e| self.bad(name, e))?;
        Ok(ca.iter().collect())
    }

    /// An integer column as `u64` without nulls.
    pub fn u64_req(&self, name: &str) -> Result<Vec<u64>> {
        let values = self.u64(name)?;
        self.required(name, values)
    }

    /// A numeric column as `f64`.
    pub fn f64(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let col = self.column(name, &DataType::Float64)?;
        let ca = col.f64().map_err(|e| self.bad(name, e))?;
        Ok(ca.iter().collect())
    }

    /// A numeric column as `f64`, nulls read as NaN.
    pub fn f64_or_nan(&self, name: &str) -> Result<Vec<f64>> {
        Ok(self
            .f64(name)?
            .into_iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    }

    /// A boolean column.
    pub fn bool(&self, name: &str) -> Result<Vec<Option<bool>>> {
        let col = self.column(name, &DataType::Boolean)?;
        let ca = col.bool().map_err(|e| self.bad(name, e))?;
        Ok(ca.iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use birds_core::schema::train::TEST_PREDICTIONS;

    #[test]
    fn builder_places_columns_by_name_in_schema_order() -> std::result::Result<(), String> {
        let df = FrameBuilder::new(&TEST_PREDICTIONS, 2)
            .set("predicted", vec![3u32, 4])
            .set("index", vec![0u32, 1])
            .set("class_id", vec![3u32, 5])
            .finish()?;
        let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
        assert_eq!(names, TEST_PREDICTIONS.names());
        Ok(())
    }

    #[test]
    fn builder_refuses_unknown_missing_twice_and_short_columns() {
        let unknown = FrameBuilder::new(&TEST_PREDICTIONS, 1)
            .set("nope", vec![0u32])
            .finish()
            .err()
            .unwrap_or_default();
        assert!(unknown.contains("no column `nope`"), "{unknown}");
        let missing = FrameBuilder::new(&TEST_PREDICTIONS, 1)
            .set("index", vec![0u32])
            .set("class_id", vec![0u32])
            .finish()
            .err()
            .unwrap_or_default();
        assert!(missing.contains("`predicted` was not set"), "{missing}");
        let twice = FrameBuilder::new(&TEST_PREDICTIONS, 1)
            .set("index", vec![0u32])
            .set("index", vec![0u32])
            .finish()
            .err()
            .unwrap_or_default();
        assert!(twice.contains("set twice"), "{twice}");
        let short = FrameBuilder::new(&TEST_PREDICTIONS, 2)
            .set("index", vec![0u32, 1])
            .set("class_id", vec![0u32])
            .set("predicted", vec![0u32, 1])
            .finish()
            .err()
            .unwrap_or_default();
        assert!(short.contains("has 1 rows, the frame 2"), "{short}");
        let wrong_type = FrameBuilder::new(&TEST_PREDICTIONS, 1)
            .set("index", vec![0u32])
            .set("class_id", vec![0i64])
            .set("predicted", vec![0u32])
            .finish()
            .err()
            .unwrap_or_default();
        assert!(wrong_type.contains("`class_id` is i64"), "{wrong_type}");
    }
}
