//! How the process's allocator treats large blocks.
//!
//! Tensor work allocates and frees blocks of tens of megabytes many times a second (im2col
//! buffers, activations, similarity tiles). glibc's malloc serves every block above its
//! mmap threshold (at most 32 MiB, dynamically) with a fresh `mmap` and returns it with
//! `munmap` when freed, so each such buffer is page-faulted and zeroed by the kernel again:
//! on the relations stage of the smoke profile that was a fifth of the wall time (7 of 35
//! CPU seconds in the kernel). Raising the mmap and trim thresholds keeps freed blocks in
//! the heap for reuse. Peak memory is unchanged (measured: 307 vs 312 MB peak RSS on that
//! stage); memory that was freed is kept by the process until it exits.

/// Largest block still served from the heap, and free space kept at the heap's top (1 GiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEEP_BYTES: libc::c_int = 1 << 30;

/// Keeps freed large blocks in the process for reuse (glibc on Linux; elsewhere the
/// platform's allocator is left as it is). Returns whether the setting took effect. Called
/// once when a compute device is selected; calling it again is harmless.
pub fn keep_freed_blocks() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes two allocator parameters; it is safe to call at any
        // time, from any thread, and reports failure through its return value.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP_BYTES) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_BYTES) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc accepts both thresholds (it refuses values it cannot honour, and a refused
    /// mmap threshold would leave every large tensor on the mmap path).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_thresholds() {
        assert!(keep_freed_blocks());
    }
}
