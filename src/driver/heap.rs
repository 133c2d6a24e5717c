//! driver/heap: gives the process's free heap memory back to the operating system.
//!
//! glibc's malloc keeps freed chunks below its mmap threshold (128 KiB, raised
//! dynamically) in its arenas, and returns only the top of the main heap on its own: a
//! connection's 64 KiB buffers, freed after a burst of connections ends, would stay
//! resident. `malloc_trim(0)` releases every whole free page of every arena
//! (`madvise(MADV_DONTNEED)`), whichever thread freed it. It walks the free lists, so it
//! is called rarely (the TCP endpoint: at most once a second, after it freed buffers).

/// Returns free heap pages to the kernel; whether any were released. A no-op (false)
/// where the C library has no `malloc_trim`.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointer and may be called from any thread at any
        // time; it only takes the arenas' own locks.
        unsafe { libc::malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
