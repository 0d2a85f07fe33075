//! Draws a [`Figure`] on any plotters backend: a title strip, a grid of panels, and one legend
//! strip below the panels (so the legend never covers data). Sizes are fixed by the figure's
//! shape and the text is laid out with the embedded font, so the output is byte-identical for
//! the same input.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::spec::{Figure, Kind, Panel, Point, Series};

/// The registered font family (see `figures::register_font`).
pub const FONT: &str = "sans-serif";

/// Colour-blind-safe roles: model, GD, control, then extra series.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x70, 0x70, 0x70),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

const PANEL_W: u32 = 430;
const PANEL_H: u32 = 360;
const TITLE_H: u32 = 44;
const LEGEND_ROW_H: u32 = 30;
const LEGEND_SAMPLE_W: i32 = 30;
const LEGEND_GAP: i32 = 26;

fn de<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plotting: {e}")
}

fn grid(fig: &Figure) -> (u32, u32) {
    let cols = fig.cols.clamp(1, fig.panels.len().max(1));
    let rows = fig.panels.len().div_ceil(cols);
    (rows as u32, cols as u32)
}

/// One legend entry per distinct label, in order of first appearance.
fn legend(fig: &Figure) -> Vec<&Series> {
    let mut out: Vec<&Series> = Vec::new();
    for s in fig.panels.iter().flat_map(|p| &p.series) {
        if !s.label.is_empty() && !out.iter().any(|o| o.label == s.label) {
            out.push(s);
        }
    }
    out
}

/// Entry width estimated from the label length (deterministic, independent of the backend).
fn entry_w(s: &Series) -> u32 {
    (LEGEND_SAMPLE_W + LEGEND_GAP + 8) as u32 + 8 * s.label.chars().count() as u32
}

/// Legend entries split into rows that fit `width`.
fn legend_rows<'a>(entries: &[&'a Series], width: u32) -> Vec<Vec<&'a Series>> {
    let mut rows: Vec<Vec<&Series>> = Vec::new();
    let mut used = 0;
    for &e in entries {
        let w = entry_w(e);
        match rows.last_mut() {
            Some(row) if used + w <= width.saturating_sub(40) => row.push(e),
            _ => {
                rows.push(vec![e]);
                used = 0;
            }
        }
        used += w;
    }
    rows
}

/// The pixel size of a figure; categorical panels get ~150 px per category.
pub fn size(fig: &Figure) -> (u32, u32) {
    let (rows, cols) = grid(fig);
    let per_cat = fig
        .panels
        .iter()
        .filter_map(|p| p.categories.as_ref())
        .map(|c| 90 + 140 * c.len() as u32)
        .max()
        .unwrap_or(0);
    let w = (cols * PANEL_W.max(per_cat)).clamp(640, 1300);
    let legend_h = legend_rows(&legend(fig), w).len() as u32 * LEGEND_ROW_H + 10;
    (w, TITLE_H + rows * PANEL_H + legend_h)
}

fn text(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(h, v))
}

pub fn draw<DB: DrawingBackend>(fig: &Figure, root: DrawingArea<DB, Shift>) -> Result<()> {
    root.fill(&WHITE).map_err(de)?;
    let (w, h) = root.dim_in_pixel();
    let entries = legend(fig);
    let rows = legend_rows(&entries, w);
    let legend_h = rows.len() as u32 * LEGEND_ROW_H + 10;
    root.draw(&Text::new(
        fig.title.clone(),
        (w as i32 / 2, 12),
        text(20, HPos::Center, VPos::Top),
    ))
    .map_err(de)?;
    let (_, rest) = root.split_vertically(TITLE_H);
    let (body, bottom) = rest.split_vertically(h - TITLE_H - legend_h);
    let (r, c) = grid(fig);
    for (area, panel) in body
        .split_evenly((r as usize, c as usize))
        .iter()
        .zip(&fig.panels)
    {
        draw_panel(area, panel)?;
    }
    draw_legend(&bottom, &rows)?;
    root.present().map_err(de)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[Vec<&Series>],
) -> Result<()> {
    let (w, _) = area.dim_in_pixel();
    let style = text(14, HPos::Left, VPos::Center);
    for (i, row) in rows.iter().enumerate() {
        let widths: Vec<i32> = row
            .iter()
            .map(|s| {
                area.estimate_text_size(&s.label, &style)
                    .map(|(tw, _)| LEGEND_SAMPLE_W + 8 + tw as i32)
                    .map_err(de)
            })
            .collect::<Result<_>>()?;
        let total: i32 = widths.iter().sum::<i32>() + LEGEND_GAP * (widths.len() as i32 - 1);
        let mut x = (w as i32 - total).max(0) / 2;
        let y = 4 + LEGEND_ROW_H as i32 * i as i32 + LEGEND_ROW_H as i32 / 2;
        for (s, ew) in row.iter().zip(widths) {
            draw_sample(area, s, x, y)?;
            area.draw(&Text::new(
                s.label.clone(),
                (x + LEGEND_SAMPLE_W + 8, y),
                style.clone(),
            ))
            .map_err(de)?;
            x += ew + LEGEND_GAP;
        }
    }
    Ok(())
}

