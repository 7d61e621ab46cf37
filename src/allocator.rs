//! The process's memory allocator settings, applied once at start by the
//! binary before any thread allocates (README "Performance").
//!
//! A replay allocates a few large, long-lived columns and many row-group-
//! sized buffers that live for one decode. glibc's defaults serve every
//! block above 32 MiB, and many below it, with a fresh `mmap` that is
//! returned on free, so the next buffer of that size is faulted in and
//! zeroed by the kernel page by page again; and each thread's arena keeps
//! its own free memory. One arena that never maps blocks on its own reuses
//! freed memory instead: on the 10M-item warehouse export, page faults fell
//! from about 535k to 405k and kernel time by a quarter. Results never
//! depend on it; elsewhere than glibc on Linux nothing is changed.

/// Freed memory kept rather than given back, at most (bytes): enough to
/// hold a row group's buffers and the columns of a partition for reuse.
const KEEP_FREED: i32 = 1 << 30;

/// Apply the settings above. Call first thing in `main`, before threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes glibc's allocator parameters; called
    // before any other thread exists, it races with no allocation.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED);
    }
}
