//! Hostile-input cases: pipeline.
