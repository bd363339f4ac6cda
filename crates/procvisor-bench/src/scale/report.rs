//! A scale workload's table, growth exponents and checks.

use super::{Growth, Metric, Row, Scale, Unit};
use std::collections::BTreeMap;
use std::fmt;

/// Above this, a cost of the whole size grows worse than linearly.
const SUPERLINEAR: f64 = 1.1;

/// The slope of the least-squares line through `(ln x, ln y)`: `y` grows as `x` to this power.
/// `None` with fewer than two sizes or values that are not positive.
pub(super) fn exponent(points: &[(f64, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = logs.len() as f64;
    if logs.len() < 2 {
        return None;
    }
    let mean_x = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = logs.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = logs.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The exponent of the whole size's cost, given a metric's own exponent.
pub(super) fn whole(growth: Growth, e: f64) -> f64 {
    match growth {
        Growth::Total | Growth::Flat => e,
        Growth::PerUnit => e + 1.0,
        Growth::Rate => 1.0 - e,
    }
}

/// `(size, value)` of one side's successful sizes.
pub(super) fn points(rows: &[Row], metric: &Metric, python: bool) -> Vec<(f64, f64)> {
    rows.iter()
        .filter_map(|row| {
            let side = if python {
                row.python.as_ref()?
            } else {
                &row.procvisor
            };
            let value = side.as_ref().ok()?.get(metric.key)?;
            Some((row.size as f64, *value))
        })
        .collect()
}

/// A value in its unit, for people.
pub(super) fn show(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Seconds if value < 1e-3 => format!("{:.1} µs", value * 1e6),
        Unit::Seconds if value < 1.0 => format!("{:.2} ms", value * 1e3),
        Unit::Seconds => format!("{value:.2} s"),
        Unit::Bytes if value < 1024.0 * 1024.0 => format!("{:.1} KiB", value / 1024.0),
        Unit::Bytes => format!("{:.2} MiB", value / (1024.0 * 1024.0)),
        Unit::PerSecond if value < 1e3 => format!("{value:.0}/s"),
        Unit::PerSecond if value < 1e6 => format!("{:.1}k/s", value / 1e3),
        Unit::PerSecond => format!("{:.2}M/s", value / 1e6),
    }
}

/// The report of one scale workload.
#[derive(Debug)]
pub(super) struct Summary<'a> {
    scale: &'a Scale,
    rows: &'a [Row],
    smoke: bool,
}

impl<'a> Summary<'a> {
    pub(super) fn new(scale: &'a Scale, rows: &'a [Row], smoke: bool) -> Summary<'a> {
        Summary { scale, rows, smoke }
    }

    fn failed(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.procvisor.is_err() || r.python.as_ref().is_some_and(|p| p.is_err()))
    }

    /// Whether procvisor grows worse than linearly in some measurement.
    fn superlinear(&self) -> bool {
        self.scale.metrics.iter().any(|m| {
            exponent(&points(self.rows, m, false)).is_some_and(|e| whole(m.growth, e) > SUPERLINEAR)
        })
    }

    /// No size failed, and (but for a smoke run, whose sizes say nothing) nothing grew worse
    /// than linearly.
    pub(super) fn ok(&self) -> bool {
        !self.failed() && (self.smoke || !self.superlinear())
    }

    fn table(&self) -> Vec<Vec<String>> {
        let python = self.scale.python.is_some();
        let mut header = vec![self.scale.size.to_string()];
        for m in self.scale.metrics {
            header.push(format!("{} pv", m.label));
            if python {
                header.push(format!("{} py", m.label));
            }
            if m.vs_python.is_some() {
                header.push("pv/py".into());
            }
        }
        let mut table = vec![header];
        for row in self.rows {
            let mut line = vec![row.size.to_string()];
            for m in self.scale.metrics {
                let value = |side: &Result<BTreeMap<String, f64>, String>| match side {
                    Ok(values) => values
                        .get(m.key)
                        .map_or("-".to_string(), |v| show(m.unit, *v)),
                    Err(e) if e.starts_with("stuck") => "STUCK".into(),
                    Err(_) => "FAILED".into(),
                };
                line.push(value(&row.procvisor));
                if let Some(py) = &row.python {
                    line.push(value(py));
                }
                if m.vs_python.is_some() {
                    line.push(ratio(row, m).map_or("-".into(), |r| format!("{r:.3}x")));
                }
            }
            table.push(line);
        }
        table
    }
}

/// procvisor's value over Python's at one size.
fn ratio(row: &Row, metric: &Metric) -> Option<f64> {
    let ours = row.procvisor.as_ref().ok()?.get(metric.key)?;
    let theirs = row.python.as_ref()?.as_ref().ok()?.get(metric.key)?;
    Some(ours / theirs)
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} (size: {}){}",
            self.scale.name,
            self.scale.size,
            if self.smoke {
                " (SMOKE: tiny sizes, exponents meaningless)"
            } else {
                ""
            }
        )?;
        let table = self.table();
        let widths: Vec<usize> = (0..table[0].len())
            .map(|c| {
                table
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for line in &table {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:>w$}"))
                .collect();
            writeln!(f, "  {}", cells.join("  "))?;
        }
        writeln!(
            f,
            "  growth exponents (log-log fit; 'whole' is the cost of the whole size, > {SUPERLINEAR} is superlinear):"
        )?;
        for m in self.scale.metrics {
            let mut parts = Vec::new();
            for (side, python) in [("procvisor", false), ("python", true)] {
                if python && self.scale.python.is_none() {
                    continue;
                }
                let Some(e) = exponent(&points(self.rows, m, python)) else {
                    parts.push(format!("{side} -"));
                    continue;
                };
                let w = whole(m.growth, e);
                let verdict = match () {
                    _ if self.smoke => "smoke",
                    _ if w > SUPERLINEAR => "SUPERLINEAR",
                    _ => "linear or better",
                };
                parts.push(if m.growth == Growth::Total || m.growth == Growth::Flat {
                    format!("{side} {e:.2} ({verdict})")
                } else {
                    format!("{side} {e:.2}, whole {w:.2} ({verdict})")
                });
            }
            writeln!(f, "    {}: {}", m.label, parts.join("; "))?;
        }
        for m in self.scale.metrics {
            let Some(limit) = m.vs_python else { continue };
            let ratios: Vec<(u64, f64)> = self
                .rows
                .iter()
                .filter_map(|r| Some((r.size, ratio(r, m)?)))
                .collect();
            let worst = ratios.iter().map(|r| r.1).fold(f64::NAN, f64::max);
            let verdict = match () {
                _ if ratios.is_empty() => "n/a",
                _ if self.smoke => "smoke",
                _ if worst <= limit => "met",
                _ => "MISSED",
            };
            let each: Vec<String> = ratios
                .iter()
                .map(|(size, r)| format!("{r:.3}x at {size}"))
                .collect();
            writeln!(
                f,
                "  target: {} at most {limit}x Python's: {} (worst {worst:.3}x): {verdict}",
                m.label,
                each.join(", ")
            )?;
        }
        for row in self.rows {
            for (side, result) in [
                ("procvisor", Some(&row.procvisor)),
                ("python", row.python.as_ref()),
            ] {
                if let Some(Err(e)) = result {
                    writeln!(f, "  error: {} {} ({side}): {e}", row.size, self.scale.size)?;
                }
            }
        }
        Ok(())
    }
}
