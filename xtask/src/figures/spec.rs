//! What a figure shows, as plain data: the figure families build these, `render.rs` draws them
//! on any plotters backend. Nothing here depends on plotters.

/// One output figure: `reports/figures/{name}.svg` and `.png`.
pub struct Figure {
    /// File stem, e.g. `docs-loss`.
    pub name: String,
    pub title: String,
    /// Panels per row; panels fill rows left to right.
    pub cols: usize,
    pub panels: Vec<Panel>,
}

/// One set of axes.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Categorical x axis: point i of each series sits at x = i and is labelled `categories[i]`.
    pub categories: Option<Vec<String>>,
    /// Horizontal shift, in x units, between successive `Points` series, so that error bars at
    /// the same x do not hide each other (0: none).
    pub dodge: f64,
    /// Logarithmic y axis (values ≤ 0 are dropped).
    pub log_y: bool,
    pub series: Vec<Series>,
}

/// One data point; `lo`/`hi` give its band or error bar.
#[derive(Clone, Copy)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Self {
        Self {
            x,
            y,
            lo: None,
            hi: None,
        }
    }

    /// A mean with a symmetric interval (no interval when `half_width` is not finite).
    pub fn ci(x: f64, mean: f64, half_width: f64) -> Self {
        let hw = half_width.is_finite().then_some(half_width);
        Self {
            x,
            y: mean,
            lo: hw.map(|h| mean - h),
            hi: hw.map(|h| mean + h),
        }
    }
}

/// How a series is drawn.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    /// A line through the points; `band` shades lo..hi.
    Line { dashed: bool, band: bool },
    /// Markers with lo..hi error bars; `joined` adds a thin line through them.
    Points { joined: bool },
    /// A dashed horizontal line across the panel at the first point's y.
    HLine,
}

pub struct Series {
    /// Legend entry; series with the same label share one entry per figure.
    pub label: String,
    /// Index into the palette (`render::PALETTE`).
    pub color: usize,
    pub kind: Kind,
    pub points: Vec<Point>,
}

/// Palette roles, so the same quantity has the same colour in every figure.
pub mod color {
    pub const MODEL: usize = 0;
    pub const GD: usize = 1;
    pub const CONTROL: usize = 2;
}

impl Series {
    pub fn new(label: impl Into<String>, color: usize, kind: Kind, points: Vec<Point>) -> Self {
        Self {
            label: label.into(),
            color,
            kind,
            points,
        }
    }
}

impl Panel {
    pub fn new(title: impl Into<String>, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            categories: None,
            dodge: 0.0,
            log_y: false,
            series: Vec::new(),
        }
    }
}
