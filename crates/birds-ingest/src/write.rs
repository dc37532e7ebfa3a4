//! Writing `images.parquet` and `classes.parquet` with the columns of `birds_core::schema::ingest`.

use std::path::Path;

use birds_core::schema::{ColumnType, Schema};
use polars::prelude::*;

use crate::error::{IngestError, Result};
use crate::ingest::Row;
use crate::report::ClassCount;

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

/// Checks `df` against `schema`: same column names in the same order, same types, no nulls where none may be.
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
        if col.dtype() != &want {
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

/// Writes the index, one row per file, rows in path order.
pub(crate) fn write_images(path: &Path, root: &str, rows: &[Row]) -> Result<()> {
    let n = rows.len();
    let strs = |f: fn(&Row) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let columns = vec![
        Column::new("path".into(), strs(|r| &r.rel)),
        Column::new("root".into(), vec![root; n]),
        Column::new("split".into(), strs(|r| r.split.as_str())),
        Column::new("label".into(), strs(|r| &r.label)),
        Column::new(
            "class_id".into(),
            rows.iter().map(|r| r.class_id).collect::<Vec<u32>>(),
        ),
        Column::new(
            "width".into(),
            rows.iter().map(|r| r.facts.width).collect::<Vec<_>>(),
        ),
        Column::new(
            "height".into(),
            rows.iter().map(|r| r.facts.height).collect::<Vec<_>>(),
        ),
        Column::new(
            "color_type".into(),
            rows.iter()
                .map(|r| r.facts.color_type.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "format".into(),
            rows.iter()
                .map(|r| r.facts.format.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "file_bytes".into(),
            rows.iter()
                .map(|r| r.facts.file_bytes)
                .collect::<Vec<u64>>(),
        ),
        Column::new(
            "blake3".into(),
            rows.iter()
                .map(|r| r.facts.blake3.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "phash".into(),
            rows.iter().map(|r| r.facts.phash).collect::<Vec<_>>(),
        ),
        Column::new(
            "status".into(),
            strs(|r| {
                if r.facts.error.is_none() {
                    "ok"
                } else {
                    "error"
                }
            }),
        ),
        Column::new(
            "error".into(),
            rows.iter()
                .map(|r| r.facts.error.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "duplicate_group".into(),
            rows.iter().map(|r| r.duplicate_group).collect::<Vec<_>>(),
        ),
    ];
    write_frame(path, n, columns, &birds_core::schema::ingest::IMAGES)
}

/// Writes one row per class, in class-id order.
pub(crate) fn write_classes(path: &Path, classes: &[ClassCount]) -> Result<()> {
    let n = classes.len();
    let u32s = |f: fn(&ClassCount) -> u32| classes.iter().map(f).collect::<Vec<u32>>();
    let columns = vec![
        Column::new("class_id".into(), u32s(|c| c.class_id)),
        Column::new(
            "label".into(),
            classes.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "scientific_name".into(),
            classes
                .iter()
                .map(|c| c.scientific_name.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new("train".into(), u32s(|c| c.train)),
        Column::new("valid".into(), u32s(|c| c.valid)),
        Column::new("test".into(), u32s(|c| c.test)),
    ];
    write_frame(path, n, columns, &birds_core::schema::ingest::CLASSES)
}

fn write_frame(path: &Path, height: usize, columns: Vec<Column>, schema: &Schema) -> Result<()> {
    let parquet_err = |source| IngestError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut df = DataFrame::new(height, columns).map_err(parquet_err)?;

    check_schema(&df, schema).map_err(|m| parquet_err(PolarsError::SchemaMismatch(m.into())))?;
    birds_core::atomic::write_with(path, |tmp| -> Result<()> {
        let file = std::fs::File::create(tmp)
            .map_err(|e| birds_core::CoreError::io("creating", tmp, e))?;
        let mut writer = std::io::BufWriter::new(file);
        ParquetWriter::new(&mut writer)
            .finish(&mut df)
            .map_err(parquet_err)?;
        use std::io::Write as _;
        writer
            .flush()
            .map_err(|e| birds_core::CoreError::io("writing", tmp, e))?;
        Ok(())
    })
}
