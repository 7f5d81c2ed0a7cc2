//! Giving freed heap memory back to the kernel.

use std::time::Duration;

/// How long after a reload the stopped scrape loops have dropped their
/// state, so that trimming then finds it free.
const TRIM_AFTER_RELOAD: Duration = Duration::from_secs(1);

/// Returns pages the allocator holds free to the kernel. glibc keeps freed
/// heap pages of its per-thread arenas mapped: after a reload stops
/// thousands of scrape loops, the resident size would otherwise stay at
/// its peak although nothing uses it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn return_freed_memory() {
    // SAFETY: malloc_trim takes no pointers; it only walks glibc's own free
    // lists and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators return memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_freed_memory() {}

/// Trims once the loops a reload stopped have finished; off the caller's
/// thread, as trimming a large heap takes a while.
pub fn trim_after_reload() {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async {
            tokio::time::sleep(TRIM_AFTER_RELOAD).await;
            let _ = tokio::task::spawn_blocking(return_freed_memory).await;
        });
    }
}
