//! The train stage's params: they live in [`birds_params::train`] (no libtorch), re-exported here.

pub use birds_params::train::*;
