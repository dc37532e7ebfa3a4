//! Links libtorch with an rpath (no LD_LIBRARY_PATH needed) and records its version and location.
//!
//! torch-sys (`links = "tch"`) hands its libtorch lib folder to direct dependants as DEP_TCH_LIBTORCH_LIB.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report a libtorch folder; run `just setup`");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-env=BIRDS_LIBTORCH_LIB={lib}");
    let version_py = std::path::Path::new(&lib).join("../version.py");
    let version = std::fs::read_to_string(&version_py)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("__version__ = ")
                    .map(|v| v.trim_matches(['\'', '"']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BIRDS_LIBTORCH_VERSION={version}");
}
