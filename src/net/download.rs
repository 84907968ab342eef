//! Verified, resumable downloads of (url, size, sha256, file name) items. Knows nothing of
//! Python or Debian: the wheelhouse and the apt repository use it alike.
//!
//! A file is streamed into `.airlock-partial-<sha256>` in the destination directory (same
//! filesystem, so the final rename is atomic), hashed as the bytes arrive, size-checked, synced,
//! and renamed to its name only when the digest matches. A partial file survives interruption
//! and is resumed with a `Range` request next time; a server that ignores the range gets a clean
//! restart, never a spliced file. Verified files go into a content-addressed cache shared
//! between projects, from which later runs hard-link (or copy) instead of downloading.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use url::Url;

use crate::digest::{SafeFileName, Sha256Hex};

use super::retry::Outcome;
use super::{RetryDecision, RetryPolicy, redact, tls_refusal};
use crate::reporter::{Event, Reporter};

/// One file to put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadItem {
    pub url: Url,
    pub size: Option<u64>,
    pub sha256: Sha256Hex,
    /// Never a path.
    pub file_name: SafeFileName,
    /// What the user calls it in messages, e.g. `numpy 2.1.0`.
    pub label: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{label}: {url} answered HTTP {status}")]
    Status {
        label: String,
        url: String,
        status: u16,
    },
    #[error("{label}: {url} asked to retry after {seconds} s, longer than airlock waits")]
    RetryAfterTooLong {
        label: String,
        url: String,
        seconds: u64,
    },
    #[error(
        "{label}: {url}: the server's TLS certificate was refused ({reason}); if a proxy on \
         this network intercepts TLS, add its CA to the system's trust store or name the CA \
         file in SSL_CERT_FILE"
    )]
    Certificate {
        label: String,
        url: String,
        reason: String,
    },
    #[error("{label}: downloading {url} failed")]
    Transport {
        label: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{label}: {file_name} has the locked sha256 but is refused: {reason}; nothing was put in the wheelhouse (the index serves a file no installer should use)"
    )]
    Refused {
        label: String,
        file_name: String,
        reason: String,
    },
    #[error(
        "{label}: {url} has sha256 {actual}, but the lock says {expected}; the file was discarded"
    )]
    HashMismatch {
        label: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{label}: {url} sent more than the {expected} bytes the lock records; the file was discarded"
    )]
    TooLong {
        label: String,
        url: String,
        expected: u64,
    },
    #[error(
        "{label}: {url} announces {announced} bytes, but the lock records {expected}; the index changed the file or a proxy serves something else"
    )]
    SizeMismatch {
        label: String,
        url: String,
        expected: u64,
        announced: u64,
    },
    #[error(
        "{label}: {url} ended after {received} of {expected} bytes (truncated); the partial file is kept and resumes next run"
    )]
    Truncated {
        label: String,
        url: String,
        expected: u64,
        received: u64,
    },
    #[error(
        "{label}: {url} sent an HTML page instead of {file_name} (a login page or proxy error?)"
    )]
    Html {
        label: String,
        url: String,
        file_name: String,
    },
    #[error("{label}: no space left on the device while writing {}; files fetched before it are intact", .path.display())]
    DiskFull { label: String, path: PathBuf },
    #[error("{label}: cannot write {}", .path.display())]
    Io {
        label: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{label}: {file_name} is not in the download cache and --offline forbids the network")]
    NotCached { label: String, file_name: String },
}

/// How a file got into place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    Downloaded { bytes: u64, resumed: bool },
    FromCache,
}

/// A content-addressed store of verified files: `<root>/sha256/<ab>/<digest>`.
#[derive(Debug, Clone)]
pub struct ContentCache {
    root: PathBuf,
}

impl ContentCache {
    pub fn new(cache_dir: &Path) -> Self {
        ContentCache {
            root: cache_dir.join("files-v1").join("sha256"),
        }
    }

    fn path(&self, sha256: &Sha256Hex) -> PathBuf {
        self.root.join(sha256.shard()).join(sha256.as_str())
    }

