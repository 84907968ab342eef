//! Progress reporting without printing: the library calls a [`Reporter`]; the CLI decides
//! whether that becomes a progress bar, a log line or nothing.

/// Something worth telling the user about while work is under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Something the user should know; the work goes on.
    Warning { message: String },
    /// A resolution for one lockfile and target started.
    ResolveStarted { lock: String, target: String },
    /// A project's file list arrived (from the network or the cache).
    ProjectListed { name: String },
    /// A lockfile was written or found current.
    LockWritten {
        path: String,
        packages: usize,
        changed: bool,
    },
    /// Downloads are about to start: how many files and bytes.
    FetchPlanned { files: usize, bytes: u64 },
    /// A download's body started arriving (`size` as locked, when known).
    FileStarted { name: String, size: Option<u64> },
    /// Bytes of a download arrived.
    FileBytes { name: String, bytes: u64 },
    /// A file is in place (downloaded, or linked from the cache).
    FileFetched {
        name: String,
        bytes: u64,
        downloaded: bool,
    },
}

pub trait Reporter: Send + Sync {
    fn event(&self, event: Event);
}

/// Reports nothing: for tests and `--quiet`.
pub struct NoopReporter;

impl Reporter for NoopReporter {
    fn event(&self, _event: Event) {}
}
