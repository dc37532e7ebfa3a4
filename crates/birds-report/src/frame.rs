//! Reading the stages' Parquet files column by column, with errors that name the file and the column.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::{ReportError, Result};

/// A Parquet file read whole.
pub struct Frame {
    path: PathBuf,
    df: DataFrame,
}

impl Frame {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| ReportError::file(path, e))?;
        let df = ParquetReader::new(file)
            .finish()
            .map_err(|e| ReportError::file(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            df,
        })
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.df.height()
    }

    fn column(&self, name: &str, dtype: &DataType) -> Result<Column> {
        let col = self
            .df
            .column(name)
            .map_err(|_| ReportError::file(&self.path, format!("no column `{name}`")))?;
        col.cast(dtype)
            .map_err(|e| ReportError::file(&self.path, format!("column `{name}`: {e}")))
    }

    fn bad(&self, name: &str, e: PolarsError) -> ReportError {
        ReportError::file(&self.path, format!("column `{name}`: {e}"))
    }

    /// A string column.
    pub fn str(&self, name: &str) -> Result<Vec<Option<String>>> {
        let col = self.column(name, &DataType::String)?;
        let ca = col.str().map_err(|e| self.bad(name, e))?;
        Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
    }

    /// A string column without nulls (a null is an error naming the row).
    pub fn str_req(&self, name: &str) -> Result<Vec<String>> {
        self.str(name)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.ok_or_else(|| {
                    ReportError::file(&self.path, format!("column `{name}`: null in row {i}"))
                })
            })
            .collect()
    }

    /// An integer column as `u32`.
    pub fn u32(&self, name: &str) -> Result<Vec<Option<u32>>> {
        let col = self.column(name, &DataType::UInt32)?;
        let ca = col.u32().map_err(|e| self.bad(name, e))?;
        Ok(ca.iter().collect())
    }

    /// An integer column as `u32`, nulls read as 0.
    pub fn u32_or0(&self, name: &str) -> Result<Vec<u32>> {
        Ok(self
            .u32(name)?
            .into_iter()
            .map(|v| v.unwrap_or(0))
            .collect())
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
