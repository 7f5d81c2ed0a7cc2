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

/// Caps glibc's malloc arenas at one per core. By default it makes up to
/// eight per core, and memory freed in one (thousands of scrape loops
/// stopped by a reload) stays spread over partly used pages of all of them,
/// which trimming cannot return. Call before any thread starts. A
/// `MALLOC_ARENA_MAX` in the environment is left to glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_malloc_arenas() {
    // An operator's own setting wins.
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(2);
    // SAFETY: mallopt only sets a glibc tunable; called before other
    // threads allocate, it races with nothing.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

/// Other allocators manage their arenas themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_malloc_arenas() {}

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
