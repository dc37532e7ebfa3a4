//! Process-wide settings the `birds` binary applies at start-up, and the record of which libtorch a model was
//! trained with.

use serde::{Deserialize, Serialize};

/// The libtorch runtime a training run linked, as `checkpoint.json` records it (key `runtime`), so that readers
/// which do not link libtorch themselves (the report) can show it. Absent in checkpoints written before it existed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorchVersions {
    /// Version of the `tch` crate.
    pub tch: String,
    /// Version of libtorch (from the torch wheel), e.g. `2.11.0+cpu`.
    pub libtorch: String,
}

/// glibc malloc returns large freed blocks to the OS with munmap and maps them again on the next allocation.
/// libtorch frees and re-allocates activation buffers every forward pass, so on CPU about half the time went to
/// mmap/munmap (measured: EfficientNet-Lite0 eval ~4x, train ~1.6x slower; see README "Performance").
/// Disabling mmap for large blocks and never trimming the heap removes that cost.
///
/// Both settings hold for the main arena only in effect: a thread other than the main one allocates from its own
/// arena, whose heaps are at most 64 MB, and glibc maps a larger block directly whatever `M_MMAP_MAX` says. The
/// pipeline runner runs stages on worker threads, where Lite0 activations (up to 150 MB at batch 32, 224 px) then
/// went through mmap/munmap again (measured in `birds run`: fine-tune head warm-up 34 → 68 img/s, evaluation
/// 22 → 67 img/s with a single arena). So every thread shares the main arena (`M_ARENA_MAX = 1`); libtorch's
/// large allocations are few, so the shared arena's lock costs nothing measurable.
///
/// Returns whether all three settings were accepted. Environment equivalent:
/// `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 MALLOC_ARENA_MAX=1`.
#[allow(unsafe_code)]
pub fn tune_malloc() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; called before any worker threads exist.
        let a = unsafe { libc::mallopt(libc::M_MMAP_MAX, 0) };
        let b = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) };
        let c = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
        a == 1 && b == 1 && c == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
