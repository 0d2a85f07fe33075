//! How many training steps the tabular studies' runs need: for each (table, architecture) of
//! the `nonlinear` / `features` result files given, the step at which each run's curve loss
//! first comes within `--within` (default 5 %) of its final loss, measured as a share of the
//! way down from the first curve point (final = the least of the last three points). Prints
//! one Markdown table: runs, median, 90th percentile and largest such step, and the budget the
//! files were trained at. The quick profile's `tabular_steps` was chosen from this table.
//!
//! `cargo run -p icor-probe --example tabular_budget -- reports/probe/nonlinear.json \
//!     reports/probe-seed3/nonlinear.json [--within 0.05]`

use std::collections::BTreeMap;

use icor_probe::nonlinear::{TabularResult, TabularRun};

/// The first curve step whose loss is within `within` of the way from the final loss back to
/// the first point's.
fn settled_step(run: &TabularRun, within: f64) -> usize {
    let c = &run.curve;
    let n = c.loss_model.len();
    let last = &c.loss_model[n.saturating_sub(3)..];
    let final_loss = last.iter().copied().fold(f64::INFINITY, f64::min);
    let threshold = final_loss + within * (c.loss_model[0] - final_loss).max(0.0);
    c.loss_model
        .iter()
        .position(|&l| l <= threshold)
        .map(|i| c.step[i])
        .unwrap_or(run.train.steps)
}

fn quantile(sorted: &[usize], q: f64) -> usize {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut within = 0.05;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--within" => {
                within = it
                    .next()
                    .ok_or("--within needs a value")?
                    .parse()
                    .map_err(|e| format!("--within: {e}"))?
            }
            path => files.push(path.to_string()),
        }
    }
    if files.is_empty() {
        return Err("give one or more nonlinear/features result files (JSON)".into());
    }
    let mut groups: BTreeMap<(String, String), (Vec<usize>, usize)> = BTreeMap::new();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let result: TabularResult =
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        for run in &result.runs {
            let key = (run.source.clone(), run.arch.label());
            let entry = groups.entry(key).or_insert((Vec::new(), run.train.steps));
            entry.0.push(settled_step(run, within));
            entry.1 = entry.1.max(run.train.steps);
        }
    }
    println!(
        "Step at which each run's curve loss is within {:.0} % of its final loss ({}):\n",
        within * 100.0,
        files.join(", ")
    );
    println!("| table | architecture | runs | median | 90th pct. | largest | trained steps |");
    println!("|---|---|---|---|---|---|---|");
    let mut overall = 0;
    for ((source, arch), (mut steps, budget)) in groups {
        steps.sort_unstable();
        overall = overall.max(*steps.last().unwrap_or(&0));
        println!(
            "| {source} | {arch} | {} | {} | {} | {} | {budget} |",
            steps.len(),
            quantile(&steps, 0.5),
            quantile(&steps, 0.9),
            steps.last().copied().unwrap_or(0)
        );
    }
    println!("\nLargest over every run: step {overall}.");
    Ok(())
}
