//! The libtorch runtime: versions, CUDA discovery and device selection.

use serde::Serialize;
use tch::Device;

use crate::ModelError;

/// tch version this build links.
pub const TCH_VERSION: &str = "0.24.0";
/// libtorch version found at build time (from the wheel's `version.py`).
pub const LIBTORCH_VERSION: &str = env!("BIRDS_LIBTORCH_VERSION");
/// libtorch's lib folder found at build time (also the binary's rpath).
pub const LIBTORCH_LIB: &str = env!("BIRDS_LIBTORCH_LIB");

/// Loads `libtorch_cuda.so` so that CUDA kernels register with libtorch.
///
/// The linker's `--as-needed` drops libtorch_cuda from the binary's NEEDED list (no symbol of it is referenced),
/// so without this `tch::Cuda::is_available()` is false even on a GPU machine. In the CPU-only venv the load fails
/// cleanly (CUDA libraries absent), which simply means CPU only. Returns the failure reason, if any.
#[allow(unsafe_code)]
pub fn load_cuda() -> Result<(), String> {
    let path = format!("{LIBTORCH_LIB}/libtorch_cuda.so");
    if !std::path::Path::new(&path).exists() {
        return Err(format!("{path} not present"));
    }
    let c_path = std::ffi::CString::new(path.clone()).map_err(|e| e.to_string())?;
    // SAFETY: dlopen with a valid NUL-terminated path; the handle is intentionally never closed.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a thread-local C string or null.
        let err = unsafe { libc::dlerror() };
        let reason = if err.is_null() {
            String::from("unknown dlopen error")
        } else {
            // SAFETY: non-null dlerror result is a valid C string.
            unsafe { std::ffi::CStr::from_ptr(err) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(reason);
    }
    Ok(())
}

pub use birds_core::model::DeviceSpec;

/// The libtorch side of a [`DeviceSpec`].
pub trait DeviceExt {
    /// The concrete device, or an error when CUDA is asked for and absent.
    fn resolve(self) -> Result<Device, ModelError>;
}

impl DeviceExt for DeviceSpec {
    fn resolve(self) -> Result<Device, ModelError> {
        match self {
            DeviceSpec::Auto => Ok(Device::cuda_if_available()),
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => {
                let count = tch::Cuda::device_count() as usize;
                if n < count {
                    Ok(Device::Cuda(n))
                } else {
                    Err(ModelError::device(
                        self.to_string(),
                        format!(
                            "{count} CUDA device(s) visible; on an NVIDIA machine run `BIRDS_CUDA=1 just setup` for the CUDA libtorch"
                        ),
                    ))
                }
            }
        }
    }
}

/// The versions this build links, as a checkpoint records them.
pub fn torch_versions() -> birds_core::runtime::TorchVersions {
    birds_core::runtime::TorchVersions {
        tch: TCH_VERSION.to_string(),
        libtorch: LIBTORCH_VERSION.to_string(),
    }
}

/// Versions and devices, as `birds info` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    /// tch crate version.
    pub tch: &'static str,
    /// libtorch version.
    pub libtorch: &'static str,
    /// libtorch lib folder.
    pub libtorch_lib: &'static str,
    /// Whether CUDA is usable.
    pub cuda_available: bool,
    /// Number of CUDA devices.
    pub cuda_devices: i64,
    /// Whether cuDNN is usable.
    pub cudnn_available: bool,
    /// Why CUDA libraries did not load, when they did not.
    pub cuda_load_error: Option<String>,
    /// Intra-op threads libtorch uses.
    pub threads: i32,
}

/// Collects [`RuntimeInfo`]; `cuda_load_error` is what [`load_cuda`] returned at start-up.
pub fn runtime_info(cuda_load_error: Option<String>) -> RuntimeInfo {
    RuntimeInfo {
        tch: TCH_VERSION,
        libtorch: LIBTORCH_VERSION,
        libtorch_lib: LIBTORCH_LIB,
        cuda_available: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        cuda_load_error,
        threads: tch::get_num_threads(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_specs() {
        assert_eq!("auto".parse::<DeviceSpec>().ok(), Some(DeviceSpec::Auto));
        assert_eq!(
            "CUDA:1".parse::<DeviceSpec>().ok(),
            Some(DeviceSpec::Cuda(1))
        );
        assert_eq!("cuda".parse::<DeviceSpec>().ok(), Some(DeviceSpec::Cuda(0)));
        assert!("tpu".parse::<DeviceSpec>().is_err());
        assert_eq!(DeviceSpec::Cpu.resolve().ok(), Some(Device::Cpu));
        assert!(DeviceSpec::Cuda(99).resolve().is_err());
    }

    #[test]
    fn libtorch_is_the_pinned_version() {
        assert!(LIBTORCH_VERSION.starts_with("2.11.0"), "{LIBTORCH_VERSION}");
    }
}
