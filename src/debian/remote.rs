//! Loading a Debian suite over HTTP: `InRelease` (or `Release` + `Release.gpg`), verified
//! with the source's keyring, date-checked, then each component's `Packages` index at the
//! location the verified Release names (by-hash when offered), size- and sha256-checked before
//! it is decompressed and parsed. Everything a suite yields comes from one verified Release, so
//! files of two snapshots are never mixed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use url::Url;

use super::packages::{BinaryPackage, PackagesError, parse_packages_shared};
use super::release::{Release, ReleaseError, parse_release};
use super::signature::{Keyring, SignatureError};
use super::sources::{AptSource, SignedBy};
use crate::digest::Sha256Hex;
use crate::net::cache::HttpCache;
use crate::net::{NetError, RetryPolicy, redact};

/// The archive keyrings apt uses when a source names none.
pub const DEFAULT_KEYRINGS: &[&str] = &[
    "/usr/share/keyrings/debian-archive-keyring.gpg",
    "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
];

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Packages(#[from] PackagesError),
    #[error("{source_origin}: {url} has neither InRelease nor Release")]
    NoRelease { source_origin: String, url: String },
    #[error(
        "{source_origin}: the Release of {suite} lists no Packages index for {component}/binary-{arch} (only .gz and uncompressed indexes are read so far)"
    )]
    NoIndex {
        source_origin: String,
        suite: String,
        component: String,
        arch: String,
    },
    #[error(
        "{url}: got {actual_size} bytes with sha256 {actual}, but the signed Release says {expected_size} bytes with {expected}; the mirror may be mid-sync (try again later) or something between serves other bytes"
    )]
    IndexMismatch {
        url: String,
        expected: String,
        actual: String,
        expected_size: u64,
        actual_size: u64,
    },
    #[error("{url}: cannot decompress: {message}")]
    Decompress { url: String, message: String },
    #[error(
        "{origin}: conflicting distribution: the signed Release is for suite {suite} (codename {codename}), not {expected}; the mirror serves another suite under this name, or an old Release is replayed"
    )]
    ConflictingDistribution {
        origin: String,
        expected: String,
        suite: String,
        codename: String,
    },
    #[error("{source_origin}: suite `{suite}` does not form a URL under {uri}")]
    BadSuite {
        source_origin: String,
        suite: String,
        uri: String,
    },
    #[error("{source_origin}: no keyring to verify it: {message}; name one with Signed-By")]
    NoKeyring {
        source_origin: String,
        message: String,
    },
}

/// What one suite of one source contributes.
#[derive(Debug, Clone)]
pub struct LoadedSuite {
    pub uri: Url,
    pub suite: String,
    pub release: Release,
    /// (index path, sha256) of every index read: the lock records them.
    pub indexes: Vec<(String, Sha256Hex)>,
    /// The packages, in the pieces their indexes were parsed in (see [`AptIndex::from_chunks`]).
    ///
    /// [`AptIndex::from_chunks`]: super::closure::AptIndex::from_chunks
    pub packages: Vec<Vec<BinaryPackage>>,
    /// Why the Release's dates would have been refused, when `allow_expired` let it through.
    pub stale: Option<String>,
    /// Set by the caller when `--allow-older-release` let through a Release older than the
    /// one the lock was made from: what was accepted.
    pub older: Option<String>,
}

/// Reads the keyring a source names.
pub fn keyring_for(source: &AptSource, root: &Path) -> Result<Keyring, RemoteError> {
    let no_keyring = |message: String| RemoteError::NoKeyring {
        source_origin: source.origin.clone(),
        message,
    };
    match &source.signed_by {
        SignedBy::Inline(armour) => Ok(Keyring::from_bytes(armour.as_bytes(), &source.origin)?),
        SignedBy::Files(files) => {
            let mut bytes = Vec::new();
            for file in files {
                let path: PathBuf = if file.is_absolute() {
                    root.join(file.strip_prefix("/").unwrap_or(file))
                } else {
                    root.join(file)
                };
                bytes.extend(
                    std::fs::read(&path)
                        .map_err(|e| no_keyring(format!("{}: {e}", path.display())))?,
                );
            }
            Ok(Keyring::from_bytes(
                &bytes,
                &files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )?)
        }
        SignedBy::Default => {
            for keyring in DEFAULT_KEYRINGS {
                let path = root.join(keyring.trim_start_matches('/'));
                if let Ok(bytes) = std::fs::read(&path) {
                    return Ok(Keyring::from_bytes(&bytes, keyring)?);
                }
            }
            Err(no_keyring(
                "none of the distribution archive keyrings is installed".into(),
            ))
        }
    }
}

