//! One progress bar per asset (bytes written, rate, ETA) on standard error.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar for `asset` expecting `total` bytes; hidden when `visible` is false (indicatif also
/// hides it when standard error is not a terminal).
pub fn asset_bar(asset: &str, total: u64, visible: bool) -> ProgressBar {
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let style = ProgressStyle::with_template(
        "{prefix:>18} [{bar:16}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(asset.to_owned());
    if visible {
        bar.enable_steady_tick(Duration::from_millis(250));
    }
    bar
}

/// A writer that advances a progress bar by the bytes written through it.
pub struct ProgressWriter<W> {
    inner: W,
    bar: ProgressBar,
}

impl<W: Write> ProgressWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, bar: ProgressBar) -> Self {
        Self { inner, bar }
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for ProgressWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
