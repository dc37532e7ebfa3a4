//! The one Parquet writer refuses any frame whose columns are not in its schema's order, for every artifact birds
//! writes, and loses nothing when it does: the file already there is left byte for byte, and no temporary file
//! stays behind. Frames built by name ([`FrameBuilder`]) come out in the schema's order whatever order they are
//! given in.

use birds_artifacts::{ArtifactError, Frame, FrameBuilder, dtype_of, write_parquet};
use birds_core::schema::{self, Schema};
use polars::prelude::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An empty frame with `schema`'s columns, in the order of `order` (indices into the schema's columns).
fn empty_frame(schema: &Schema, order: &[usize]) -> PolarsResult<DataFrame> {
    let columns: Vec<Column> = order
        .iter()
        .map(|&i| {
            let spec = &schema.columns[i];
            Series::new_empty(spec.name.into(), &dtype_of(spec.ty)).into_column()
        })
        .collect();
    DataFrame::new(0, columns)
}

fn files_in(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    Ok(names)
}

#[test]
fn every_writer_refuses_columns_out_of_order_and_keeps_the_old_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    for schema in schema::all() {
        let n = schema.columns.len();
        assert!(
            n >= 2,
            "{}: a schema of one column cannot be out of order",
            schema.file
        );
        let path = dir.path().join(schema.file);
        let in_order: Vec<usize> = (0..n).collect();
        write_parquet(&path, schema, empty_frame(schema, &in_order)?)?;
        Frame::read(&path)?.check(schema)?;
        let before = std::fs::read(&path)?;
        let listing = files_in(dir.path())?;

        // The first two columns swapped, and the last two.
        let mut first_swapped = in_order.clone();
        first_swapped.swap(0, 1);
        let mut last_swapped = in_order.clone();
        last_swapped.swap(n - 2, n - 1);
        for order in [first_swapped, last_swapped] {
            let err = write_parquet(&path, schema, empty_frame(schema, &order)?).err();
            let Some(ArtifactError::Schema {
                path: named,
                reason,
            }) = &err
            else {
                return Err(format!(
                    "{}: order {order:?} was not refused as a schema error: {err:?}",
                    schema.file
                )
                .into());
            };
            assert_eq!(named, &path);
            let (a, b) = (
                schema.columns[order[0]].name,
                schema.columns[order[n - 1]].name,
            );
            assert!(
                reason.contains("schema says") && reason.contains(a) && reason.contains(b),
                "{}: {reason}",
                schema.file
            );
            assert_eq!(
                std::fs::read(&path)?,
                before,
                "{}: the old file changed",
                schema.file
            );
            assert_eq!(
                files_in(dir.path())?,
                listing,
                "{}: a file was left behind",
                schema.file
            );
        }
    }
    Ok(())
}

/// Given by name in reverse order, the columns are written in the schema's order.
#[test]
fn frames_built_by_name_are_written_in_schema_order() -> TestResult {
    let dir = tempfile::tempdir()?;
    let schema = &schema::train::TEST_PREDICTIONS;
    let mut builder = FrameBuilder::new(schema, 0);
    for spec in schema.columns.iter().rev() {
        builder =
            builder.column(Series::new_empty(spec.name.into(), &dtype_of(spec.ty)).into_column());
    }
    let path = dir.path().join(schema.file);
    builder.write(&path)?;
    let f = Frame::read(&path)?;
    let names: Vec<&str> = f
        .frame()
        .get_column_names()
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(names, schema.names());
    Ok(())
}
