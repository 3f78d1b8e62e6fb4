//! `--plot DIR`: `latency.svg`, one round-trip percentile curve per
//! mechanism of the round-trip answer table (p50 to p99.99; the x axis is
//! the tail's nines, -log10(1 - q), the y axis log ns), and
//! `throughput.svg`, one bar per mechanism and size of the throughput
//! answer table (log msgs/s). The titles name the cores and the probes.

use std::fs;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::answers::{ROUND_TRIP, THROUGHPUT, rows_of};
use super::error::BenchError;
use super::measure::{CURVE_QUANTILES, Figures};
use super::report::Row;

const SIZE: (u32, u32) = (1000, 640);

/// Makes `dir` if missing and checks that a file can be written in it, so
/// that a bad `--plot` fails before any case runs.
pub fn check_dir(dir: &Path) -> Result<(), BenchError> {
    let usage = |what: &str, e: std::io::Error| {
        BenchError::Usage(format!(
            "--plot {}: {what}: {e}; give a directory you can write to",
            dir.display()
        ))
    };
    fs::create_dir_all(dir).map_err(|e| usage("cannot make the directory", e))?;
    let probe = dir.join(format!(".shmlane-plot-check-{}", std::process::id()));
    fs::write(&probe, b"").map_err(|e| usage("cannot write in it", e))?;
    fs::remove_file(&probe).map_err(|e| usage("cannot remove a file in it", e))
}

/// Writes both plots of `done` into `dir` (a plot with no row to show is
/// not written). Returns the files written.
pub fn write(dir: &Path, done: &[Row]) -> Result<Vec<String>, BenchError> {
    let mut written = Vec::new();
    let latency = dir.join("latency.svg");
    if latency_plot(&latency, done)? {
        written.push(latency.display().to_string());
    }
    let tput = dir.join("throughput.svg");
    if throughput_plot(&tput, done)? {
        written.push(tput.display().to_string());
    }
    Ok(written)
}

fn plot_error(path: &Path) -> impl FnOnce(String) -> BenchError + '_ {
    move |e| BenchError::Plot(format!("{}: {e}", path.display()))
}

/// The probe range of the rows, for a title.
fn probe_range<'r>(rows: impl Iterator<Item = &'r Row>) -> String {
    let probes: Vec<u64> = rows.flat_map(|r| r.probe_ns).collect();
    match (probes.iter().min(), probes.iter().max()) {
        (Some(lo), Some(hi)) => format!("probes {lo}-{hi} ns"),
        _ => String::new(),
    }
}

/// -log10(1 - q): 0.3 for p50, 1 for p90, 2 for p99 ...
fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// The percentile at `x` nines, as an axis label: only at whole nines (p90,
/// p99, ...), the ticks between them unlabelled.
fn percentile_label(x: f64) -> String {
    if x < 0.5 || (x - x.round()).abs() > 1e-9 {
        return String::new();
    }
    let p = 100.0 * (1.0 - 10f64.powf(-x.round()));
    let text = format!("{p:.4}");
    format!("p{}", text.trim_end_matches('0').trim_end_matches('.'))
}

fn latency_plot(path: &Path, done: &[Row]) -> Result<bool, BenchError> {
    let curves: Vec<(String, [u64; CURVE_QUANTILES.len()], &Row)> = rows_of(done, ROUND_TRIP)
        .into_iter()
        .filter_map(|(label, row)| match row.figures {
            Figures::Rtt(r) => Some((format!("{label} ({} B)", row.size), r.curve, row)),
            Figures::Tput(_) | Figures::Idle(_) => None,
        })
        .collect();
    if curves.is_empty() {
        return Ok(false);
    }
    let all = curves.iter().flat_map(|(_, c, _)| c.iter().copied());
    let lo = all.clone().min().unwrap_or(1).max(1) as f64;
    let hi = all.max().unwrap_or(1).max(2) as f64;
    let title = format!(
        "Round trip percentiles ({})",
        probe_range(curves.iter().map(|(_, _, r)| *r))
    );
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    draw_latency(&root, &title, (lo / 1.5, hi * 1.5), &curves).map_err(plot_error(path))?;
    Ok(true)
}

fn draw_latency(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    (lo, hi): (f64, f64),
    curves: &[(String, [u64; CURVE_QUANTILES.len()], &Row)],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let x_max = nines(CURVE_QUANTILES[CURVE_QUANTILES.len() - 1]) + 0.2;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, (lo..hi).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("percentile (each curve starts at p50)")
        .y_desc("round trip, ns (log)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(e)?;
    for (i, (label, curve, _)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = CURVE_QUANTILES
            .iter()
            .zip(curve)
            .map(|(&q, &ns)| (nines(q), ns.max(1) as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

fn throughput_plot(path: &Path, done: &[Row]) -> Result<bool, BenchError> {
    let mut bars: Vec<(String, f64, &Row)> = rows_of(done, THROUGHPUT)
        .into_iter()
        .filter_map(|(label, row)| match row.figures {
            Figures::Tput(t) if t.msgs_per_s > 0.0 => {
                Some((format!("{label}, {} B", row.size), t.msgs_per_s, row))
            }
            _ => None,
        })
        .collect();
    if bars.is_empty() {
        return Ok(false);
    }
    // By message size, each size in the table's order (the sort is stable).
    bars.sort_by_key(|(_, _, row)| row.size);
    let title = format!(
        "Throughput, messages per second ({})",
        probe_range(bars.iter().map(|(_, _, r)| *r))
    );
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    draw_throughput(&root, &title, &bars).map_err(plot_error(path))?;
    Ok(true)
}

fn draw_throughput(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    bars: &[(String, f64, &Row)],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let hi = bars.iter().map(|(_, v, _)| *v).fold(1.0, f64::max) * 3.0;
    let lo = bars.iter().map(|(_, v, _)| *v).fold(hi, f64::min) / 3.0;
    let n = i32::try_from(bars.len()).unwrap_or(i32::MAX);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(260)
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())
        .map_err(e)?;
    let label_of = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| bars.get(i))
            .map_or_else(String::new, |(l, _, _)| l.clone()),
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&label_of)
        .x_desc("messages per second (log)")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(bars.iter().zip(0..).map(|((_, v, _), i)| {
            let color = Palette99::pick(usize::try_from(i).unwrap_or(0)).to_rgba();
            let mut bar = Rectangle::new(
                [
                    (lo, SegmentValue::Exact(i)),
                    (*v, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))
        .map_err(e)?;
    root.present().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_axis_reads_as_percentiles() {
        assert_eq!(percentile_label(nines(0.99)), "p99");
        assert_eq!(percentile_label(nines(0.9999)), "p99.99");
        assert_eq!(percentile_label(1.0), "p90");
        assert_eq!(percentile_label(1.5), "", "no label between whole nines");
    }
}