fn draw_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Series,
    x: i32,
    y: i32,
) -> Result<()> {
    let c = PALETTE[s.color % PALETTE.len()];
    let line = |a: i32, b: i32| PathElement::new(vec![(x + a, y), (x + b, y)], c.stroke_width(2));
    match s.kind {
        Kind::Line {
            dashed: false,
            band,
        } => {
            if band {
                area.draw(&Rectangle::new(
                    [(x, y - 6), (x + LEGEND_SAMPLE_W, y + 6)],
                    c.mix(0.18).filled(),
                ))
                .map_err(de)?;
            }
            area.draw(&line(0, LEGEND_SAMPLE_W)).map_err(de)
        }
        Kind::Line { dashed: true, .. } | Kind::HLine => {
            area.draw(&line(0, 10)).map_err(de)?;
            area.draw(&line(16, LEGEND_SAMPLE_W)).map_err(de)
        }
        Kind::Points { .. } => {
            let m = x + LEGEND_SAMPLE_W / 2;
            area.draw(&PathElement::new(
                vec![(m, y - 8), (m, y + 8)],
                c.stroke_width(2),
            ))
            .map_err(de)?;
            area.draw(&marker((m, y), c, hollow(s))).map_err(de)
        }
    }
}

/// Past the palette's first cycle a series shares its colour with an earlier one: its markers
/// are drawn hollow, in the plot and in the legend, so the two stay apart.
fn hollow(s: &Series) -> bool {
    s.color >= PALETTE.len()
}

fn marker<C>(at: C, c: RGBColor, hollow: bool) -> Circle<C, i32> {
    if hollow {
        Circle::new(at, 5, c.stroke_width(2))
    } else {
        Circle::new(at, 4, c.filled())
    }
}

fn pad((lo, hi): (f64, f64), frac: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = if hi > lo {
        hi - lo
    } else {
        lo.abs().max(1e-3) * 0.2
    };
    (lo - frac * span, hi + frac * span)
}

fn min_max(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        })
}

fn ranges(p: &Panel) -> ((f64, f64), (f64, f64)) {
    let pts = || {
        p.series
            .iter()
            .flat_map(|s| s.points.iter().map(move |q| (s, q)))
    };
    let x = match &p.categories {
        Some(c) => (-0.5, c.len() as f64 - 0.5),
        None => {
            let (lo, hi) = min_max(
                pts()
                    .filter(|(s, _)| s.kind != Kind::HLine)
                    .map(|(_, q)| q.x),
            );
            pad((lo - p.dodge * 2.0, hi + p.dodge * 2.0), 0.04)
        }
    };
    let y = min_max(pts().flat_map(|(_, q)| [Some(q.y), q.lo, q.hi]).flatten());
    (x, pad(y, 0.08))
}

