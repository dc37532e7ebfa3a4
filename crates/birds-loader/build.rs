//! Gives this crate's tests and examples an rpath to libtorch (same pattern as crates/birds-models/build.rs).
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