    /// The cached file with this digest, re-hashed before it is trusted (and never a link:
    /// the cache may be shared, and a link could point anywhere).
    pub fn verified(&self, sha256: &Sha256Hex) -> Option<PathBuf> {
        let path = self.path(sha256);
        if !is_regular_file(&path) {
            return None;
        }
        let (actual, _) = hash_file(&path).ok()?;
        (actual == *sha256).then_some(path)
    }

    /// Stores bytes already checked against `sha256` and returns where they are.
    pub fn store_bytes(
        &self,
        bytes: &[u8],
        sha256: &Sha256Hex,
    ) -> Result<PathBuf, (PathBuf, std::io::Error)> {
        let target = self.path(sha256);
        let dir = target.parent().expect("cache paths have a directory");
        fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
        crate::net::cache::write_atomic(&target, bytes).map_err(|e| (target.clone(), e))?;
        Ok(target)
    }

    /// Puts a verified file into the cache: a hard link when possible, else a copy. Failure
    /// only costs a future download, so it is not an error.
    fn store(&self, verified: &Path, sha256: &Sha256Hex) {
        let target = self.path(sha256);
        if target.exists() {
            return;
        }
        let Some(dir) = target.parent() else { return };
        if fs::create_dir_all(dir).is_err() {
            return;
        }
        let temp = dir.join(format!(".tmp-{sha256}-{}", std::process::id()));
        let _ = fs::remove_file(&temp);
        let placed = link_or_copy_new(verified, &temp);
        if placed.is_ok() && fs::rename(&temp, &target).is_err() {
            let _ = fs::remove_file(&temp);
        }
    }
}

/// Places `from` at the new path `to`: a hard link when the file system allows, else a copy
/// into a file created with `O_EXCL | O_NOFOLLOW`. Nothing is ever written through a link
/// planted at `to`; an existing `to` is an error.
pub fn link_or_copy_new(from: &Path, to: &Path) -> std::io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Err(error),
        Err(_) => {
            let mut source = File::open(from)?;
            let mut target = OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(to)?;
            std::io::copy(&mut source, &mut target)?;
            Ok(())
        }
    }
}

/// Makes the renames done in `dir` durable: after a crash the directory entries are there,
/// not only the files' bytes.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`) as (START, TOTAL); `None` when it is not that.
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        text => {
            let total: u64 = text.parse().ok()?;
            if end >= total {
                return None;
            }
            Some(total)
        }
    };
    Some((start, total))
}

/// Whether `path` is a regular file itself (not a link to one).
fn is_regular_file(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// The sha256 and length of a file, read in blocks.
pub fn hash_file(path: &Path) -> std::io::Result<(Sha256Hex, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut length = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        length += read as u64;
    }
    Ok((Sha256Hex::from_digest(&hasher.finalize()), length))
}

/// Checks a file's contents after its digest matched and before it is put in place: the
/// error says what is wrong. The caller knows the formats (wheels, sdists, .debs); this module
/// only moves bytes.
pub type ContentCheck = Arc<dyn Fn(&DownloadItem, &Path) -> Result<(), String> + Send + Sync>;

pub struct Downloader {
    client: reqwest::Client,
    policy: RetryPolicy,
    cache: Option<ContentCache>,
    offline: bool,
    reporter: Arc<dyn Reporter>,
    check: Option<ContentCheck>,
}

fn is_disk_full(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::StorageFull || error.raw_os_error() == Some(28)
}

/// What one attempt ended with, before the retry decision.
enum Attempt {
    Done { bytes: u64, resumed: bool },
    Retry(Outcome),
}

impl Downloader {
    pub fn new(
        client: reqwest::Client,
        policy: RetryPolicy,
        cache: Option<ContentCache>,
        offline: bool,
        reporter: Arc<dyn Reporter>,
    ) -> Self {
        Downloader {
            client,
            policy,
            cache,
            offline,
            reporter,
            check: None,
        }
    }

