//! The explain stage's params: they live in [`birds_params::explain`] (no libtorch), re-exported here.

pub use birds_params::explain::*;
