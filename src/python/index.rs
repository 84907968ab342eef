//! The remote package index as a [`PackageSource`], and where its URL comes from.
//!
//! Project pages are fetched with PEP 691 content negotiation (JSON, HTML as fallback) through
//! the HTTP cache. Metadata comes from the PEP 658/714 `.metadata` file when the index offers
//! one (its hash checked), otherwise from the wheel itself: HTTP range requests on the zip's
//! end record and central directory, then only the METADATA member; a server that ignores
//! Range gets the whole wheel, hash-checked.
//!
//! The resolver is synchronous; this source runs on a tokio runtime and bridges with
//! `block_on`. `prefetch` starts page and metadata requests early, so the resolver mostly finds
//! answers already waiting: that is where resolution speed comes from.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pep440_rs::Version;
use pep508_rs::PackageName;
use pubgrub::Ranges;
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, Semaphore};
use url::Url;

use super::build::{BuildError, Hook, HookOutput, HostPython};
use super::metadata::{CoreMetadata, MetadataError};
use super::requirements::{Location, RequirementLine};
use super::resolver::{
    MetadataOrigin, PackageSource, ResolveError, ResolveOptions, SdistInfo, SourceError,
    Speculation, resolve,
};
use super::sdist::{self, SdistError};
use super::simple::{self, CoreMetadataFile, DistFile, ProjectFiles, SimpleError};
use super::target::Tags;
use super::wheel::DistFilename;
use super::zip_metadata::{
    ZipMetadataError, extract_member, find_metadata, locate_directory, member_read_length,
};
use crate::digest::{SafeFileName, Sha256Hex};
use crate::net::cache::HttpCache;
use crate::net::{NetError, RetryPolicy, get_range, get_with_retry, redact, success_body};
use crate::reporter::{Event, Reporter};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("{file} is being built by another thread")]
    Busy { file: String },
    #[error(transparent)]
    Simple(#[from] SimpleError),
    #[error(
        "{url}: sha256 is {actual}, but the index says {expected}; the index or a proxy served different bytes"
    )]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("invalid metadata in {file}")]
    Metadata {
        file: String,
        #[source]
        source: MetadataError,
    },
    #[error("{url} is not a readable wheel: {message}")]
    BadWheel { url: String, message: String },
    #[error("{origin}: invalid index URL `{url}`: {message}")]
    InvalidUrl {
        url: String,
        message: String,
        /// Where it was set (`--index-url`, `requirements.in:3`, ...).
        origin: String,
    },
    #[error("cannot read pip's configuration {}; fix its permissions, or name the index with --index-url", .path.display())]
    PipConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{page} (the index set by {origin})")]
    Page {
        page: String,
        origin: String,
        #[source]
        source: Box<IndexError>,
    },
    #[error(
        "no package index is configured: pass --index-url, set PIP_INDEX_URL, or install pip so airlock can use its default index"
    )]
    NoIndex,
    #[error(transparent)]
    Sdist(#[from] SdistError),
    #[error("{file}: preparing its build")]
    Build {
        file: String,
        #[source]
        source: BuildError,
    },
    #[error(
        "{file}: the index lists it without a sha256 (or sha384/sha512) digest, so airlock cannot pin or verify it"
    )]
    NoHash { file: String },
    #[error(
        "{url}: the bytes served do not have the {algorithm} digest the index gives ({expected}); the index or a proxy served different bytes"
    )]
    DigestMismatch {
        url: String,
        algorithm: &'static str,
        expected: String,
    },
    #[error("building {file} needs itself: {chain}")]
    BuildCycle { file: String, chain: String },
    #[error("{file}: its build requirements cannot be resolved for this machine")]
    BuildRequirements {
        file: String,
        #[source]
        source: Box<ResolveError>,
    },
    #[error("{file}: the metadata its build produced is invalid")]
    BuiltMetadata {
        file: String,
        #[source]
        source: MetadataError,
    },
    #[error(
        "{file}: the build backend asked for `{requirement}`, which is not a PEP 508 requirement"
    )]
    BadBuildRequirement { file: String, requirement: String },
    #[error("cannot write {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An earlier failure for the same sdist, remembered.
    #[error(transparent)]
    Shared(Arc<IndexError>),
}

impl IndexError {
    /// As the resolver sees it: a file it may rule out, or an error that stops it.
    fn into_source_error(self) -> SourceError {
        if self.rules_out_the_file() {
            SourceError::unusable(self)
        } else {
            SourceError::new(self)
        }
    }

    /// Whether this error is about the file itself (its archive refused, its build failing,
    /// its build requirements unresolvable), so that the resolver may rule out that version
    /// and try another, as uv does; network and disk errors are not.
    pub fn rules_out_the_file(&self) -> bool {
        match self {
            // A release whose metadata cannot be read is skipped, as uv and pip skip it.
            IndexError::Metadata { .. }
            | IndexError::Sdist(_)
            | IndexError::Build { .. }
            | IndexError::BuildCycle { .. }
            | IndexError::BuiltMetadata { .. }
            | IndexError::BadBuildRequirement { .. } => true,
            IndexError::BuildRequirements { source, .. } => {
                matches!(**source, ResolveError::NoSolution { .. })
            }
            IndexError::Shared(error) => error.rules_out_the_file(),
            _ => false,
        }
    }
}

/// How several indexes combine (uv's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndexStrategy {
    /// Each project comes from the first index that has it: a private index listed first
    /// cannot be shadowed by a public one (dependency confusion).
    #[default]
    FirstIndex,
    /// Merge every index's files for each project.
    UnsafeBestMatch,
}

/// Counters for the summary line.
#[derive(Debug, Default)]
pub struct IndexStats {
    pub requests: AtomicU64,
    pub cache_hits: AtomicU64,
    /// Time the resolver spent waiting for project pages and metadata (microseconds), and
    /// how often: what prefetching did not hide.
    pub waited_micros: AtomicU64,
    pub waits: AtomicU64,
}

type Shared<T> = Arc<OnceCell<Result<Arc<T>, SourceError>>>;

/// The prepared answer for one sdist, filled once.
type SdistSlot = Arc<Mutex<Option<Result<Arc<SdistInfo>, Arc<IndexError>>>>>;

/// The cell that holds (or will hold) the answer for `key`: every caller asking for the same
/// key, resolver or prefetch, awaits one request.
fn shared_cell<K: Clone + Eq + std::hash::Hash, T>(
    map: &Mutex<HashMap<K, Shared<T>>>,
    key: &K,
) -> Shared<T> {
    let mut map = map.lock().expect("cell map lock");
    map.entry(key.clone()).or_default().clone()
}

