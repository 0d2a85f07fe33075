//! Product tiles: `Y[r, c] = Σ_k X[r, k] · W[k, c]` for a block of rows of `X` and the
//! columns of one or more consecutive panels of the packed weight.
//!
//! A tile keeps its block of `Y` in vector accumulators while it streams its panels once from
//! start to end: for each input `k` it loads the panels' weights (two vectors per panel) and
//! multiplies them with each row's `X[r, k]` broadcast to every lane. Up to six rows against one
//! panel (12 accumulators) for several rows; one row against four panels (8 accumulators, so
//! the fused multiply–adds do not wait on each other) for one row. Each output is the sum over
//! `k` in order, as in a plain loop (float results equal up to FMA's single rounding). With
//! AVX-512F a panel is one vector, and six rows meet four panels per tile ([`x86_512`]); the
//! sums are the same FMAs in the same order, so the AVX2 and AVX-512 tiles agree bit for bit.

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_512;

use std::sync::atomic::{AtomicU8, Ordering};

use half::f16;

use crate::packed::PANEL;
pub(crate) use crate::value::Value;

/// Packed panels (`[panels, k, PANEL]`), in the precision they are stored in.
#[derive(Debug, Clone, Copy)]
pub enum Panels<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

impl Panels<'_> {
    fn len(&self) -> usize {
        match self {
            Panels::F32(w) => w.len(),
            Panels::F16(w) => w.len(),
        }
    }
}

/// The instruction sets the tiles are written for, in order of speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust, any CPU.
    Portable,
    /// AVX2, FMA and F16C: two 256-bit vectors per panel.
    Avx2,
    /// AVX-512F: one 512-bit vector per panel, four panels per tile.
    Avx512,
}

