//! Prints every artifact schema as Markdown, for the README's "Artifact schemas" section:
//! `cargo run -p birds-core --example schema_markdown`.
#![allow(clippy::print_stdout)]

fn main() {
    for schema in birds_core::schema::all() {
        println!("{}", schema.to_markdown());
    }
}