struct Inner {
    client: reqwest::Client,
    cache: HttpCache,
    indexes: Vec<Url>,
    strategy: IndexStrategy,
    /// Where each index was set, for messages (empty when the caller did not say).
    origins: Vec<String>,
    offline: bool,
    policy: RetryPolicy,
    permits: Semaphore,
    /// Project pages in flight at once: each can be tens of megabytes while it is read.
    page_permits: Semaphore,
    /// Sdist builds started ahead of the resolver: one at a time (builds are CPU-bound).
    background_builds: Semaphore,
    /// The tags of the run's targets: wheels none of them (nor this machine, which runs the
    /// builds) can install are dropped when a page is read.
    keep: Vec<Tags>,
    projects: Mutex<HashMap<PackageName, Shared<ProjectFiles>>>,
    metadata: Mutex<HashMap<Url, Shared<CoreMetadata>>>,
    /// One lock per sdist (by sha256), so two targets never build the same sdist at once.
    sdists: Mutex<HashMap<Sha256Hex, SdistSlot>>,
    host: std::sync::OnceLock<Result<HostPython, String>>,
    reporter: Arc<dyn Reporter>,
    stats: IndexStats,
}

/// A package index (or several) reached over HTTP.
#[derive(Clone)]
pub struct RemoteIndex {
    inner: Arc<Inner>,
    runtime: tokio::runtime::Handle,
}

