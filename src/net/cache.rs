//! An HTTP cache on disk for index pages and metadata files.
//!
//! Project pages are revalidated per RFC 9111 as far as an index needs: a response is reused
//! without a request while `Cache-Control: max-age` says it is fresh, then revalidated with
//! `If-None-Match`/`If-Modified-Since`. Files whose URL names their content (metadata files next
//! to a hashed wheel) are immutable and never revalidated. `--offline` reads whatever is stored.
//! Entries are written to a temp file and renamed, so a killed run never leaves half an entry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use super::{NetError, RetryPolicy, get_with_retry, redact, success_body};

/// The cache root: `AIRLOCK_CACHE_DIR`, else the platform's user cache directory.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AIRLOCK_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("airlock");
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    if cfg!(target_os = "macos") {
        home.join("Library/Caches/airlock")
    } else {
        home.join(".cache/airlock")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EntryMeta {
    etag: Option<String>,
    last_modified: Option<String>,
    stored_at: u64,
    max_age: Option<u64>,
    content_type: Option<String>,
}

/// A body from the network or the cache.
#[derive(Debug, Clone)]
pub struct CachedBody {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    /// Whether the bytes came without touching the network.
    pub from_cache: bool,
}

#[derive(Debug, Clone)]
pub struct HttpCache {
    root: PathBuf,
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn key(url: &Url, vary: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(url.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(vary.as_bytes());
    hex::encode(hasher.finalize())
}

/// `max-age` from a Cache-Control header; `no-store`/`no-cache` mean "revalidate every time".
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return None;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            age = seconds.trim_matches('"').parse().ok();
        }
    }
    age
}

fn header(
    headers: &reqwest::header::HeaderMap,
    name: reqwest::header::HeaderName,
) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl HttpCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HttpCache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn paths(&self, bucket: &str, key: &str) -> (PathBuf, PathBuf) {
        let dir = self.root.join("http-v1").join(bucket).join(&key[..2]);
        (
            dir.join(format!("{key}.meta")),
            dir.join(format!("{key}.body")),
        )
    }

    fn read(&self, bucket: &str, key: &str) -> Option<(EntryMeta, Vec<u8>)> {
        let (meta_path, body_path) = self.paths(bucket, key);
        let meta: EntryMeta = serde_json::from_slice(&std::fs::read(meta_path).ok()?).ok()?;
        let body = std::fs::read(body_path).ok()?;
        Some((meta, body))
    }

    fn write(
        &self,
        bucket: &str,
        key: &str,
        meta: &EntryMeta,
        body: Option<&[u8]>,
        private: bool,
    ) -> Result<(), NetError> {
        let (meta_path, body_path) = self.paths(bucket, key);
        let dir = meta_path.parent().expect("cache paths have a parent");
        let io = |source| NetError::Cache {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // Body first, then meta: a meta file always points at a complete body.
        if let Some(body) = body {
            write_replacing(&body_path, body, false, private).map_err(io)?;
        }
        let meta_bytes = serde_json::to_vec(meta).expect("cache meta serialises");
        write_replacing(&meta_path, &meta_bytes, false, private).map_err(io)
    }

    /// A page that changes over time (a project page): fresh entries are reused, stale ones
    /// revalidated. `Ok(None)` for a 404, which on an index means "no such project here".
    pub async fn get_revalidated(
        &self,
        client: &reqwest::Client,
        url: &Url,
        accept: &str,
        offline: bool,
        policy: &RetryPolicy,
    ) -> Result<Option<CachedBody>, NetError> {
        let key = key(url, accept);
        let cached = self.read("pages", &key);
        if let Some((meta, body)) = &cached {
            // max-age comes from the server: a huge one must not wrap into "stale" or panic.
            let fresh = meta
                .max_age
                .is_some_and(|age| meta.stored_at.saturating_add(age) > now_seconds());
            if fresh || offline {
                return Ok(Some(CachedBody {
                    bytes: body.clone(),
                    content_type: meta.content_type.clone(),
                    from_cache: true,
                }));
            }
        } else if offline {
            return Err(NetError::NotCached { url: redact(url) });
        }
        let response = get_with_retry(client, url, policy, |request| {
            let mut request = request.header(reqwest::header::ACCEPT, accept);
            if let Some((meta, _)) = &cached {
                if let Some(etag) = &meta.etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(modified) = &meta.last_modified {
                    request = request.header(reqwest::header::IF_MODIFIED_SINCE, modified);
                }
            }
            request
        })
        .await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if status == 304
            && let Some((mut meta, body)) = cached
        {
            meta.stored_at = now_seconds();
            meta.max_age = max_age(&headers).or(meta.max_age);
            self.write("pages", &key, &meta, None, private(url))?;
            return Ok(Some(CachedBody {
                bytes: body,
                content_type: meta.content_type,
                from_cache: false,
            }));
        }
        if status == 404 {
            return Ok(None);
        }
        let bytes = success_body(response, url).await?;
        let meta = EntryMeta {
            etag: header(&headers, reqwest::header::ETAG),
            last_modified: header(&headers, reqwest::header::LAST_MODIFIED),
            stored_at: now_seconds(),
            max_age: max_age(&headers),
            content_type: header(&headers, reqwest::header::CONTENT_TYPE),
        };
        self.write("pages", &key, &meta, Some(&bytes), private(url))?;
        Ok(Some(CachedBody {
            bytes,
            content_type: meta.content_type,
            from_cache: false,
        }))
    }

    /// Bytes derived from an immutable URL (for example the METADATA read out of a wheel).
    pub fn read_derived(&self, url: &Url, what: &str) -> Option<Vec<u8>> {
        self.read("immutable", &key(url, what))
            .map(|(_, body)| body)
    }

    pub fn store_derived(&self, url: &Url, what: &str, bytes: &[u8]) -> Result<(), NetError> {
        let meta = EntryMeta {
            etag: None,
            last_modified: None,
            stored_at: now_seconds(),
            max_age: None,
            content_type: None,
        };
        self.write(
            "immutable",
            &key(url, what),
            &meta,
            Some(bytes),
            private(url),
        )
    }

    /// A file whose URL never changes content (it sits next to a hash-pinned wheel). `check`
    /// validates the bytes before they are stored, so a bad body is never cached.
    pub async fn get_immutable<E>(
        &self,
        client: &reqwest::Client,
        url: &Url,
        offline: bool,
        policy: &RetryPolicy,
        check: impl Fn(&[u8]) -> Result<(), E>,
    ) -> Result<Result<CachedBody, E>, NetError> {
        let key = key(url, "");
        if let Some((meta, body)) = self.read("immutable", &key)
            && check(&body).is_ok()
        {
            return Ok(Ok(CachedBody {
                bytes: body,
                content_type: meta.content_type,
                from_cache: true,
            }));
        }
        if offline {
            return Err(NetError::NotCached { url: redact(url) });
        }
        let response = get_with_retry(client, url, policy, |request| request).await?;
        let content_type = header(response.headers(), reqwest::header::CONTENT_TYPE);
        let bytes = success_body(response, url).await?;
        if let Err(error) = check(&bytes) {
            return Ok(Err(error));
        }
        let meta = EntryMeta {
            etag: None,
            last_modified: None,
            stored_at: now_seconds(),
            max_age: None,
            content_type: content_type.clone(),
        };
        self.write("immutable", &key, &meta, Some(&bytes), private(url))?;
        Ok(Ok(CachedBody {
            bytes,
            content_type,
            from_cache: false,
        }))
    }
}