/// A tick label: at most 4 decimals, trailing zeros dropped (`5`, `0.25`, `1500`).
fn tick(v: &f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Splits a category label into lines of at most ~16 characters at spaces.
fn wrap(label: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in label.split(' ') {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= 16 => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The panel with y (and lo, hi) replaced by log10 where `log_y` is set.
fn logged(p: &Panel) -> Option<Panel> {
    if !p.log_y {
        return None;
    }
    let l = |v: f64| (v > 0.0).then(|| v.log10());
    let series = p.series.iter().map(|s| Series {
        label: s.label.clone(),
        color: s.color,
        kind: s.kind,
        points: s
            .points
            .iter()
            .filter_map(|q| {
                Some(Point {
                    x: q.x,
                    y: l(q.y)?,
                    lo: q.lo.and_then(l),
                    hi: q.hi.and_then(l),
                })
            })
            .collect(),
    });
    Some(Panel {
        title: p.title.clone(),
        x_label: p.x_label.clone(),
        y_label: p.y_label.clone(),
        categories: p.categories.clone(),
        dodge: p.dodge,
        log_y: true,
        series: series.collect(),
    })
}

/// A tick label on a log10 axis: the value itself, three significant digits.
fn log_tick(v: &f64) -> String {
    let x = 10f64.powf(*v);
    let digits = (2 - x.log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').into()
    } else {
        s
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<()> {
    let log = logged(p);
    let p = log.as_ref().unwrap_or(p);
    let ((x0, x1), (y0, y1)) = ranges(p);
    let cats = p.categories.as_deref();
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, 16))
        .margin(8)
        .margin_right(18)
        .x_label_area_size(if cats.is_some() { 62 } else { 44 })
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(de)?;
    let blank = |_: &f64| String::new();
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 14))
        .bold_line_style(RGBColor(215, 215, 215))
        .max_light_lines(1)
        .light_line_style(RGBColor(246, 246, 246))
        .y_label_formatter(if p.log_y { &log_tick } else { &tick })
        .x_labels(7)
        .y_labels(7);
    if cats.is_some() {
        mesh.x_labels(0).x_label_formatter(&blank).disable_x_mesh();
    } else {
        mesh.x_label_formatter(&tick);
    }
    mesh.draw().map_err(de)?;

    let cap = 0.012 * (x1 - x0);
    let n_points = p
        .series
        .iter()
        .filter(|s| matches!(s.kind, Kind::Points { .. }))
        .count();
    let mut k = 0;
    for s in &p.series {
        let c = PALETTE[s.color % PALETTE.len()];
        match s.kind {
            Kind::Line { dashed, band } => {
                if band {
                    let mut poly: Vec<(f64, f64)> =
                        s.points.iter().filter_map(|q| Some((q.x, q.hi?))).collect();
                    poly.extend(s.points.iter().rev().filter_map(|q| Some((q.x, q.lo?))));
                    if poly.len() >= 3 {
                        chart
                            .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                            .map_err(de)?;
                    }
                }
                let pts = s.points.iter().map(|q| (q.x, q.y));
                if dashed {
                    chart.draw_series(DashedLineSeries::new(pts, 8, 5, c.stroke_width(2)))
                } else {
                    chart.draw_series(LineSeries::new(pts, c.stroke_width(2)))
                }
                .map_err(de)?;
            }
            Kind::Points { joined } => {
                let off = p.dodge * (k as f64 - (n_points as f64 - 1.0) / 2.0);
                k += 1;
                let pts: Vec<_> = s.points.iter().map(|q| (q.x + off, q)).collect();
                if joined {
                    chart
                        .draw_series(LineSeries::new(
                            pts.iter().map(|(x, q)| (*x, q.y)),
                            c.mix(0.7).stroke_width(1),
                        ))
                        .map_err(de)?;
                }
                let bars = pts.iter().filter_map(|(x, q)| Some((*x, q.lo?, q.hi?)));
                let bar_paths = bars.flat_map(|(x, lo, hi)| {
                    [
                        vec![(x, lo), (x, hi)],
                        vec![(x - cap, lo), (x + cap, lo)],
                        vec![(x - cap, hi), (x + cap, hi)],
                    ]
                });
                chart
                    .draw_series(bar_paths.map(|v| PathElement::new(v, c.stroke_width(2))))
                    .map_err(de)?;
                chart
                    .draw_series(pts.iter().map(|(x, q)| marker((*x, q.y), c, hollow(s))))
                    .map_err(de)?;
            }
            Kind::HLine => {
                if let Some(q) = s.points.first() {
                    chart
                        .draw_series(DashedLineSeries::new(
                            [(x0, q.y), (x1, q.y)],
                            8,
                            5,
                            c.stroke_width(2),
                        ))
                        .map_err(de)?;
                }
            }
        }
    }

    if let Some(cats) = cats {
        let base = area.get_base_pixel();
        let style = text(12, HPos::Center, VPos::Top);
        for (i, name) in cats.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64, y0));
            for (j, line) in wrap(name).into_iter().enumerate() {
                area.draw(&Text::new(
                    line,
                    (px - base.0, py - base.1 + 6 + 15 * j as i32),
                    style.clone(),
                ))
                .map_err(de)?;
            }
        }
    }
    Ok(())
}
