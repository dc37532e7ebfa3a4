//! Gives the tests and examples of this crate an rpath to libtorch (torch-sys reports its lib folder to direct
//! dependants as DEP_TCH_LIBTORCH_LIB).
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
