//! The hostile-input suite: what a careless or hostile user does to birds (bad images, broken CSV and YAML,
//! signals, closed pipes, symlink loops, outs over the user's own files), each case with the behaviour birds must
//! show instead: a clear message naming the file, nothing of the user's lost, no hang.
//!
//! Every case drives the real `birds` binary in a temporary project ([`util::Project`]); the suite is kept small and
//! fast (tiny images, `cmd:` stages) so that it runs in CI in well under a minute.

#[path = "../util/mod.rs"]
mod util;

mod images;
mod ingest;
mod models;
mod pipeline;
mod pipes;
mod yaml;