impl Isa {
    /// The name printed by benchmarks and reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2+fma+f16c",
            Isa::Avx512 => "avx512f",
        }
    }

    /// Parses [`Isa::name`]'s names and the short `avx2` / `avx512`.
    pub fn parse(s: &str) -> Option<Isa> {
        match s {
            "portable" => Some(Isa::Portable),
            "avx2" | "avx2+fma+f16c" => Some(Isa::Avx2),
            "avx512" | "avx512f" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// The best this CPU runs.
    pub fn detected() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if x86_512::available() && x86::available() {
                return Isa::Avx512;
            }
            if x86::available() {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }
}

/// The cap set by [`cap_isa`] (`u8::MAX`: none).
static CAP: AtomicU8 = AtomicU8::new(u8::MAX);

/// Runs the tiles with at most `isa` from now on (the best the CPU has, if lower): for timing
/// one instruction set against another in one process. Results do not depend on it beyond
/// the portable tiles' rounding (see the module's docs).
pub fn cap_isa(isa: Isa) {
    CAP.store(isa as u8, Ordering::Relaxed);
}

/// The instruction set the tiles run with: the best detected, under [`cap_isa`]'s cap.
pub fn isa() -> Isa {
    under_cap(Isa::detected(), CAP.load(Ordering::Relaxed))
}

/// The best of the instruction sets up to `best` whose number is at most `cap`.
fn under_cap(best: Isa, cap: u8) -> Isa {
    [Isa::Portable, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|i| *i <= best && (*i as u8) <= cap)
        .max()
        .unwrap_or(Isa::Portable)
}

/// Whether this CPU has AVX2, FMA and F16C (what the vector code of this crate needs).
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return x86::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Which code runs the tiles on this CPU (under [`cap_isa`]'s cap).
pub fn kernel_name() -> &'static str {
    isa().name()
}

/// `y[r·ldy + p·PANEL + j] = Σ_k x[r·k_dim + k] · w[(p·k_dim + k)·PANEL + j]` for `x: [m, k_dim]`,
/// every panel `p` of `w`, and `y` with rows of `ldy ≥ panels·PANEL` values.
///
/// # Panics
/// If the slices' lengths disagree with `m`, `k_dim` and `ldy`.
pub fn panels(x: &[f32], m: usize, k_dim: usize, w: Panels<'_>, y: &mut [f32], ldy: usize) {
    assert_eq!(x.len(), m * k_dim, "x must be m × k = {m} × {k_dim}");
    let per_panel = (k_dim * PANEL).max(1);
    assert_eq!(
        w.len() % per_panel,
        0,
        "w must hold whole panels of {k_dim} × {PANEL}"
    );
    let n = w.len() / per_panel * PANEL;
    assert!(
        ldy >= n && y.len() >= m * ldy,
        "y must be m × ldy with ldy ≥ {n}"
    );
    // SAFETY: the lengths were checked above.
    unsafe { panels_at(x, m, k_dim, w, y.as_mut_ptr(), ldy) }
}

/// [`panels`] into `y` given as a pointer, for callers that write disjoint column blocks of
/// one output from several threads (a `&mut` slice per thread would overlap).
///
/// # Safety
/// `x` is `m × k_dim`; `w` holds whole panels of `k_dim × PANEL`; for every row `r < m`, the
/// `panels·PANEL` values at `y + r·ldy` are writable and no other thread reads or writes them
/// during the call.
pub(crate) unsafe fn panels_at(
    x: &[f32],
    m: usize,
    k_dim: usize,
    w: Panels<'_>,
    y: *mut f32,
    ldy: usize,
) {
    debug_assert_eq!(x.len(), m * k_dim);
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` returns Avx512 only where the CPU has AVX-512F; the lengths are the
        // caller's.
        Isa::Avx512 => unsafe {
            match w {
                Panels::F32(w) => x86_512::panels(x, m, k_dim, w, y, ldy),
                Panels::F16(w) => x86_512::panels(x, m, k_dim, w, y, ldy),
            }
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` returns Avx2 or better only where the CPU has AVX2, FMA and F16C;
        // the lengths are the caller's.
        Isa::Avx2 => unsafe {
            match w {
                Panels::F32(w) => x86::panels(x, m, k_dim, w, y, ldy),
                Panels::F16(w) => x86::panels(x, m, k_dim, w, y, ldy),
            }
        },
        // SAFETY: the lengths are the caller's.
        _ => unsafe {
            match w {
                Panels::F32(w) => portable::panels(x, m, k_dim, w, y, ldy),
                Panels::F16(w) => portable::panels(x, m, k_dim, w, y, ldy),
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Row counts around the tiles' six rows, depths, and panel counts around the four of an
    /// AVX-512 tile.
    const SHAPES: [(usize, usize, usize); 9] = [
        (1, 64, 4),
        (1, 7, 9),
        (2, 1, 1),
        (5, 33, 5),
        (6, 64, 4),
        (7, 64, 3),
        (12, 17, 8),
        (16, 576, 9),
        (17, 40, 13),
    ];

    fn case(m: usize, k: usize, n_panels: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = (0..m * k).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let w = (0..n_panels * k * PANEL)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        (x, w)
    }

    /// Runs the tiles of `isa` into a `y` with a wider row stride than the panels fill (the
    /// columns past them must stay untouched).
    fn run(isa: Isa, x: &[f32], m: usize, k: usize, w: Panels<'_>) -> Vec<f32> {
        let n = w.len() / (k * PANEL) * PANEL;
        let ldy = n + 3;
        let mut y = vec![f32::NAN; m * ldy];
        let yp = y.as_mut_ptr();
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the callers run an ISA only where `Isa::detected()` has it; `y` has m rows
        // of ldy ≥ the panels' columns.
        unsafe {
            match (isa, w) {
                (Isa::Avx512, Panels::F32(w)) => x86_512::panels(x, m, k, w, yp, ldy),
                (Isa::Avx512, Panels::F16(w)) => x86_512::panels(x, m, k, w, yp, ldy),
                (Isa::Avx2, Panels::F32(w)) => x86::panels(x, m, k, w, yp, ldy),
                (Isa::Avx2, Panels::F16(w)) => x86::panels(x, m, k, w, yp, ldy),
                (_, Panels::F32(w)) => portable::panels(x, m, k, w, yp, ldy),
                (_, Panels::F16(w)) => portable::panels(x, m, k, w, yp, ldy),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: as above.
        unsafe {
            match w {
                Panels::F32(w) => portable::panels(x, m, k, w, yp, ldy),
                Panels::F16(w) => portable::panels(x, m, k, w, yp, ldy),
            }
        }
        for r in 0..m {
            assert!(
                y[r * ldy + n..(r + 1) * ldy].iter().all(|v| v.is_nan()),
                "{isa:?} wrote past the panels in row {r}"
            );
        }
        y.chunks(ldy).flat_map(|row| row[..n].to_vec()).collect()
    }

    /// `Σ_k x[r, k] w[p, k, j]` in f64.
    fn reference(x: &[f32], m: usize, k: usize, w: &[f32]) -> Vec<f64> {
        let n_panels = w.len() / (k * PANEL);
        let mut y = Vec::with_capacity(m * n_panels * PANEL);
        for r in 0..m {
            for p in 0..n_panels {
                for j in 0..PANEL {
                    y.push(
                        (0..k)
                            .map(|i| x[r * k + i] as f64 * w[(p * k + i) * PANEL + j] as f64)
                            .sum(),
                    );
                }
            }
        }
        y
    }

    #[test]
    fn every_isa_matches_the_f64_sums() {
        for (seed, &(m, k, n_panels)) in SHAPES.iter().enumerate() {
            let (x, w) = case(m, k, n_panels, seed as u64);
            let want = reference(&x, m, k, &w);
            for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
                if isa > Isa::detected() {
                    continue;
                }
                let got = run(isa, &x, m, k, Panels::F32(&w));
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (*g as f64 - w).abs() <= 1e-5 * (k as f64).sqrt() * (1.0 + w.abs()),
                        "{isa:?}, m {m} k {k} panels {n_panels}: y[{i}] = {g}, want {w}"
                    );
                }
            }
        }
    }

    /// The AVX-512 tiles do the AVX2 tiles' FMAs in the same order: equal bit for bit, for
    /// stored f32 and f16 weights.
    #[test]
    fn avx512_equals_avx2_bit_for_bit() {
        if Isa::detected() < Isa::Avx512 {
            eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        for (seed, &(m, k, n_panels)) in SHAPES.iter().enumerate() {
            let (x, w) = case(m, k, n_panels, 100 + seed as u64);
            let w16: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            for w in [Panels::F32(&w), Panels::F16(&w16)] {
                let (a, b) = (run(Isa::Avx2, &x, m, k, w), run(Isa::Avx512, &x, m, k, w));
                let differ = a
                    .iter()
                    .zip(&b)
                    .position(|(a, b)| a.to_bits() != b.to_bits());
                assert_eq!(differ, None, "m {m} k {k} panels {n_panels}, {w:?}");
            }
        }
    }

    #[test]
    fn the_cap_lowers_the_isa_and_names_it() {
        // (`cap_isa` itself is not called: the cap is global, and the other tests of this
        // process would run under it.)
        assert_eq!(under_cap(Isa::Avx512, Isa::Avx2 as u8), Isa::Avx2);
        assert_eq!(under_cap(Isa::Avx2, Isa::Avx512 as u8), Isa::Avx2);
        assert_eq!(under_cap(Isa::Avx512, u8::MAX), Isa::Avx512);
        assert_eq!(under_cap(Isa::Avx512, Isa::Portable as u8), Isa::Portable);
        for i in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(i.name()), Some(i));
        }
    }
}