    /// Runs `check` on every file before it is put in place (downloaded or from the cache); a
    /// file that fails it is refused, and nothing of it lands in the target directory.
    pub fn with_check(mut self, check: ContentCheck) -> Self {
        self.check = Some(check);
        self
    }

    pub fn partial_path(dir: &Path, item: &DownloadItem) -> PathBuf {
        dir.join(format!(".airlock-partial-{}", item.sha256))
    }

    /// Puts `item` at `dir/item.file_name`, verified.
    pub async fn fetch(&self, item: &DownloadItem, dir: &Path) -> Result<Fetched, DownloadError> {
        let final_path = dir.join(&item.file_name);
        let io = |path: &Path, source: std::io::Error| {
            if is_disk_full(&source) {
                DownloadError::DiskFull {
                    label: item.label.clone(),
                    path: path.to_path_buf(),
                }
            } else {
                DownloadError::Io {
                    label: item.label.clone(),
                    path: path.to_path_buf(),
                    source,
                }
            }
        };
        if let Some(cache) = &self.cache {
            let cached = cache.path(&item.sha256);
            // A cache entry is trusted only after it hashes right: another project may share
            // the cache, and a hard link can be edited in place.
            if is_regular_file(&cached)
                && let Ok((digest, length)) = hash_file(&cached)
                && digest == item.sha256
                && item.size.is_none_or(|size| size == length)
            {
                self.run_check(item, &cached).await?;
                let temp = dir.join(format!(".airlock-link-{}", item.sha256));
                let _ = fs::remove_file(&temp);
                link_or_copy_new(&cached, &temp).map_err(|e| io(&temp, e))?;
                fs::rename(&temp, &final_path).map_err(|e| io(&final_path, e))?;
                self.reporter.event(Event::FileFetched {
                    name: item.file_name.to_string(),
                    bytes: length,
                    downloaded: false,
                });
                return Ok(Fetched::FromCache);
            }
        }
        if self.offline {
            return Err(DownloadError::NotCached {
                label: item.label.clone(),
                file_name: item.file_name.to_string(),
            });
        }
        let partial = Self::partial_path(dir, item);
        let mut attempt = 0;
        let (bytes, resumed) = loop {
            match self.attempt(item, &partial).await? {
                Attempt::Done { bytes, resumed } => break (bytes, resumed),
                Attempt::Retry(outcome) => {
                    match self
                        .policy
                        .decide(attempt, outcome.clone(), SystemTime::now())
                    {
                        RetryDecision::Retry(delay) => {
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                        }
                        RetryDecision::TooLong(seconds) => {
                            return Err(DownloadError::RetryAfterTooLong {
                                label: item.label.clone(),
                                url: redact(&item.url),
                                seconds,
                            });
                        }
                        RetryDecision::GiveUp | RetryDecision::Done => {
                            return Err(self.final_error(item, &partial, outcome).await);
                        }
                    }
                }
            }
        };
        if let Err(refused) = self.run_check(item, &partial).await {
            // The bytes are the locked ones, so a resume would only fetch them again.
            let _ = fs::remove_file(&partial);
            return Err(refused);
        }
        // fsync blocks for milliseconds: on the blocking pool it does not stall downloads
        // that share this runtime thread.
        let cache = self.cache.clone();
        let sha256 = item.sha256.clone();
        let (from, to) = (partial.clone(), final_path.clone());
        tokio::task::spawn_blocking(move || -> Result<(), (PathBuf, std::io::Error)> {
            File::open(&from)
                .and_then(|file| file.sync_all())
                .map_err(|e| (from.clone(), e))?;
            fs::rename(&from, &to).map_err(|e| (to.clone(), e))?;
            if let Some(cache) = cache {
                cache.store(&to, &sha256);
            }
            Ok(())
        })
        .await
        .expect("the sync task does not panic")
        .map_err(|(path, error)| io(&path, error))?;
        self.reporter.event(Event::FileFetched {
            name: item.file_name.to_string(),
            bytes,
            downloaded: true,
        });
        Ok(Fetched::Downloaded { bytes, resumed })
    }

