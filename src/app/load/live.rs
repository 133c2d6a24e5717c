//! What a running `xstack load` shows on stderr: one live line per interval and, on a
//! terminal, a progress bar for a run bounded by `--duration` or `--requests`. Both go
//! through one writer (an `indicatif` bar draws itself below the lines it prints), so no
//! line tears the bar or another line. When stderr is not a terminal there is no bar,
//! only the plain lines a log file wants.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How a run is bounded, for the bar.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// Seconds of traffic (warm-up included).
    Time(Duration),
    /// Requests to complete.
    Requests(u64),
}

pub struct Live {
    bar: Option<ProgressBar>,
    bound: Option<Bound>,
}

impl Live {
    /// A bar on a terminal when the run is bounded; plain lines otherwise.
    pub fn new(bound: Option<Bound>) -> Self {
        let bar = match bound {
            Some(b) if std::io::stderr().is_terminal() => {
                let (len, template) = match b {
                    Bound::Time(d) => (
                        d.as_millis().max(1) as u64,
                        "{bar:40} {percent:>3}%  {elapsed_precise} of the run",
                    ),
                    Bound::Requests(n) => {
                        (n.max(1), "{bar:40} {percent:>3}%  {pos}/{len} requests")
                    }
                };
                let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(template) {
                    pb.set_style(style.progress_chars("=> "));
                }
                Some(pb)
            }
            _ => None,
        };
        Live { bar, bound }
    }

    /// One live line, above the bar.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(pb) => pb.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Moves the bar: `elapsed` since the run began, `done` requests completed.
    pub fn progress(&self, elapsed: Duration, done: u64) {
        if let Some(pb) = &self.bar {
            match self.bound {
                Some(Bound::Time(_)) => pb.set_position(elapsed.as_millis() as u64),
                Some(Bound::Requests(_)) => pb.set_position(done),
                None => {}
            }
        }
    }

    /// Clears the bar before the report.
    pub fn finish(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}