/// Parses and normalises an index URL (a trailing slash, so project names join under it).
pub fn parse_index_url(text: &str) -> Result<Url, IndexError> {
    let invalid = |message: String| IndexError::InvalidUrl {
        url: crate::net::redact_str(text),
        message,
        origin: "an index URL".to_string(),
    };
    let mut url = Url::parse(text.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http and https indexes are supported".into()));
    }
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

impl RemoteIndex {
    /// Names where each index was set (parallel to the URLs given to [`RemoteIndex::new`]), so
    /// an error reading one says which setting to fix.
    pub fn with_origins(mut self, origins: Vec<String>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.origins = origins;
        }
        self
    }

    pub fn new(
        indexes: Vec<Url>,
        keep: Vec<Tags>,
        strategy: IndexStrategy,
        cache: HttpCache,
        offline: bool,
        reporter: Arc<dyn Reporter>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, IndexError> {
        Ok(RemoteIndex {
            inner: Arc::new(Inner {
                client: crate::net::client()?,
                cache,
                indexes,
                strategy,
                origins: Vec::new(),
                offline,
                policy: RetryPolicy::default(),
                permits: Semaphore::new(128),
                page_permits: Semaphore::new(8),
                background_builds: Semaphore::new(1),
                keep,
                projects: Mutex::default(),
                metadata: Mutex::default(),
                sdists: Mutex::default(),
                host: std::sync::OnceLock::new(),
                reporter,
                stats: IndexStats::default(),
            }),
            runtime,
        })
    }

    pub fn stats(&self) -> &IndexStats {
        &self.inner.stats
    }

    /// Runs a blocking lookup, counting the time it kept the resolver waiting.
    fn waiting<T>(&self, what: &str, lookup: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let found = lookup();
        let waited = started.elapsed();
        if waited > std::time::Duration::from_millis(1) {
            if std::env::var_os("AIRLOCK_TRACE_SOLVER").is_some_and(|v| v == "1") {
                eprintln!("index: waited {:.3}s for {what}", waited.as_secs_f64());
            }
            let stats = &self.inner.stats;
            stats
                .waited_micros
                .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
            stats.waits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }
}

impl Inner {
    async fn project(
        self: &Arc<Self>,
        name: &PackageName,
    ) -> Result<Arc<ProjectFiles>, SourceError> {
        let cell = shared_cell(&self.projects, name);
        cell.get_or_init(|| async {
            self.fetch_project(name)
                .await
                .map(Arc::new)
                .map_err(SourceError::new)
        })
        .await
        .clone()
    }

    async fn fetch_project(&self, name: &PackageName) -> Result<ProjectFiles, IndexError> {
        let mut merged = ProjectFiles::default();
        for (at, index) in self.indexes.iter().enumerate() {
            let found =
                self.fetch_page(name, index)
                    .await
                    .map_err(|error| match self.origins.get(at) {
                        // Say which setting chose this index: a wrong URL is fixed there.
                        Some(origin) => IndexError::Page {
                            page: index
                                .join(&format!("{name}/"))
                                .map_or_else(|_| redact(index), |url| redact(&url)),
                            origin: origin.clone(),
                            source: Box::new(error),
                        },
                        None => error,
                    })?;
            let Some(files) = found else {
                continue;
            };
            let found = !files.files.is_empty();
            merged.merge(files);
            if found && self.strategy == IndexStrategy::FirstIndex {
                break;
            }
        }
        self.reporter.event(Event::ProjectListed {
            name: name.to_string(),
        });
        Ok(merged)
    }

    /// One index's page for `name`, read and filtered; `None` when the index does not have it.
    async fn fetch_page(
        &self,
        name: &PackageName,
        index: &Url,
    ) -> Result<Option<ProjectFiles>, IndexError> {
        {
            let url = index
                .join(&format!("{name}/"))
                .map_err(|e| IndexError::InvalidUrl {
                    url: redact(index),
                    message: e.to_string(),
                    origin: "the index".to_string(),
                })?;
            // The permit covers the read and the parse: a page's body lives only while its
            // permit is held, so at most that many bodies are in memory at once.
            let _permit = self
                .page_permits
                .acquire()
                .await
                .expect("semaphore is never closed");
            let body = self
                .cache
                .get_revalidated(
                    &self.client,
                    &url,
                    simple::ACCEPT,
                    self.offline,
                    &self.policy,
                )
                .await?;
            let Some(body) = body else {
                return Ok(None);
            };
            self.count(body.from_cache);
            let format = simple::PageFormat::of(body.content_type.as_deref(), &url)?;
            let text = String::from_utf8_lossy(&body.bytes);
            let keep_wheel = |wheel: &super::wheel::WheelFilename| {
                self.keep.is_empty()
                    || self.keep.iter().any(|tags| tags.is_compatible(wheel))
                    || host_might_run(wheel)
            };
            let filter = simple::PageFilter {
                project: name,
                keep_wheel: &keep_wheel,
            };
            let mut files = match format {
                simple::PageFormat::Json => simple::parse_json(&text, &url, &filter)?,
                simple::PageFormat::Html => simple::parse_html(&text, &url, &filter)?,
            };
            drop(text);
            drop(body);
            self.warn_about_page(&url, &files);
            let index_label: Arc<str> = redact(index).into();
            for file in &mut files.files {
                file.index = Some(index_label.clone());
            }
            Ok(Some(files))
        }
    }

    /// Says once per page which files airlock refused or cannot pin, so a file that seems
    /// to vanish from the resolution has a reason the user can see.
    fn warn_about_page(&self, url: &Url, files: &ProjectFiles) {
        const SHOWN: usize = 3;
        let page = redact(url);
        if files.suspicious_count > 0 {
            let shown: Vec<String> = files
                .rejected
                .iter()
                .filter(|refused| refused.suspicious)
                .take(SHOWN)
                .map(|refused| format!("{} ({})", refused.file, refused.reason))
                .collect();
            let more = files.suspicious_count.saturating_sub(shown.len());
            self.reporter.event(Event::Warning {
                message: format!(
                    "{page} lists {} file(s) airlock refuses: {}{}",
                    files.suspicious_count,
                    shown.join("; "),
                    if more > 0 {
                        format!("; and {more} more")
                    } else {
                        String::new()
                    }
                ),
            });
        }
        let undigested: Vec<&str> = files
            .files
            .iter()
            .filter(|file| !file.is_hashed())
            .map(|file| file.filename.as_str())
            .collect();
        if !undigested.is_empty() {
            let more = undigested.len().saturating_sub(SHOWN);
            self.reporter.event(Event::Warning {
                message: format!(
                    "{page} lists {} file(s) without a sha256 (or sha384/sha512) digest; airlock cannot pin them and leaves them out: {}{}",
                    undigested.len(),
                    undigested[..undigested.len().min(SHOWN)].join(", "),
                    if more > 0 {
                        format!(", and {more} more")
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }

    fn count(&self, from_cache: bool) {
        let counter = if from_cache {
            &self.stats.cache_hits
        } else {
            &self.stats.requests
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    async fn metadata(self: &Arc<Self>, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError> {
        let cell = shared_cell(&self.metadata, &file.url);
        cell.get_or_init(|| async {
            let _permit = self
                .permits
                .acquire()
                .await
                .expect("semaphore is never closed");
            // Boxed, so that the request's large state is allocated only once it may run:
            // during a long backtrack thousands of prefetches wait for a permit, and each
            // waiting future is then a few hundred bytes instead of kilobytes.
            Box::pin(self.fetch_metadata(file))
                .await
                .map(Arc::new)
                .map_err(IndexError::into_source_error)
        })
        .await
        .clone()
    }

    async fn fetch_metadata(&self, file: &DistFile) -> Result<CoreMetadata, IndexError> {
        let bytes = match &file.core_metadata {
            CoreMetadataFile::Present { sha256 } => {
                let url = file.metadata_url();
                let check = |bytes: &[u8]| check_sha256(&url, bytes, sha256.as_deref());
                let body = self
                    .cache
                    .get_immutable(&self.client, &url, self.offline, &self.policy, check)
                    .await??;
                self.count(body.from_cache);
                body.bytes
            }
            CoreMetadataFile::Absent => self.metadata_from_wheel(file).await?,
        };
        CoreMetadata::parse(&bytes).map_err(|source| IndexError::Metadata {
            file: file.filename.to_string(),
            source,
        })
    }

    /// Reads `*.dist-info/METADATA` out of the wheel: with range requests when the server
    /// honours them (a few kilobytes instead of the whole wheel), else by downloading it whole
    /// and checking its hash. Only the extracted bytes are cached.
    async fn metadata_from_wheel(&self, file: &DistFile) -> Result<Vec<u8>, IndexError> {
        const DERIVED: &str = "wheel-metadata";
        let url = &file.url;
        if let Some(bytes) = self.cache.read_derived(url, DERIVED) {
            self.count(true);
            return Ok(bytes);
        }
        if self.offline {
            return Err(NetError::NotCached { url: redact(url) }.into());
        }
        let bytes = match self.metadata_by_range(file).await {
            Ok(bytes) => bytes,
            Err(_) => {
                let response = get_with_retry(&self.client, url, &self.policy, |r| r).await?;
                self.count(false);
                let body = success_body(response, url).await?;
                check_digest(file, &body)?;
                read_wheel_metadata(url, &body)?
            }
        };
        self.cache.store_derived(url, DERIVED, &bytes)?;
        Ok(bytes)
    }

    /// The range-request path; any error sends the caller to the whole-file download.
    async fn metadata_by_range(&self, file: &DistFile) -> Result<Vec<u8>, IndexError> {
        const TAIL: u64 = 64 * 1024;
        let url = &file.url;
        let bad = |error: ZipMetadataError| IndexError::BadWheel {
            url: redact(url),
            message: error.to_string(),
        };
        let tail = get_range(&self.client, url, &self.policy, &format!("bytes=-{TAIL}")).await?;
        self.count(false);
        if !tail.partial {
            // The server ignored the range and sent everything: use it, but verify it first.
            check_sha256(url, &tail.bytes, file.sha256.as_deref())?;
            return read_wheel_metadata(url, &tail.bytes);
        }
        let total = tail.total.ok_or_else(|| IndexError::BadWheel {
            url: redact(url),
            message: "a 206 answer without Content-Range".into(),
        })?;
        let tail_start = total.saturating_sub(tail.bytes.len() as u64);
        let slice = |start: u64, length: u64| -> Option<&[u8]> {
            let from = usize::try_from(start.checked_sub(tail_start)?).ok()?;
            tail.bytes.get(from..from + usize::try_from(length).ok()?)
        };
        let location = locate_directory(&tail.bytes, tail_start).map_err(bad)?;
        let fetched;
        let directory = match slice(location.offset, location.size) {
            Some(bytes) => bytes,
            None => {
                let end = location
                    .offset
                    .saturating_add(location.size.max(1))
                    .saturating_sub(1);
                fetched = self.range(url, location.offset, end).await?;
                &fetched[..]
            }
        };
        let entry = find_metadata(directory).map_err(bad)?;
        let length =
            member_read_length(&entry).min(total.saturating_sub(entry.local_header_offset));
        if length == 0 {
            return Err(bad(ZipMetadataError::Malformed(
                "member offset past the end",
            )));
        }
        let member_fetched;
        let member = match slice(entry.local_header_offset, length) {
            Some(bytes) => bytes,
            None => {
                let end = entry
                    .local_header_offset
                    .saturating_add(length)
                    .saturating_sub(1);
                member_fetched = self.range(url, entry.local_header_offset, end).await?;
                &member_fetched[..]
            }
        };
        extract_member(member, &entry).map_err(bad)
    }

    async fn range(&self, url: &Url, start: u64, end: u64) -> Result<Vec<u8>, IndexError> {
        let body = get_range(
            &self.client,
            url,
            &self.policy,
            &format!("bytes={start}-{end}"),
        )
        .await?;
        self.count(false);
        if !body.partial {
            return Err(IndexError::BadWheel {
                url: redact(url),
                message: "the server stopped honouring ranges".into(),
            });
        }
        Ok(body.bytes)
    }
}

fn check_sha256(url: &Url, bytes: &[u8], expected: Option<&str>) -> Result<(), IndexError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let actual = hex::encode(Sha256::digest(bytes));
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(IndexError::HashMismatch {
            url: redact(url),
            expected: expected.to_string(),
            actual,
        })
    }
}

/// Checks a whole file against the digest its page gave: sha256, else sha512/sha384. A file
/// with none is never a candidate (the resolver refuses it), so it is never read here.
fn check_digest(file: &DistFile, bytes: &[u8]) -> Result<(), IndexError> {
    if let Some(sha256) = &file.sha256 {
        return check_sha256(&file.url, bytes, Some(sha256.as_str()));
    }
    match &file.other_hash {
        Some(other) if !other.matches(bytes) => Err(IndexError::DigestMismatch {
            url: redact(&file.url),
            algorithm: other.algorithm.name(),
            expected: other.hex.to_string(),
        }),
        Some(_) => Ok(()),
        None => Err(IndexError::NoHash {
            file: file.filename.to_string(),
        }),
    }
}

/// Reads the METADATA of the wheel's single `.dist-info` directory from zip bytes.
pub fn read_wheel_metadata(url: &Url, bytes: &[u8]) -> Result<Vec<u8>, IndexError> {
    let bad = |message: String| IndexError::BadWheel {
        url: redact(url),
        message,
    };
    if bytes.starts_with(b"<") || bytes.starts_with(b"\n<") {
        return Err(bad("the server sent an HTML page instead of a wheel".into()));
    }
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(|name| name.into_owned())
        .filter(|name| {
            let mut parts = name.split('/');
            matches!(
                (parts.next(), parts.next(), parts.next()),
                (Some(dir), Some("METADATA"), None) if dir.ends_with(".dist-info")
            )
        })
        .collect();
    let [name] = names.as_slice() else {
        return Err(bad(format!(
            "expected one .dist-info/METADATA, found {}",
            names.len()
        )));
    };
    let mut entry = archive.by_name(name).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    // Metadata is small; a bound keeps a hostile archive from inflating without limit.
    entry
        .by_ref()
        .take(16 * 1024 * 1024)
        .read_to_end(&mut out)
        .map_err(|e| bad(e.to_string()))?;
    Ok(out)
}

impl PackageSource for RemoteIndex {
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, SourceError> {
        self.waiting(name.as_ref(), || {
            self.runtime.block_on(self.inner.project(name))
        })
    }

    fn metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError> {
        self.waiting(file.filename.as_str(), || {
            self.runtime.block_on(self.inner.metadata(file))
        })
    }

    fn sdist_info(&self, file: &DistFile) -> Result<Arc<SdistInfo>, SourceError> {
        self.sdist_info_blocking(file)
            .map_err(IndexError::into_source_error)
    }

    fn prefetch_metadata(&self, files: Arc<ProjectFiles>, places: Vec<u32>) {
        // Each task names its file by its place in the shared page: a long backtrack parks
        // thousands of these, and a copy of the file in each cost megabytes.
        for at in places {
            let (inner, files) = (self.inner.clone(), files.clone());
            // A failure here is the resolver's to report when it asks for the same file (the
            // cell keeps the error).
            self.runtime.spawn(async move {
                if let Some(file) = files.files.get(at as usize) {
                    drop(inner.metadata(file).await);
                }
            });
        }
    }

    fn prefetch(
        &self,
        name: &PackageName,
        range: Ranges<Version>,
        speculation: Arc<dyn Speculation>,
        depth: u8,
    ) {
        let index = self.clone();
        let name = name.clone();
        self.runtime.spawn(async move {
            let inner = &index.inner;
            let Ok(files) = inner.project(&name).await else {
                return;
            };
            let Some(file) = speculation.pick(&name, &files, &range) else {
                return;
            };
            if !matches!(file.kind, DistFilename::Sdist(_)) {
                let Ok(metadata) = inner.metadata(&file).await else {
                    return;
                };
                if depth > 0 {
                    for (dependency, range) in speculation.follow(&metadata) {
                        if speculation.claim(&dependency) {
                            index.prefetch(&dependency, range, speculation.clone(), depth - 1);
                        }
                    }
                }
                return;
            }
            // An sdist's metadata needs its build: one at a time in the background, on the
            // blocking pool. The resolver, when it gets there, waits for the same slot, or
            // finds the answer cached. A failure is remembered in the slot and reported then.
            let Ok(_turn) = inner.background_builds.acquire().await else {
                return;
            };
            let builder = index.clone();
            let _ = tokio::task::spawn_blocking(move || {
                BACKGROUND.set(true);
                let result = builder.sdist_info_blocking(&file);
                BACKGROUND.set(false);
                result
            })
            .await;
        });
    }
}

/// Whether this machine could install `wheel` for some Python: its builds resolve build
/// requirements for itself, whatever the targets are.
fn host_might_run(wheel: &super::wheel::WheelFilename) -> bool {
    let arch = std::env::consts::ARCH;
    wheel.platform().any(|platform| {
        platform == "any"
            || platform == format!("linux_{arch}")
            || ((platform.starts_with("manylinux") || platform.starts_with("musllinux"))
                && platform.ends_with(arch))
    })
}

/// Where index URLs come from, highest priority first.
#[derive(Debug, Clone, Default)]
pub struct IndexInputs {
    pub flag_index_url: Option<String>,
    pub flag_extra_index_urls: Vec<String>,
    pub requirements_index_url: Option<String>,
    pub requirements_extra_index_urls: Vec<String>,
    /// The `file:line` that set `requirements_index_url`, and each extra index's.
    pub requirements_index_origin: Option<String>,
    pub requirements_extra_origins: Vec<String>,
    pub config_index_url: Option<String>,
    /// The indexes an existing lock was made from (in order): they take the place of pip's
    /// configuration and default, which differ from machine to machine, so a lock stays
    /// current where only those differ. Naming an index (flag, environment, requirements
    /// file, airlock.toml) overrides them.
    pub recorded: Vec<String>,
    pub config_extra_index_urls: Vec<String>,
}

/// The indexes to use, in search order, and where the primary one came from (for messages).
#[derive(Debug, Clone)]
pub struct IndexSelection {
    pub urls: Vec<Url>,
    /// Where each URL was set (`--index-url`, `PIP_INDEX_URL`, `requirements.in:3`,
    /// `airlock.toml`, a pip.conf, pip's default), for messages.
    pub origins: Vec<String>,
    pub primary_source: String,
}

/// Picks the index: `--index-url` > `PIP_INDEX_URL`/`UV_INDEX_URL`/`UV_DEFAULT_INDEX` >
/// `--index-url` in a requirements file > `index-url` in airlock.toml > pip's configuration
/// files > the default index of the local pip. Extra indexes from every level are searched
/// after the primary, in that order.
pub fn select_indexes(
    inputs: &IndexInputs,
    env: &dyn Fn(&str) -> Option<String>,
    cache_dir: &Path,
) -> Result<IndexSelection, IndexError> {
    let pip_config = read_pip_config(env)?;
    let env_named = |names: &[&str]| {
        names.iter().find_map(|name| {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|value| (value, name.to_string()))
        })
    };
    let primary = if let Some(url) = &inputs.flag_index_url {
        (url.clone(), "--index-url".to_string())
    } else if let Some(found) = env_named(&["PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"]) {
        found
    } else if let Some(url) = &inputs.requirements_index_url {
        (
            url.clone(),
            inputs
                .requirements_index_origin
                .clone()
                .unwrap_or_else(|| "the requirements file".into()),
        )
    } else if let Some(url) = &inputs.config_index_url {
        (url.clone(), "airlock.toml".to_string())
    } else if let Some(url) = inputs.recorded.first() {
        (url.clone(), "the lock".to_string())
    } else if let Some(found) = pip_config.index_url.clone() {
        found
    } else {
        (
            pip_default_index(cache_dir).ok_or(IndexError::NoIndex)?,
            "pip's default".to_string(),
        )
    };
    let primary_source = primary.1.clone();
    let mut texts: Vec<(String, String)> = vec![primary];
    texts.extend(
        inputs
            .flag_extra_index_urls
            .iter()
            .map(|url| (url.clone(), "--extra-index-url".to_string())),
    );
    for name in ["PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"] {
        if let Some(value) = env(name) {
            texts.extend(
                value
                    .split_whitespace()
                    .map(|url| (url.to_string(), name.to_string())),
            );
        }
    }
    texts.extend(
        inputs
            .requirements_extra_index_urls
            .iter()
            .enumerate()
            .map(|(at, url)| {
                let origin = inputs
                    .requirements_extra_origins
                    .get(at)
                    .cloned()
                    .unwrap_or_else(|| "the requirements file".into());
                (url.clone(), origin)
            }),
    );
    texts.extend(
        inputs
            .config_extra_index_urls
            .iter()
            .map(|url| (url.clone(), "airlock.toml".to_string())),
    );
    if primary_source == "the lock" {
        // The lock's list is the whole list it was made with.
        texts.extend(
            inputs
                .recorded
                .iter()
                .skip(1)
                .map(|url| (url.clone(), "the lock".to_string())),
        );
    } else {
        texts.extend(pip_config.extra_index_urls);
    }
    let mut urls: Vec<Url> = Vec::new();
    let mut origins = Vec::new();
    for (text, origin) in texts {
        let url = parse_index_url(&text).map_err(|error| match error {
            IndexError::InvalidUrl { url, message, .. } => IndexError::InvalidUrl {
                url,
                message,
                origin: origin.clone(),
            },
            other => other,
        })?;
        if !urls.contains(&url) {
            urls.push(url);
            origins.push(origin);
        }
    }
    Ok(IndexSelection {
        urls,
        origins,
        primary_source,
    })
}

#[derive(Debug, Default)]
struct PipConfig {
    /// The URL and the file that set it.
    index_url: Option<(String, String)>,
    extra_index_urls: Vec<(String, String)>,
}

/// pip's configuration files in pip's loading order (later wins), `[global]` then `[install]`.
/// A file that is absent is skipped, as pip skips it; one that exists but cannot be read is
/// an error, since the index it names would be silently replaced by another.
fn read_pip_config(env: &dyn Fn(&str) -> Option<String>) -> Result<PipConfig, IndexError> {
    let mut files: Vec<PathBuf> = Vec::new();
    let xdg_dirs = env("XDG_CONFIG_DIRS").unwrap_or_else(|| "/etc/xdg".into());
    files.extend(
        xdg_dirs
            .split(':')
            .map(|dir| Path::new(dir).join("pip/pip.conf")),
    );
    files.push("/etc/pip.conf".into());
    if let Some(home) = env("HOME") {
        files.push(Path::new(&home).join(".pip/pip.conf"));
        let config_home = env("XDG_CONFIG_HOME").unwrap_or_else(|| format!("{home}/.config"));
        files.push(Path::new(&config_home).join("pip/pip.conf"));
    }
    if let Some(venv) = env("VIRTUAL_ENV") {
        files.push(Path::new(&venv).join("pip.conf"));
    }
    if let Some(file) = env("PIP_CONFIG_FILE") {
        files.push(file.into());
    }
    let mut config = PipConfig::default();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(IndexError::PipConfig { path: file, source });
            }
        };
        let origin = file.display().to_string();
        for section in ["global", "install"] {
            let values = ini_section(&text, section);
            if let Some(url) = values.get("index-url").or(values.get("index_url")) {
                config.index_url = Some((url.clone(), origin.clone()));
            }
            if let Some(urls) = values
                .get("extra-index-url")
                .or(values.get("extra_index_url"))
            {
                config.extra_index_urls = urls
                    .split_whitespace()
                    .map(|url| (url.to_string(), origin.clone()))
                    .collect();
            }
        }
    }
    Ok(config)
}

/// Reads one section of an INI file, with indented continuation lines appended.
fn ini_section(text: &str, wanted: &str) -> HashMap<String, String> {
    let mut values: HashMap<String, String> = HashMap::new();
    let mut in_section = false;
    let mut last_key: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            in_section = name.trim() == wanted;
            last_key = None;
            continue;
        }
        if !in_section {
            continue;
        }
        if line.starts_with([' ', '\t'])
            && let Some(key) = &last_key
        {
            let entry = values.entry(key.clone()).or_default();
            entry.push(' ');
            entry.push_str(trimmed);
            continue;
        }
        if let Some((key, value)) = trimmed.split_once(['=', ':']) {
            let key = key.trim().to_ascii_lowercase();
            values.insert(key.clone(), value.trim().to_string());
            last_key = Some(key);
        }
    }
    values
}

/// Asks the local pip which index it uses when nothing is configured. The answer is cached,
/// since starting Python costs more than a warm resolve.
fn pip_default_index(cache_dir: &Path) -> Option<String> {
    let cached = cache_dir.join("pip-default-index");
    if let Ok(text) = std::fs::read_to_string(&cached)
        && !text.trim().is_empty()
    {
        return Some(text.trim().to_string());
    }
    let program = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)";
    for python in ["python3", "python"] {
        let Ok(output) = std::process::Command::new(python)
            .args(["-c", program])
            .stderr(std::process::Stdio::null())
            .output()
        else {
            continue;
        };
        let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if output.status.success() && !url.is_empty() {
            let _ = std::fs::create_dir_all(cache_dir);
            let _ = crate::net::cache::write_atomic(&cached, url.as_bytes());
            return Some(url);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_priority_flag_env_requirements_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut inputs = IndexInputs {
            flag_index_url: Some("http://127.0.0.1:1/flag".into()),
            requirements_index_url: Some("http://127.0.0.1:3/req".into()),
            config_index_url: Some("http://127.0.0.1:4/config".into()),
            config_extra_index_urls: vec!["http://127.0.0.1:5/extra".into()],
            ..IndexInputs::default()
        };
        let home = dir.path().display().to_string();
        let env = |name: &str| match name {
            "PIP_INDEX_URL" => Some("http://u:secret@127.0.0.1:2/env".to_string()),
            "HOME" => Some(home.clone()),
            "XDG_CONFIG_DIRS" => Some(home.clone()),
            _ => None,
        };
        let select = |inputs: &IndexInputs| {
            select_indexes(inputs, &env, dir.path())
                .unwrap()
                .urls
                .iter()
                .map(redact)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            select(&inputs),
            ["http://127.0.0.1:1/flag/", "http://127.0.0.1:5/extra/"]
        );
        inputs.flag_index_url = None;
        assert_eq!(select(&inputs)[0], "http://127.0.0.1:2/env/");
        let no_env = |name: &str| match name {
            "HOME" => Some(home.clone()),
            "XDG_CONFIG_DIRS" => Some(home.clone()),
            _ => None,
        };
        let first = |inputs: &IndexInputs| {
            select_indexes(inputs, &no_env, dir.path()).unwrap().urls[0].to_string()
        };
        assert_eq!(first(&inputs), "http://127.0.0.1:3/req/");
        inputs.requirements_index_url = None;
        assert_eq!(first(&inputs), "http://127.0.0.1:4/config/");
        inputs.config_index_url = None;
        std::fs::create_dir_all(dir.path().join(".config/pip")).unwrap();
        std::fs::write(
            dir.path().join(".config/pip/pip.conf"),
            "[global]\nindex-url = http://127.0.0.1:6/pipconf\n",
        )
        .unwrap();
        assert_eq!(first(&inputs), "http://127.0.0.1:6/pipconf/");
    }

    #[test]
    fn reads_ini_sections_with_continuations() {
        let text =
            "[global]\nindex-url = a\nextra-index-url =\n    b\n    c\n[install]\nindex_url: d\n";
        let global = ini_section(text, "global");
        assert_eq!(global["index-url"], "a");
        assert_eq!(
            global["extra-index-url"]
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(ini_section(text, "install")["index_url"], "d");
    }

    #[test]
    fn rejects_non_http_indexes() {
        assert!(parse_index_url("file:///srv/simple").is_err());
        assert_eq!(
            parse_index_url("https://127.0.0.1/simple")
                .unwrap()
                .as_str(),
            "https://127.0.0.1/simple/"
        );
    }
}

thread_local! {
    /// The sdists this thread is preparing, outermost first: a build requirement that needs
    /// an sdist already on the stack is a cycle, reported rather than deadlocked on.
    /// Set on a thread that builds ahead of the resolver.
    static BACKGROUND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static BUILDING: std::cell::RefCell<Vec<(SafeFileName, Sha256Hex)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What is cached per sdist, by its sha256: the answer of a build is as immutable as the file.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedSdistInfo {
    metadata: String,
    build_requires: Vec<String>,
    origin: MetadataOrigin,
    /// The Python version and platform of the machine that ran the hooks.
    built_on: (String, String),
}

impl CachedSdistInfo {
    fn into_info(self, file: &str) -> Result<SdistInfo, IndexError> {
        let metadata = CoreMetadata::parse(self.metadata.as_bytes()).map_err(|source| {
            IndexError::Metadata {
                file: file.to_string(),
                source,
            }
        })?;
        let build_requires = self
            .build_requires
            .iter()
            .map(|text| {
                pep508_rs::Requirement::from_str(text).map_err(|_| {
                    IndexError::BadBuildRequirement {
                        file: file.to_string(),
                        requirement: text.clone(),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (python, platform) = &self.built_on;
        Ok(SdistInfo {
            metadata: Arc::new(metadata),
            build_requires,
            origin: self.origin,
            built_on: super::target::Target::new(python, platform).ok(),
        })
    }
}

impl RemoteIndex {
    fn cache_root(&self) -> &Path {
        self.inner.cache.root()
    }

    fn host(&self) -> Result<&HostPython, IndexError> {
        self.inner
            .host
            .get_or_init(|| HostPython::detect().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|message| IndexError::Build {
                file: "source distributions".into(),
                source: BuildError::NoPython {
                    python: "python3".into(),
                    message: message.clone(),
                },
            })
    }

    /// An sdist's metadata and build requirements: from the cache, else from its PKG-INFO
    /// and its backend's hooks, run here in an isolated build environment.
    fn sdist_info_blocking(&self, file: &DistFile) -> Result<Arc<SdistInfo>, IndexError> {
        let sha256 = self.sha256_of(file)?;
        let cycle = BUILDING.with(|stack| {
            let stack = stack.borrow();
            stack.iter().any(|(_, sha)| *sha == sha256).then(|| {
                let names: Vec<&str> = stack.iter().map(|(name, _)| name.as_str()).collect();
                names.join(" -> ")
            })
        });
        if let Some(chain) = cycle {
            return Err(IndexError::BuildCycle {
                file: file.filename.to_string(),
                chain: format!("{chain} -> {}", file.filename),
            });
        }
        let slot = {
            let mut map = self.inner.sdists.lock().expect("sdist map lock");
            map.entry(sha256.clone()).or_default().clone()
        };
        // A background build never waits for a slot another thread holds: two threads each
        // holding one build and waiting for the other's would never finish. It steps aside;
        // the resolver builds that one when it gets there.
        let mut slot = if BACKGROUND.get() {
            match slot.try_lock() {
                Ok(slot) => slot,
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(IndexError::Busy {
                        file: file.filename.to_string(),
                    });
                }
                Err(std::sync::TryLockError::Poisoned(_)) => panic!("sdist slot lock poisoned"),
            }
        } else {
            slot.lock().expect("sdist slot lock")
        };
        match slot.as_ref() {
            Some(Ok(info)) => return Ok(info.clone()),
            // The same bytes fail the same way: another target is not built again.
            Some(Err(error)) => return Err(IndexError::Shared(error.clone())),
            None => {}
        }
        let cached_path = self
            .cache_root()
            .join("sdist-info-v2")
            .join(format!("{sha256}.json"));
        if let Ok(bytes) = std::fs::read(&cached_path)
            && let Ok(cached) = serde_json::from_slice::<CachedSdistInfo>(&bytes)
        {
            let info = Arc::new(cached.into_info(&file.filename)?);
            *slot = Some(Ok(info.clone()));
            return Ok(info);
        }
        BUILDING.with(|stack| {
            stack
                .borrow_mut()
                .push((file.filename.clone(), sha256.clone()))
        });
        let result = self.prepare_sdist(file, &sha256);
        BUILDING.with(|stack| stack.borrow_mut().pop());
        let (info, cached) = match result {
            Ok(found) => found,
            Err(error) if error.rules_out_the_file() => {
                let error = Arc::new(error);
                *slot = Some(Err(error.clone()));
                return Err(IndexError::Shared(error));
            }
            Err(error) => return Err(error),
        };
        if let Some(dir) = cached_path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let text = serde_json::to_vec(&cached).expect("serialisable");
        crate::net::cache::write_atomic(&cached_path, &text).map_err(|source| IndexError::Io {
            path: cached_path.clone(),
            source,
        })?;
        let info = Arc::new(info);
        *slot = Some(Ok(info.clone()));
        Ok(info)
    }

    fn prepare_sdist(
        &self,
        file: &DistFile,
        sha256: &Sha256Hex,
    ) -> Result<(SdistInfo, CachedSdistInfo), IndexError> {
        let name = &file.filename;
        let path = self.local_file(file, sha256)?;
        let bytes = std::fs::read(&path).map_err(|source| IndexError::Io {
            path: path.clone(),
            source,
        })?;
        let limits = sdist::Limits::default();
        let inspection = sdist::inspect(name, &bytes, limits)?;
        let static_metadata = inspection.static_metadata(name)?;
        let host = self.host()?.clone();
        let build = |source: BuildError| IndexError::Build {
            file: name.to_string(),
            source,
        };
        let scratch_root = self.cache_root().join("builds");
        std::fs::create_dir_all(&scratch_root).map_err(|source| IndexError::Io {
            path: scratch_root.clone(),
            source,
        })?;
        let scratch = tempfile::Builder::new()
            .prefix("sdist-")
            .tempdir_in(&scratch_root)
            .map_err(|source| IndexError::Io {
                path: scratch_root.clone(),
                source,
            })?;
        let source_dir = scratch.path().join("src");
        std::fs::create_dir(&source_dir).map_err(|source| IndexError::Io {
            path: source_dir.clone(),
            source,
        })?;
        let tree = sdist::extract(name, &bytes, &source_dir, limits)?;
        let build_system = &inspection.build_system;
        let site = self.build_env(name, &build_system.requires, &host)?;
        let asked = match host
            .run_hook(
                name,
                &tree,
                build_system,
                &site,
                Hook::Requires,
                scratch.path(),
            )
            .map_err(build)?
        {
            HookOutput::Requires(list) => list,
            HookOutput::Metadata(_) => unreachable!("the requires hook returns requirements"),
        };
        let mut build_requires = build_system.requires.clone();
        for text in &asked {
            let requirement = pep508_rs::Requirement::from_str(text).map_err(|_| {
                IndexError::BadBuildRequirement {
                    file: name.to_string(),
                    requirement: text.clone(),
                }
            })?;
            if !build_requires.contains(&requirement) {
                build_requires.push(requirement);
            }
        }
        let (metadata_text, origin) = match static_metadata {
            Some(_) => (
                String::from_utf8_lossy(&inspection.pkg_info).into_owned(),
                MetadataOrigin::Static,
            ),
            None => {
                let site = if build_requires.len() == build_system.requires.len() {
                    site
                } else {
                    self.build_env(name, &build_requires, &host)?
                };
                match host
                    .run_hook(
                        name,
                        &tree,
                        build_system,
                        &site,
                        Hook::Metadata,
                        scratch.path(),
                    )
                    .map_err(build)?
                {
                    HookOutput::Metadata(bytes) => (
                        String::from_utf8_lossy(&bytes).into_owned(),
                        MetadataOrigin::Built,
                    ),
                    HookOutput::Requires(_) => unreachable!("the metadata hook returns metadata"),
                }
            }
        };
        let metadata = CoreMetadata::parse(metadata_text.as_bytes()).map_err(|source| {
            IndexError::BuiltMetadata {
                file: name.to_string(),
                source,
            }
        })?;
        let cached = CachedSdistInfo {
            metadata: metadata_text,
            build_requires: build_requires.iter().map(ToString::to_string).collect(),
            origin,
            built_on: (
                host.target.python_version.to_string(),
                host.target.platform.to_string(),
            ),
        };
        Ok((
            SdistInfo {
                metadata: Arc::new(metadata),
                build_requires,
                origin,
                built_on: Some(host.target.clone()),
            },
            cached,
        ))
    }

    /// A verified copy of `file` in the content cache, downloaded whole when missing.
    /// The sha256 of `file`: from its page, or, for a file the page lists with only a
    /// sha384/sha512 digest, computed from its bytes once they match that digest (downloaded
    /// once; the bytes go into the content cache, so fetch finds them there). Locks, the
    /// content cache and fetch all name files by sha256.
    pub fn sha256_of(&self, file: &DistFile) -> Result<Sha256Hex, IndexError> {
        if let Some(sha256) = &file.sha256 {
            return Ok(sha256.clone());
        }
        let Some(other) = &file.other_hash else {
            return Err(IndexError::NoHash {
                file: file.filename.to_string(),
            });
        };
        // The derived entry is tied to the digest it was checked against: a page that
        // changes its digest for the same URL gets a new check.
        let what = format!("sha256-checked-by-{}-{}", other.algorithm.name(), other.hex);
        if let Some(bytes) = self.inner.cache.read_derived(&file.url, &what)
            && let Ok(text) = std::str::from_utf8(&bytes)
            && let Ok(sha256) = Sha256Hex::parse(text)
        {
            return Ok(sha256);
        }
        if self.inner.offline {
            return Err(NetError::NotCached {
                url: redact(&file.url),
            }
            .into());
        }
        let inner = self.inner.clone();
        let url = file.url.clone();
        let body = self.runtime.block_on(async move {
            let response = get_with_retry(&inner.client, &url, &inner.policy, |r| r).await?;
            inner.count(false);
            success_body(response, &url).await
        })?;
        check_digest(file, &body)?;
        let sha256 = Sha256Hex::of(&body);
        crate::net::download::ContentCache::new(self.cache_root())
            .store_bytes(&body, &sha256)
            .map_err(|(path, source)| IndexError::Io { path, source })?;
        self.inner
            .cache
            .store_derived(&file.url, &what, sha256.as_str().as_bytes())?;
        Ok(sha256)
    }

    /// Gives every file of a resolution (and of the build environments it needs) its sha256,
    /// computing it for files listed with only a sha384/sha512 digest: a lock pins sha256.
    pub fn complete_digests<'b>(
        &self,
        resolution: &mut super::resolver::Resolution,
        builds: impl IntoIterator<Item = &'b mut super::resolver::BuildResolution>,
    ) -> Result<(), IndexError> {
        let complete = |file: &mut DistFile| -> Result<(), IndexError> {
            if file.sha256.is_none() && file.other_hash.is_some() {
                file.sha256 = Some(self.sha256_of(file)?);
            }
            Ok(())
        };
        let complete_all = |resolution: &mut super::resolver::Resolution| {
            resolution.packages.values_mut().try_for_each(|package| {
                complete(&mut package.dist)?;
                package.files.iter_mut().try_for_each(complete)
            })
        };
        complete_all(resolution)?;
        for build in builds {
            complete(&mut build.sdist)?;
            complete_all(&mut build.resolution)?;
        }
        Ok(())
    }

    fn local_file(&self, file: &DistFile, sha256: &Sha256Hex) -> Result<PathBuf, IndexError> {
        let cache = crate::net::download::ContentCache::new(self.cache_root());
        if let Some(path) = cache.verified(sha256) {
            return Ok(path);
        }
        if self.inner.offline {
            return Err(NetError::NotCached {
                url: redact(&file.url),
            }
            .into());
        }
        let inner = self.inner.clone();
        let url = file.url.clone();
        let body = self.runtime.block_on(async move {
            let response = get_with_retry(&inner.client, &url, &inner.policy, |r| r).await?;
            inner.count(false);
            success_body(response, &url).await
        })?;
        check_sha256(&file.url, &body, Some(sha256))?;
        cache
            .store_bytes(&body, sha256)
            .map_err(|(path, source)| IndexError::Io { path, source })
    }

    /// A directory with `requires` installed for the host, resolved from this index and
    /// cached by the exact files it holds.
    fn build_env(
        &self,
        what: &str,
        requires: &[pep508_rs::Requirement],
        host: &HostPython,
    ) -> Result<PathBuf, IndexError> {
        let files = self.build_files(what, requires, host, 0)?;
        let mut key = Sha256::new();
        key.update(host.target.to_string().as_bytes());
        for (file, sha256) in &files.top {
            key.update(file.filename.as_bytes());
            key.update(sha256.as_bytes());
        }
        let key = hex::encode(key.finalize());
        let envs = self.cache_root().join("build-envs-v1");
        let site = envs.join(&key[..32]);
        if site.join(".airlock-complete").is_file() {
            return Ok(site);
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IndexError::Io { path, source }
        };
        std::fs::create_dir_all(&envs).map_err(io(&envs))?;
        let scratch = tempfile::Builder::new()
            .prefix(".env-")
            .tempdir_in(&envs)
            .map_err(io(&envs))?;
        let links = scratch.path().join("links");
        std::fs::create_dir(&links).map_err(io(&links))?;
        let mut top_paths = Vec::new();
        for (file, sha256) in files.top.iter().chain(&files.support) {
            let cached = self.local_file(file, sha256)?;
            let linked = links.join(&file.filename);
            if !linked.exists() {
                crate::net::download::link_or_copy_new(&cached, &linked).map_err(io(&linked))?;
            }
            if files
                .top
                .iter()
                .any(|(top, _)| top.filename == file.filename)
            {
                top_paths.push(linked);
            }
        }
        top_paths.sort();
        top_paths.dedup();
        let staged = scratch.path().join("site");
        std::fs::create_dir(&staged).map_err(io(&staged))?;
        // A backend with no requirements (an in-tree one, as flit_core's) needs no install.
        if !top_paths.is_empty() {
            host.install(what, &top_paths, &links, &staged, scratch.path())
                .map_err(|source| IndexError::Build {
                    file: what.to_string(),
                    source,
                })?;
        }
        std::fs::write(staged.join(".airlock-complete"), b"").map_err(io(&staged))?;
        // Another process may have made the same environment meanwhile; either copy serves.
        if std::fs::rename(&staged, &site).is_err() && !site.join(".airlock-complete").is_file() {
            return Err(IndexError::Io {
                path: site,
                source: std::io::Error::other("could not move the build environment into place"),
            });
        }
        Ok(site)
    }

    /// The files a build environment installs (`top`), and for each sdist among them the
    /// files pip needs to build it offline (`support`), recursively.
    fn build_files(
        &self,
        what: &str,
        requires: &[pep508_rs::Requirement],
        host: &HostPython,
        depth: usize,
    ) -> Result<BuildFiles, IndexError> {
        let label = format!("{what} [build-system]");
        let lines: Vec<RequirementLine> = requires
            .iter()
            .enumerate()
            .map(|(index, requirement)| RequirementLine {
                requirement: requirement.clone(),
                hashes: Vec::new(),
                location: Location {
                    file: PathBuf::from(&label),
                    line: index + 1,
                },
            })
            .collect();
        let resolution = resolve(
            self,
            &label,
            &lines,
            &[],
            &host.target,
            &ResolveOptions::default(),
        )
        .map_err(|source| IndexError::BuildRequirements {
            file: what.to_string(),
            source: Box::new(source),
        })?;
        let mut files = BuildFiles::default();
        for package in resolution.packages.values() {
            let sha256 = package
                .dist
                .sha256
                .clone()
                .map_or_else(|| self.sha256_of(&package.dist), Ok)?;
            files.top.push((package.dist.clone(), sha256));
            if matches!(package.dist.kind, DistFilename::Sdist(_)) {
                if depth > 8 {
                    return Err(IndexError::BuildCycle {
                        file: package.dist.filename.to_string(),
                        chain: "more than 8 levels of sdists building sdists".into(),
                    });
                }
                let info = self.sdist_info_blocking(&package.dist)?;
                let nested = self.build_files(
                    &package.dist.filename,
                    &info.build_requires,
                    host,
                    depth + 1,
                )?;
                files.support.extend(nested.top);
                files.support.extend(nested.support);
            }
        }
        Ok(files)
    }
}

#[derive(Default)]
struct BuildFiles {
    top: Vec<(DistFile, Sha256Hex)>,
    support: Vec<(DistFile, Sha256Hex)>,
}