    /// Runs the content check, if any, on the blocking pool (it may inflate a whole wheel).
    async fn run_check(&self, item: &DownloadItem, path: &Path) -> Result<(), DownloadError> {
        let Some(check) = self.check.clone() else {
            return Ok(());
        };
        let (owned_item, owned_path) = (item.clone(), path.to_path_buf());
        let verdict = tokio::task::spawn_blocking(move || check(&owned_item, &owned_path))
            .await
            .expect("the content check does not panic");
        verdict.map_err(|reason| DownloadError::Refused {
            label: item.label.clone(),
            file_name: item.file_name.to_string(),
            reason,
        })
    }

    /// The error to report when retries are exhausted.
    async fn final_error(
        &self,
        item: &DownloadItem,
        partial: &Path,
        outcome: Outcome,
    ) -> DownloadError {
        let url = redact(&item.url);
        match outcome {
            Outcome::Status { status, .. } => DownloadError::Status {
                label: item.label.clone(),
                url,
                status,
            },
            Outcome::Transport => {
                let received = fs::metadata(partial).map_or(0, |m| m.len());
                match item.size {
                    Some(expected) if received < expected => DownloadError::Truncated {
                        label: item.label.clone(),
                        url,
                        expected,
                        received,
                    },
                    _ => {
                        // Ask once more to get the transport error itself for the message.
                        match self.client.get(item.url.clone()).send().await {
                            Err(source) => DownloadError::Transport {
                                label: item.label.clone(),
                                url,
                                source,
                            },
                            Ok(_) => DownloadError::Truncated {
                                label: item.label.clone(),
                                url,
                                expected: item.size.unwrap_or(received),
                                received,
                            },
                        }
                    }
                }
            }
        }
    }

