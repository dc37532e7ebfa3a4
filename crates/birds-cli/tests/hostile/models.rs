//! Hostile-input cases: models.