/// The configured architectures this source is read for, as apt chooses them: only those its
/// `Architectures:` (`arch=`) option names, when it names any, and only those its Release says
/// it carries, when the Release says (apt skips the others with a notice, so a single-arch
/// third-party repository works on a multiarch host).
fn source_architectures<'a>(
    source: &AptSource,
    release: &Release,
    architectures: &'a [String],
) -> Vec<&'a String> {
    architectures
        .iter()
        .filter(|arch| {
            source
                .architectures
                .as_ref()
                .is_none_or(|only| only.contains(arch))
        })
        .filter(|arch| release.architectures.is_empty() || release.architectures.contains(arch))
        .collect()
}

/// Loads `source` for each of `architectures` (plus `all`, which lives in each architecture's
/// index).
#[allow(clippy::too_many_arguments)]
pub async fn load_suite(
    client: &reqwest::Client,
    cache: &HttpCache,
    policy: &RetryPolicy,
    offline: bool,
    source: &AptSource,
    keyring: Option<&Keyring>,
    architectures: &[String],
    now: SystemTime,
    allow_expired: bool,
) -> Result<LoadedSuite, RemoteError> {
    let flat = source.suite.ends_with('/');
    let relative = if flat {
        source.suite.clone()
    } else {
        format!("dists/{}/", source.suite)
    };
    let base = source
        .uri
        .join(&relative)
        .map_err(|_| RemoteError::BadSuite {
            source_origin: source.origin.clone(),
            suite: source.suite.clone(),
            uri: redact(&source.uri),
        })?;
    let get = |url: Url| async move {
        cache
            .get_revalidated(client, &url, "*/*", offline, policy)
            .await
            .map(|body| body.map(|b| b.bytes))
    };
    let in_release_url = base.join("InRelease").expect("a relative file name joins");
    let signed_text = match get(in_release_url.clone()).await? {
        Some(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            match keyring {
                Some(keyring) => {
                    keyring.verify_clearsigned(&text, &redact(&in_release_url), now)?
                }
                None => super::signature::clearsigned_text(&text, &redact(&in_release_url))?,
            }
        }
        None => {
            let release_url = base.join("Release").expect("a relative file name joins");
            let Some(bytes) = get(release_url.clone()).await? else {
                return Err(RemoteError::NoRelease {
                    source_origin: source.origin.clone(),
                    url: redact(&base),
                });
            };
            if let Some(keyring) = keyring {
                let signature_url = base
                    .join("Release.gpg")
                    .expect("a relative file name joins");
                let signature =
                    get(signature_url.clone())
                        .await?
                        .ok_or_else(|| RemoteError::NoRelease {
                            source_origin: source.origin.clone(),
                            url: redact(&signature_url),
                        })?;
                keyring.verify_detached(
                    &bytes,
                    &String::from_utf8_lossy(&signature),
                    &redact(&release_url),
                    now,
                )?;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let origin = redact(&in_release_url);
    let release = parse_release(&signed_text, &origin)?;
    // A Release for another suite, served or replayed under this suite's path, is refused
    // (apt calls it a conflicting distribution). A flat repository names no suite.
    if !flat {
        let named = [release.suite.as_deref(), release.codename.as_deref()];
        let says_something = named.iter().any(Option::is_some);
        if says_something && !named.contains(&Some(source.suite.as_str())) {
            return Err(RemoteError::ConflictingDistribution {
                origin,
                expected: source.suite.clone(),
                suite: release.suite.clone().unwrap_or_else(|| "(none)".into()),
                codename: release.codename.clone().unwrap_or_else(|| "(none)".into()),
            });
        }
    }
    // With the override, a stale Release still loads, but why it is stale is kept for the lock.
    let stale = match release.check_dates(now, false, &origin) {
        Ok(()) => None,
        Err(ReleaseError::Expired { valid_until, .. }) if allow_expired => {
            Some(format!("{origin}: Valid-Until {valid_until} had passed"))
        }
        Err(ReleaseError::FromTheFuture { date, .. }) if allow_expired => {
            Some(format!("{origin}: Date {date} was in the future"))
        }
        Err(error) => return Err(error.into()),
    };
    // A flat repository has one index for every architecture.
    let directories: Vec<(String, String, String)> = if flat {
        vec![(String::new(), String::new(), String::new())]
    } else {
        let wanted = source_architectures(source, &release, architectures);
        source
            .components
            .iter()
            .flat_map(|component| {
                wanted.iter().map(move |arch| {
                    (
                        component.clone(),
                        (*arch).clone(),
                        format!("{component}/binary-{arch}/"),
                    )
                })
            })
            .collect()
    };
    let mut indexes = Vec::new();
    let mut parsing = Vec::new();
    for (component, arch, directory) in &directories {
        // Mirrors serve the compressed files; an uncompressed `Packages` is often only listed
        // (its hash checks what clients decompress), so it is the last resort.
        let candidates = [
            format!("{directory}Packages.xz"),
            format!("{directory}Packages.gz"),
            format!("{directory}Packages"),
        ];
        let Some((path, location, entry)) = candidates.iter().find_map(|path| {
            release
                .fetch_path(path)
                .map(|(location, entry)| (path.clone(), location, entry.clone()))
        }) else {
            return Err(RemoteError::NoIndex {
                source_origin: source.origin.clone(),
                suite: source.suite.clone(),
                component: component.clone(),
                arch: arch.clone(),
            });
        };
        let mut url = base.join(&location).expect("a relative index path joins");
        let mut fetched = get(url.clone()).await?;
        if fetched.is_none() && location != path {
            // Mirrors can lag behind their own by-hash directory (seen on a live mirror); apt
            // falls back to the plain name too. The bytes are checked against the signed
            // Release either way.
            url = base.join(&path).expect("a relative index path joins");
            fetched = get(url.clone()).await?;
        }
        let Some(bytes) = fetched else {
            return Err(NetError::Status {
                url: redact(&url),
                status: 404,
            }
            .into());
        };
        let actual = Sha256Hex::of(&bytes);
        if actual != entry.sha256 || bytes.len() as u64 != entry.size {
            return Err(RemoteError::IndexMismatch {
                url: redact(&url),
                expected: entry.sha256.to_string(),
                actual: actual.to_string(),
                expected_size: entry.size,
                actual_size: bytes.len() as u64,
            });
        }
        // Decompressing and parsing run off the async workers, while the next index downloads.
        let label = redact(&url);
        let compression = Compression::of(&path);
        parsing.push(tokio::task::spawn_blocking(move || {
            decode_and_parse(bytes.to_vec(), compression, &label)
        }));
        indexes.push((path, entry.sha256.clone()));
    }
    let mut packages = Vec::new();
    for parsed in parsing {
        packages.extend(parsed.await.expect("the index parser does not panic")?);
    }
    Ok(LoadedSuite {
        stale,
        older: None,
        uri: source.uri.clone(),
        suite: source.suite.clone(),
        release,
        indexes,
        packages,
    })
}

/// How an index file is compressed, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Xz,
    Gzip,
    Plain,
}

impl Compression {
    fn of(path: &str) -> Self {
        if path.ends_with(".xz") {
            Compression::Xz
        } else if path.ends_with(".gz") {
            Compression::Gzip
        } else {
            Compression::Plain
        }
    }
}

/// Decompressed text is handed to the parser in pieces of about this size, cut at a blank line.
const PIECE: usize = 4 << 20;

/// Decompresses and parses an index, the two overlapped: a thread decodes pieces that end at a
/// stanza boundary while this one parses the previous piece (xz decoding costs about as much as
/// parsing, so this nearly halves the time on two cores). Line numbers in errors are those of
/// the whole decompressed file.
fn decode_and_parse(
    bytes: Vec<u8>,
    compression: Compression,
    label: &str,
) -> Result<Vec<Vec<BinaryPackage>>, RemoteError> {
    let mut reader: Box<dyn Read + Send> = match compression {
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new(std::io::Cursor::new(bytes))),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(std::io::Cursor::new(bytes))),
        Compression::Plain => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            return Ok(vec![parse_packages_shared(
                std::sync::Arc::new(text),
                label,
                0,
            )?]);
        }
    };
    std::thread::scope(|scope| {
        let (pieces, received) = std::sync::mpsc::sync_channel::<String>(2);
        let decoder = scope.spawn(move || -> std::io::Result<()> {
            let text = |bytes: Vec<u8>| {
                String::from_utf8(bytes)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            };
            let mut pending: Vec<u8> = Vec::with_capacity(PIECE + (1 << 20));
            let mut buffer = vec![0u8; 256 << 10];
            loop {
                let read = reader.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                pending.extend_from_slice(&buffer[..read]);
                if pending.len() >= PIECE
                    && let Some(blank) = pending.windows(2).rposition(|w| w == b"\n\n")
                {
                    // The piece gets a buffer of exactly its size (it is kept for the whole
                    // resolve); `pending` keeps its own buffer for the next one.
                    let piece = pending[..blank + 2].to_vec();
                    pending.drain(..blank + 2);
                    if pieces.send(text(piece)?).is_err() {
                        // The parser stopped at an error; nothing more is wanted.
                        return Ok(());
                    }
                }
            }
            if !pending.is_empty() {
                let _ = pieces.send(text(pending[..].to_vec())?);
            }
            Ok(())
        });
        let mut packages = Vec::new();
        let mut lines = 0;
        let mut parse_error = None;
        for piece in received {
            let piece_lines = piece.bytes().filter(|b| *b == b'\n').count();
            // Each piece's packages stay a vector of their own: joining them copied every
            // package of the suite once more, at the peak of a resolve.
            match parse_packages_shared(std::sync::Arc::new(piece), label, lines) {
                Ok(parsed) => packages.push(parsed),
                Err(error) => {
                    parse_error = Some(error);
                    break;
                }
            }
            lines += piece_lines;
        }
        let decoded = decoder.join().expect("the decoder thread does not panic");
        decoded.map_err(|e| RemoteError::Decompress {
            url: label.to_string(),
            message: e.to_string(),
        })?;
        match parse_error {
            Some(error) => Err(error.into()),
            None => Ok(packages),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of `count` stanzas, a long description each, so it spans several pieces.
    fn big_index(count: usize) -> String {
        let mut text = String::new();
        for i in 0..count {
            text.push_str(&format!(
                "Package: pkg{i}\nVersion: 1.{i}\nArchitecture: amd64\nFilename: pool/p/pkg{i}.deb\nSize: 1\nSHA256: {}\nDescription: filler\n {}\n\n",
                "0".repeat(64),
                "x".repeat(2000)
            ));
        }
        text
    }

    #[test]
    fn pieces_parse_to_the_same_packages_as_the_whole() {
        let text = big_index(6000);
        assert!(text.len() > 2 * PIECE, "the test spans several pieces");
        let whole =
            parse_packages_shared(std::sync::Arc::new(text.clone()), "Packages", 0).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        std::io::Write::write_all(&mut xz, text.as_bytes()).unwrap();
        let compressed = xz.finish().unwrap();
        let pieces = decode_and_parse(compressed, Compression::Xz, "Packages.xz").unwrap();
        assert!(pieces.len() > 1, "several pieces");
        assert_eq!(pieces.concat(), whole);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let pieces =
            decode_and_parse(gz.finish().unwrap(), Compression::Gzip, "Packages.gz").unwrap();
        assert_eq!(pieces.iter().map(Vec::len).sum::<usize>(), 6000);
    }

    #[test]
    fn errors_name_the_line_in_the_whole_file_and_bad_data_is_refused() {
        // A stanza without a Filename far into the file: its line counts every earlier piece.
        let mut text = big_index(4000);
        let line_of_bad = text.matches('\n').count() + 1;
        text.push_str("Package: broken\nVersion: 1\nArchitecture: amd64\n\n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let error = decode_and_parse(gz.finish().unwrap(), Compression::Gzip, "Packages.gz")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!("Packages.gz:{line_of_bad}: the `Filename` field is missing")
        );
        let error = decode_and_parse(b"not xz at all".to_vec(), Compression::Xz, "Packages.xz")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("Packages.xz: cannot decompress"),
            "{error}"
        );
    }
}
