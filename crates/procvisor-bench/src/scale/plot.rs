//! One SVG per scale workload: a log-log panel per measurement, procvisor and Python, with the
//! line that linear growth of the whole size's cost would follow from procvisor's first size.

use super::report::points;
use super::{Growth, Row, Scale, Unit};
use plotters::prelude::*;
use std::path::Path;

const PANEL: (u32, u32) = (420, 340);
const PROCVISOR: RGBColor = RGBColor(31, 119, 180);
const PYTHON: RGBColor = RGBColor(214, 39, 40);
const LINEAR: RGBColor = RGBColor(170, 170, 170);

pub(super) fn draw(path: &Path, scale: &Scale, rows: &[Row], smoke: bool) -> Result<(), String> {
    let panels = scale.metrics.len() as u32;
    let root = SVGBackend::new(path, (PANEL.0 * panels, PANEL.1 + 30)).into_drawing_area();
    root.fill(&WHITE).map_err(super::text)?;
    let title = format!(
        "{} (log-log){}",
        scale.name,
        if smoke { ": SMOKE run" } else { "" }
    );
    let root = root
        .titled(&title, ("sans-serif", 18))
        .map_err(super::text)?;
    let areas = root.split_evenly((1, panels as usize));
    let x_low = rows.iter().map(|r| r.size).min().unwrap_or(1) as f64;
    let x_high = rows.iter().map(|r| r.size).max().unwrap_or(1) as f64;
    for (area, metric) in areas.iter().zip(scale.metrics) {
        // In units whose round numbers make the log axis's labels.
        let (scale_by, unit) = match metric.unit {
            Unit::Seconds => (1e3, "ms"),
            Unit::Bytes => (1.0 / 1024.0, "KiB"),
            Unit::PerSecond => (1e-3, "thousand/s"),
        };
        let scaled = |line: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
            line.into_iter().map(|(x, y)| (x, y * scale_by)).collect()
        };
        let ours = scaled(points(rows, metric, false));
        let theirs = scaled(points(rows, metric, true));
        // Linear growth of the whole: a cost of the whole grows as the size; a cost per unit,
        // a latency or a rate stays flat.
        let slope = if metric.growth == Growth::Total {
            1.0
        } else {
            0.0
        };
        let linear: Vec<(f64, f64)> = ours
            .first()
            .map(|&(x0, y0)| {
                rows.iter()
                    .map(|r| (r.size as f64, y0 * (r.size as f64 / x0).powf(slope)))
                    .collect()
            })
            .unwrap_or_default();
        let all = ours.iter().chain(&theirs).chain(&linear).map(|p| p.1);
        let y_low = all.clone().fold(f64::INFINITY, f64::min);
        let y_high = all.fold(f64::NEG_INFINITY, f64::max);
        let (y_low, y_high) = if y_low.is_finite() && y_low > 0.0 {
            (y_low / 1.5, y_high * 1.5)
        } else {
            (1e-9, 1.0)
        };
        let mut chart = ChartBuilder::on(area)
            .caption(metric.label, ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(72)
            .build_cartesian_2d(
                (x_low / 1.3..x_high * 1.3).log_scale(),
                (y_low..y_high).log_scale(),
            )
            .map_err(super::text)?;
        chart
            .configure_mesh()
            .x_desc(scale.size)
            .y_desc(unit)
            .x_labels(12)
            .y_labels(12)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(super::text)?;
        let mut series = vec![("procvisor", PROCVISOR, ours)];
        if scale.python.is_some() {
            series.push(("python", PYTHON, theirs));
        }
        for (name, color, line) in series {
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                .map_err(super::text)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
            chart
                .draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(super::text)?;
        }
        chart
            .draw_series(LineSeries::new(linear, LINEAR.stroke_width(1)))
            .map_err(super::text)?
            .label("linear")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], LINEAR));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(super::text)?;
    }
    root.present().map_err(super::text)?;
    Ok(())
}
