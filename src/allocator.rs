//! The process's memory allocator settings, applied once at start by the
//! binary before any thread allocates (README "Performance").
//!
//! A replay allocates a few large, long-lived columns and many row-group-
//! sized buffers that live for one decode. glibc's defaults serve every
//! block above 32 MiB, and many below it, with a fresh `mmap` that is
//! returned on free, so the next buffer of that size is faulted in and
//! zeroed by the kernel page by page again. Arenas that never map blocks on
//! their own reuse freed memory instead: on the 10M-item warehouse export,
//! page faults fell from about 535k to 405k and kernel time by a quarter.
//! There is one arena per core: with a single one, the decoding threads
//! queue on its lock (parquet allocates a buffer per page and column), and
//! own-history 3M replays ran 15% slower. Results never depend on it;
//! elsewhere than glibc on Linux nothing is changed.

/// Freed memory kept rather than given back, at most (bytes): enough to
/// hold a row group's buffers and the columns of a partition for reuse.
const KEEP_FREED: i32 = 1 << 30;

/// Apply the settings above. Call first thing in `main`, before threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes glibc's allocator parameters; called
    // before any other thread exists, it races with no allocation.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas());
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED);
    }
}

/// One arena per core the process may run on (at most 64).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn arenas() -> i32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(64)) as i32
}
