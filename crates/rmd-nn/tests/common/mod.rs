//! Helpers shared by the kernel tests.

/// `n` pseudo-random values in `[low, low + width)` from a xorshift stream seeded by `seed`.
pub fn values(n: usize, seed: u64, low: f32, width: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * width + low
        })
        .collect()
}
