//! Progress bars (indicatif, on standard error) for the long steps: index builds, corpus
//! encoding, retrieval over a data set.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting `total` items labelled `label`; hidden unless `visible` (indicatif also
/// hides it when standard error is not a terminal).
pub fn bar(label: &str, total: u64, unit: &str, visible: bool) -> ProgressBar {
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let template =
        format!("{{prefix:>16}} [{{bar:24}}] {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}");
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    if visible {
        bar.enable_steady_tick(Duration::from_millis(250));
    }
    bar
}