    /// One request: resume from the partial file when there is one.
    async fn attempt(&self, item: &DownloadItem, partial: &Path) -> Result<Attempt, DownloadError> {
        let io = |source: std::io::Error| {
            if is_disk_full(&source) {
                let _ = fs::remove_file(partial);
                DownloadError::DiskFull {
                    label: item.label.clone(),
                    path: partial.to_path_buf(),
                }
            } else {
                DownloadError::Io {
                    label: item.label.clone(),
                    path: partial.to_path_buf(),
                    source,
                }
            }
        };
        let discard = |error: DownloadError| {
            let _ = fs::remove_file(partial);
            error
        };
        // Only a regular file is resumed; anything else planted at the partial path (a link, a
        // directory) is removed, never written through.
        let mut offset = match fs::symlink_metadata(partial) {
            Ok(meta) if meta.file_type().is_file() => meta.len(),
            Ok(meta) if meta.is_dir() => {
                fs::remove_dir_all(partial).map_err(io)?;
                0
            }
            Ok(_) => {
                fs::remove_file(partial).map_err(io)?;
                0
            }
            Err(_) => 0,
        };
        if item.size.is_some_and(|size| offset > size) {
            offset = 0;
        }
        let mut request = self
            .client
            .get(item.url.clone())
            .header(reqwest::header::ACCEPT_ENCODING, "identity");
        if offset > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            // A redirect loop or a refused downgrade will not change on a retry.
            Err(source) if let Some(reason) = tls_refusal(&source) => {
                return Err(DownloadError::Certificate {
                    label: item.label.clone(),
                    url: redact(&item.url),
                    reason,
                });
            }
            Err(source) if source.is_redirect() => {
                return Err(DownloadError::Transport {
                    label: item.label.clone(),
                    url: redact(&item.url),
                    source,
                });
            }
            Err(_) => return Ok(Attempt::Retry(Outcome::Transport)),
        };
        let status = response.status().as_u16();
        if status == 416 {
            // The partial file does not fit the server's file: start over.
            let _ = fs::remove_file(partial);
            return Ok(Attempt::Retry(Outcome::Transport));
        }
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return Ok(Attempt::Retry(Outcome::Status {
                status,
                retry_after,
            }));
        }
        let is_html = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        if is_html {
            return Err(discard(DownloadError::Html {
                label: item.label.clone(),
                url: redact(&item.url),
                file_name: item.file_name.to_string(),
            }));
        }
        // 206 continues the partial file only when its Content-Range starts exactly where the
        // partial file ends (and agrees with the locked size); a range that starts elsewhere,
        // or that cannot be read, would splice two files: the partial is dropped and the next
        // attempt asks for the whole file.
        if status == 206 && offset > 0 {
            let range = response
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range);
            let fits = range.is_some_and(|(start, total)| {
                start == offset && total.is_none_or(|t| item.size.is_none_or(|s| s == t))
            });
            if !fits {
                fs::remove_file(partial).map_err(io)?;
                return Ok(Attempt::Retry(Outcome::Transport));
            }
        }
        // 206 continues the partial file; anything else is the whole file from the start.
        let resumed = status == 206 && offset > 0;
        let mut hasher = Sha256::new();
        let mut file = if resumed {
            let mut file = OpenOptions::new()
                .read(true)
                .append(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(partial)
                .map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            // Bounded by the partial file's size, which is below the locked size.
            let mut reader = (&mut file).take(offset);
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let read = reader.read(&mut buffer).map_err(io)?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
            }
            file
        } else {
            offset = 0;
            match fs::remove_file(partial) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(error));
                }
                _ => {}
            }
            // create_new (O_EXCL) never follows a link planted meanwhile.
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(partial)
                .map_err(io)?
        };
        if !resumed
            && let (Some(expected), Some(announced)) = (item.size, response.content_length())
            && announced != expected
        {
            drop(file);
            return Err(discard(DownloadError::SizeMismatch {
                label: item.label.clone(),
                url: redact(&item.url),
                expected,
                announced,
            }));
        }
        self.reporter.event(Event::FileStarted {
            name: item.file_name.to_string(),
            size: item.size,
        });
        let mut received = offset;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    if item.size.is_some_and(|size| received > size) {
                        drop(file);
                        return Err(discard(DownloadError::TooLong {
                            label: item.label.clone(),
                            url: redact(&item.url),
                            expected: item.size.unwrap_or_default(),
                        }));
                    }
                    hasher.update(&chunk);
                    file.write_all(&chunk).map_err(io)?;
                    self.reporter.event(Event::FileBytes {
                        name: item.file_name.to_string(),
                        bytes: chunk.len() as u64,
                    });
                }
                Ok(None) => break,
                Err(_) => {
                    // A reset mid-file: what arrived is kept and the next attempt resumes.
                    file.flush().map_err(io)?;
                    return Ok(Attempt::Retry(Outcome::Transport));
                }
            }
        }
        file.flush().map_err(io)?;
        drop(file);
        if item.size.is_some_and(|size| received < size) {
            return Ok(Attempt::Retry(Outcome::Transport));
        }
        let actual = Sha256Hex::from_digest(&hasher.finalize());
        if actual != item.sha256 {
            return Err(discard(DownloadError::HashMismatch {
                label: item.label.clone(),
                url: redact(&item.url),
                expected: item.sha256.to_string(),
                actual: actual.to_string(),
            }));
        }
        Ok(Attempt::Done {
            bytes: received - offset,
            resumed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read_strictly() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, None)));
        for bad in [
            "bytes 10-5/200",
            "bytes 100-200/200",
            "bytes */200",
            "items 0-9/10",
            "bytes 0-9",
            "bytes -1-9/10",
            "bytes 18446744073709551616-1/2",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn copies_never_go_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to, victim) = (
            dir.path().join("from"),
            dir.path().join("to"),
            dir.path().join("victim"),
        );
        fs::write(&from, b"data").unwrap();
        fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, &to).unwrap();
        assert!(link_or_copy_new(&from, &to).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        fs::remove_file(&to).unwrap();
        link_or_copy_new(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"data");
    }
}
