//! Where the tokens of one forward pass sit: the sequence positions RoPE rotates them by and
//! the keys each query may read.
//!
//! A batch either shares its positions (one prompt, or rows decoding from one shared prefix:
//! column `c` is position `c`), or holds several prompts of different lengths, **left-padded**
//! to a common length: row `r` has `pads[r]` padding columns first, so its column `c` is
//! position `c − pads[r]` and its padding columns are never read as keys. A padded prompt
//! then computes what it computes alone: the same positions, the same keys, and the masked
//! keys get weight `exp(−10³⁰ − max) = 0` exactly (transformers' `position_ids` and
//! `attention_mask` do the same).

use burn::tensor::{Device, Tensor, TensorData};
use icor_kernels::rowwise::Placement;

/// Masked-out score: far below any real logit, finite so no NaN can arise.
pub(crate) const MASKED: f32 = -1.0e30;

/// The positions of a pass's `t` new tokens, which sit at cache columns `start..start + t`.
#[derive(Debug, Clone, Copy)]
pub struct Positions<'a> {
    /// Cache column of the first new token (the cache's length before this pass).
    pub start: usize,
    /// Per batch row, the number of padding columns at its left; `None` when no row is padded.
    pub pads: Option<&'a [usize]>,
}

impl<'a> Positions<'a> {
    /// Unpadded rows whose first new token is at position `start`.
    pub fn shared(start: usize) -> Self {
        Self { start, pads: None }
    }

    /// Position indices `[b · t]` of the new tokens, row-major, for gathering RoPE tables;
    /// `None` when every row shares them (the tables are then one contiguous slice).
    pub(crate) fn per_row(&self, b: usize, t: usize) -> Option<Vec<usize>> {
        self.pads?;
        Some(
            (0..b)
                .flat_map(|r| (0..t).map(move |i| self.placement().position(r, i)))
                .collect(),
        )
    }

    /// The same description for the kernels (`icor_kernels::rowwise::qkv_heads`).
    pub(crate) fn placement(&self) -> Placement<'a> {
        Placement {
            start: self.start,
            pads: self.pads,
        }
    }

    /// The additive score mask `[b or 1, 1, g·t, tk]` over `tk` cache columns: row `j·t + i` is
    /// new token `i` of query head `j` of a group (column `start + i`), which may read columns
    /// `pads[r]..=start + i`. `None` when nothing is masked (one new token, no padding).
    pub(crate) fn bias(
        &self,
        b: usize,
        g: usize,
        t: usize,
        tk: usize,
        device: &Device,
    ) -> Option<Tensor<4>> {
        if t == 1 && self.pads.is_none() {
            return None;
        }
        let rows = if self.pads.is_some() { b } else { 1 };
        let mut data = vec![0f32; rows * g * t * tk];
        for r in 0..rows {
            let pad = self.pads.map_or(0, |p| p[r]);
            for j in 0..g {
                for i in 0..t {
                    let at = ((r * g + j) * t + i) * tk;
                    for (c, v) in data[at..at + tk].iter_mut().enumerate() {
                        if c > self.start + i || c < pad {
                            *v = MASKED;
                        }
                    }
                }
            }
        }
        Some(Tensor::from_data(
            TensorData::new(data, [rows, 1, g * t, tk]),
            device,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_rows_start_at_position_zero_and_never_read_their_padding() {
        let pads = [2usize, 0];
        let p = Positions {
            start: 0,
            pads: Some(&pads),
        };
        assert_eq!(p.per_row(2, 4), Some(vec![0, 0, 0, 1, 0, 1, 2, 3]));
        let device = Device::flex();
        let bias = p.bias(2, 1, 4, 4, &device).unwrap();
        let v: Vec<f32> = bias.try_into_vec_as::<f32>().unwrap();
        let read = |r: usize, i: usize| -> Vec<usize> {
            (0..4).filter(|&c| v[(r * 4 + i) * 4 + c] == 0.0).collect()
        };
        assert_eq!(read(0, 2), vec![2]); // row 0's first real token reads itself only
        assert_eq!(read(0, 3), vec![2, 3]);
        assert_eq!(read(1, 1), vec![0, 1]);
        // a decoding step at column 4 of the same rows
        let step = Positions {
            start: 4,
            pads: Some(&pads),
        };
        assert_eq!(step.per_row(2, 1), Some(vec![2, 4]));
        let v: Vec<f32> = step
            .bias(2, 1, 1, 5, &device)
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(&v[..5], &[MASKED, MASKED, 0.0, 0.0, 0.0]);
        assert_eq!(&v[5..], &[0.0; 5]);
        assert!(Positions::shared(4).bias(2, 1, 1, 5, &device).is_none());
    }
}
