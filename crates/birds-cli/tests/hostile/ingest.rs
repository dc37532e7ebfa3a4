//! Hostile-input cases: ingest.
