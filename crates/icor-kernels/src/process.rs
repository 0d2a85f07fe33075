//! Process-wide settings for the kernels' workloads, applied once by a binary's `main`.
//!
//! A LoRA training step allocates buffers far above glibc's largest mmap threshold (32 MiB):
//! the output head's logits over 400 positions are 79 MB for SmolLM2 and 243 MB for Qwen2.5,
//! and their softmax and gradient as many again. glibc serves each from a fresh `mmap` and
//! unmaps it on free, so every step the kernel clears those pages again on first touch, and
//! trims the heap's top between steps. `perf record` of `lora_step` (Qwen2.5-0.5B) put 16 % of
//! the samples in the kernel's page clearing and about 8 % more in the page faults around it
//! (`reports/perf-reading.md`). Keeping freed memory in the process lets the next step reuse
//! pages that are already mapped.

/// Has glibc's `malloc` serve every request from its heaps (no per-allocation `mmap`) and
/// never hand the heap's free top back to the kernel: freed buffers are reused by the next
/// allocation instead of being unmapped and faulted in again. The process's resident memory
/// stays at its peak instead of shrinking between steps. Returns whether the settings were
/// applied (`false` on other C libraries, where it does nothing).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes the allocator's parameters; it is called before the
        // heavy allocations and is thread-safe in glibc.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(test)]
mod tests {
    /// glibc accepts both settings, and a buffer above the old mmap threshold is still served.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_settings() {
        assert!(super::keep_freed_memory());
        let big = vec![1.5f32; 40 << 20];
        assert_eq!((big.len(), big[(40 << 20) - 1]), (40 << 20, 1.5));
    }
}