/// Writes `bytes` to a temp file beside `path`, syncs it to disk, and renames it over `path`:
/// readers see the old file or the new one, never a mix, even after a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(path, bytes, true, false)
}

/// Whether answers for `url` are someone's private data: it carries credentials (an
/// authenticated index), so its cache entries stay readable by the owner only.
fn private(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// Writes through a temp file created `O_EXCL` beside `path` (never through a link), then
/// renames it over `path`. `durable` syncs the bytes and then the directory entry; cache
/// entries skip that: a torn entry after a power loss fails its parse or hash check and is
/// fetched again, and syncing hundreds of small files would cost more than the resolution.
fn write_replacing(path: &Path, bytes: &[u8], durable: bool, private: bool) -> std::io::Result<()> {
    // A bare file name (`-o out.txt`) has the empty path as its parent: that is the current
    // directory, which the temp file and the directory sync must both name as ".".
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".airlock-tmp-")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    // Temp files are created private (0600); what airlock writes is meant to be read by
    // builds and other users, like any file a tool writes, unless it came from an
    // authenticated index.
    #[cfg(unix)]
    if !private {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    if durable {
        temp.as_file().sync_data()?;
    }
    temp.persist(path).map_err(|e| e.error)?;
    if durable {
        crate::net::download::sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(unix)]
    fn atomic_writes_are_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock.toml");
        super::write_atomic(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    #[cfg(unix)]
    fn entries_from_an_authenticated_index_stay_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = super::HttpCache::new(dir.path());
        let mode_of = |url: &str| {
            let url = url::Url::parse(url).unwrap();
            cache
                .store_derived(&url, "wheel-metadata", b"Name: x\n")
                .unwrap();
            let (meta, body) = cache.paths("immutable", &super::key(&url, "wheel-metadata"));
            [meta, body].map(|p| std::fs::metadata(p).unwrap().permissions().mode() & 0o777)
        };
        assert_eq!(mode_of("https://127.0.0.1/files/a.whl"), [0o644, 0o644]);
        assert_eq!(
            mode_of("https://user:secret@127.0.0.1/files/b.whl"),
            [0o600, 0o600]
        );
    }
}
