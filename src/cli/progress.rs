//! The terminal side of [`Reporter`]: a spinner while resolving and a byte bar (rate, ETA, files
//! done) plus a bar per large file while fetching, on stderr when it is a terminal; nothing
//! otherwise (CI logs stay clean; `--format json` stays machine-readable).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use airlock::reporter::{Event, Reporter};
use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Files at least this large get a bar of their own.
const LARGE_FILE: u64 = 8 * 1024 * 1024;

pub struct SpinnerReporter {
    multi: MultiProgress,
    bar: ProgressBar,
    files: Mutex<HashMap<String, ProgressBar>>,
    listed: AtomicUsize,
    files_total: AtomicUsize,
    files_done: AtomicUsize,
}

impl Reporter for SpinnerReporter {
    fn event(&self, event: Event) {
        match event {
            Event::Warning { message } => {
                self.bar.suspend(|| eprintln!("warning: {message}"));
            }
            Event::ResolveStarted { lock, target } => {
                self.bar
                    .set_message(format!("resolving {lock} for {target}"));
            }
            Event::ProjectListed { .. } => {
                let listed = self.listed.fetch_add(1, Ordering::Relaxed) + 1;
                self.bar.set_prefix(format!("{listed} projects"));
            }
            Event::LockWritten { .. } => {}
            Event::FetchPlanned { files, bytes } => {
                self.files_total.store(files, Ordering::Relaxed);
                self.bar.set_length(bytes);
                self.bar.set_position(0);
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("the template is valid")
                    .progress_chars("=> "),
                );
                self.bar.set_prefix(format!("0/{files} files"));
            }
            Event::FileStarted { name, size } => {
                if let Some(size) = size.filter(|size| *size >= LARGE_FILE) {
                    let bar = self.multi.add(ProgressBar::new(size));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "  {msg:40!} [{bar:20}] {bytes}/{total_bytes}",
                        )
                        .expect("the template is valid")
                        .progress_chars("=> "),
                    );
                    bar.set_message(name.clone());
                    self.files.lock().expect("bar map lock").insert(name, bar);
                }
            }
            Event::FileBytes { name, bytes } => {
                self.bar.inc(bytes);
                if let Some(bar) = self.files.lock().expect("bar map lock").get(&name) {
                    bar.inc(bytes);
                }
            }
            Event::FileFetched {
                name,
                downloaded,
                bytes,
            } => {
                if !downloaded {
                    self.bar.inc(bytes);
                }
                if let Some(bar) = self.files.lock().expect("bar map lock").remove(&name) {
                    bar.finish_and_clear();
                }
                let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
                let total = self.files_total.load(Ordering::Relaxed);
                self.bar.set_prefix(format!("{done}/{total} files"));
            }
        }
    }
}

impl Drop for SpinnerReporter {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Without a terminal: warnings on stderr, nothing else.
struct WarningsOnly;

impl Reporter for WarningsOnly {
    fn event(&self, event: Event) {
        if let Event::Warning { message } = event {
            eprintln!("warning: {message}");
        }
    }
}

/// A spinner when stderr is a terminal and output is not quiet; otherwise only warnings.
pub fn reporter(quiet: bool) -> std::sync::Arc<dyn Reporter> {
    if quiet || !std::io::stderr().is_terminal() {
        return std::sync::Arc::new(WarningsOnly);
    }
    let multi = MultiProgress::new();
    let bar = multi.add(ProgressBar::new_spinner());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{elapsed}]")
            .expect("the template is valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    std::sync::Arc::new(SpinnerReporter {
        multi,
        bar,
        files: Mutex::default(),
        listed: AtomicUsize::new(0),
        files_total: AtomicUsize::new(0),
        files_done: AtomicUsize::new(0),
    })
}
