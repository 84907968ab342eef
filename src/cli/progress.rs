//! The terminal side of [`Reporter`]: a spinner on stderr when it is a terminal, and nothing
//! otherwise (CI logs stay clean; `--format json` stays machine-readable).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use airlock::reporter::{Event, NoopReporter, Reporter};
use indicatif::{ProgressBar, ProgressStyle};

pub struct SpinnerReporter {
    bar: ProgressBar,
    listed: AtomicUsize,
}

impl Reporter for SpinnerReporter {
    fn event(&self, event: Event) {
        match event {
            Event::ResolveStarted { lock, target } => {
                self.bar
                    .set_message(format!("resolving {lock} for {target}"));
            }
            Event::ProjectListed { .. } => {
                let listed = self.listed.fetch_add(1, Ordering::Relaxed) + 1;
                self.bar.set_prefix(format!("{listed} projects"));
            }
            Event::LockWritten { .. } => {}
        }
    }
}

impl Drop for SpinnerReporter {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A spinner when stderr is a terminal and output is not quiet; otherwise nothing.
pub fn reporter(quiet: bool) -> std::sync::Arc<dyn Reporter> {
    if quiet || !std::io::stderr().is_terminal() {
        return std::sync::Arc::new(NoopReporter);
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{elapsed}]")
            .expect("the template is valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    std::sync::Arc::new(SpinnerReporter {
        bar,
        listed: AtomicUsize::new(0),
    })
}
