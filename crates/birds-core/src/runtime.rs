//! Process-wide settings the `birds` binary applies at start-up.

/// glibc malloc returns large freed blocks to the OS with munmap and maps them again on the next allocation.
/// libtorch frees and re-allocates activation buffers every forward pass, so on CPU about half the time went to
/// mmap/munmap (measured: EfficientNet-Lite0 eval ~4x, train ~1.6x slower; see README "Performance").
/// Disabling mmap for large blocks and never trimming the heap removes that cost. Returns whether both settings
/// were accepted. Environment equivalent: `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000`.
#[allow(unsafe_code)]
pub fn tune_malloc() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; called before any worker threads exist.
        let a = unsafe { libc::mallopt(libc::M_MMAP_MAX, 0) };
        let b = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) };
        a == 1 && b == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
