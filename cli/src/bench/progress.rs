//! Progress on stderr while the cases run: an indicatif bar when stderr is
//! a terminal, otherwise one line per case (logs and CI keep every line).
//! Both show the case about to run and the time left.
//!
//! The time left is the measured time per case so far times the cases
//! still to run (before the first case ends, the seconds asked for per
//! case plus a guess for the probes). No thread ticks the bar: the bench
//! forks, and may fork only while it runs one thread.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What a case costs besides its measured seconds (warm-up, two probes,
/// fork), for the first estimate.
const OVERHEAD_PER_CASE: Duration = Duration::from_millis(150);

/// The progress of one `shmlane bench` run.
pub struct Progress {
    /// `None` when stderr is not a terminal: lines instead.
    bar: Option<ProgressBar>,
    /// Print a line per case (no bar, not quiet).
    lines: bool,
    total: u64,
    done: u64,
    start: Instant,
    /// The first estimate of one case's time.
    guess: Duration,
}

impl Progress {
    /// Progress over `total` runs of `secs` seconds each. Draws nothing
    /// when `quiet`.
    pub fn new(total: usize, secs: f64, quiet: bool) -> Self {
        let total = total as u64;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
                    .expect("a constant template parses"),
            );
            bar
        });
        Self {
            lines: !quiet && bar.is_none(),
            bar,
            total,
            done: 0,
            start: Instant::now(),
            guess: Duration::from_secs_f64(secs) + OVERHEAD_PER_CASE,
        }
    }

    /// Announces the case about to run (`what`: its name and size).
    pub fn start(&mut self, what: &str) {
        let left = format_left(self.time_left());
        match &self.bar {
            Some(bar) => bar.set_message(format!("{what} (about {left} left)")),
            None if self.lines => eprintln!(
                "shmlane bench: [{}/{}] {what} (about {left} left)",
                self.done + 1,
                self.total
            ),
            None => {}
        }
    }

    /// Announces extra work outside the planned cases (a re-run pair).
    pub fn extra(&self, what: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(what.to_string()),
            None if self.lines => eprintln!("shmlane bench: {what}"),
            None => {}
        }
    }

    /// Prints an error line on stderr without tearing the bar.
    pub fn error(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// One planned case has ended.
    pub fn finish_one(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Clears the bar before the tables print.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn time_left(&self) -> Duration {
        let left = self.total.saturating_sub(self.done);
        let per_case = match self.done {
            0 => self.guess,
            done => self.start.elapsed() / u32::try_from(done).unwrap_or(u32::MAX),
        };
        per_case * u32::try_from(left).unwrap_or(u32::MAX)
    }
}

/// `4.2 s`, `42 s` or `3 min 5 s`.
fn format_left(d: Duration) -> String {
    let s = d.as_secs();
    if s < 10 {
        format!("{:.1} s", d.as_secs_f64())
    } else if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_starts_from_the_guess_and_reads_minutes() {
        let p = Progress::new(10, 0.5, true);
        assert_eq!(
            p.time_left(),
            (Duration::from_millis(500) + OVERHEAD_PER_CASE) * 10
        );
        assert_eq!(format_left(Duration::from_secs(42)), "42 s");
        assert_eq!(format_left(Duration::from_millis(4250)), "4.2 s");
        assert_eq!(format_left(Duration::from_secs(185)), "3 min 5 s");
    }
}
