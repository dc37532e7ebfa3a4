//! The evaluate stage's params: they live in [`birds_params::evaluate`] (no libtorch), re-exported here.

pub use birds_params::evaluate::*;
