//! `tune_malloc` holds on worker threads too: a 150 MB block allocated on a spawned thread (where the pipeline
//! runner executes stages) comes from the shared heap, not from a direct mmap (glibc maps blocks larger than a
//! non-main arena's 64 MB heap directly, whatever `M_MMAP_MAX` says, unless every thread shares the main arena).
//! Checked through glibc's own counter of directly mapped bytes (`mallinfo2().hblkhd`), not through timing.
#![allow(unsafe_code, clippy::print_stdout)]

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    assert!(
        birds_core::runtime::tune_malloc(),
        "mallopt refused a setting"
    );
    let mapped = |bytes: usize| -> usize {
        // SAFETY: mallinfo2 only reads allocator statistics.
        let before = unsafe { libc::mallinfo2() }.hblkhd;
        let block = vec![1u8; bytes];
        let during = unsafe { libc::mallinfo2() }.hblkhd;
        std::hint::black_box(&block);
        during.saturating_sub(before)
    };
    let on_main = mapped(150 << 20);
    let on_worker = std::thread::spawn(move || mapped(150 << 20))
        .join()
        .unwrap_or(usize::MAX);
    println!("directly mapped: main thread {on_main} bytes, worker thread {on_worker} bytes");
    assert_eq!(on_main, 0, "main thread: the block was mmapped");
    assert_eq!(on_worker, 0, "worker thread: the block was mmapped");
    println!("test result: ok. 1 passed; 0 failed");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {}
