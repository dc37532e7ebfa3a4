//! # birds-params
//!
//! The params of the stages that need libtorch (`train`, `diagnose`, `evaluate`, `explain`) and their stage
//! declarations ([`StageSpec`](birds_core::stage::StageSpec)), with no libtorch in sight. The `birds` front checks
//! a pipeline, hashes its stages and answers `birds status` with these alone; the work itself runs in `birds-torch`
//! (the engines in `birds-train`, `birds-evaluate` and `birds-explain`, which use the same types).
//!
//! - [`train`] holds `TrainParams` and their resolution by mode.
//! - [`diagnose`] holds `DiagnoseParams`.
//! - [`evaluate`] holds `EvaluateParams`.
//! - [`explain`] holds `ExplainParams` and `CamMethod`.
//! - [`stages`] holds the four declarations.

pub mod diagnose;
pub mod evaluate;
pub mod explain;
pub mod stages;
pub mod train;

/// A param that is missing, unknown or out of range; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// A train param.
    #[error("train params: {0}")]
    Train(String),
    /// A diagnose param.
    #[error("diagnose params: {0}")]
    Diagnose(String),
    /// An evaluate param.
    #[error("invalid evaluate params: {0}")]
    Evaluate(String),
    /// An explain param.
    #[error("explain params: {0}")]
    Explain(String),
    /// A value of a closed set (a CAM method) that is not one of its spellings.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias for birds-params.
pub type Result<T, E = ParamsError> = std::result::Result<T, E>;
