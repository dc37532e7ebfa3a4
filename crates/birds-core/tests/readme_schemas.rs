//! The README's schema tables are the code's: regenerate them with
//! `cargo run -p birds-core --example schema_markdown` when a schema changes.

#[test]
fn readme_lists_every_schema_as_written_in_code() {
    let readme = birds_core::paths::workspace_root().join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap_or_default();
    assert!(!text.is_empty(), "cannot read {}", readme.display());
    for schema in birds_core::schema::all() {
        assert!(
            text.contains(&schema.to_markdown()),
            "README.md is out of date for {}: run `cargo run -p birds-core --example schema_markdown`",
            schema.file
        );
    }
}
