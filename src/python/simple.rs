//! The Simple Repository API: project pages as PEP 691 JSON or PEP 503 HTML, with yanking
//! (PEP 592), `requires-python` and core metadata files (PEP 658, renamed by PEP 714).
//!
//! Pure parsing: `parse_json(text, page_url)` and `parse_html(text, page_url)`; fetching lives in
//! [`crate::python::index`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::PackageName;
use serde::Deserialize;
use url::Url;

use super::wheel::{DistFilename, WheelFilename};
use crate::digest::{SafeFileName, Sha256Hex};

/// The content types we ask for, best first: JSON, then HTML (PEP 691 content negotiation).
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

#[derive(Debug, thiserror::Error)]
pub enum SimpleError {
    #[error("the project page {url} is not valid PEP 691 JSON")]
    Json {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the project page {url} speaks version {version} of the Simple API; airlock reads version 1 (PEP 691)"
    )]
    ApiVersion { url: String, version: String },
    #[error(
        "the project page {url} is `{content_type}`, not a Simple API page (JSON or HTML); is the index URL right?"
    )]
    ContentType { url: String, content_type: String },
}

/// Whether a core metadata file is served next to the distribution (PEP 658 / PEP 714).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CoreMetadataFile {
    #[default]
    Absent,
    Present {
        sha256: Option<String>,
    },
}

/// A digest stronger than SHA-1 other than sha256, kept for the files a page lists without
/// one: such a file is verified with it, and its sha256 computed from the verified bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            HashAlgorithm::Sha384 => 96,
            HashAlgorithm::Sha512 => 128,
        }
    }
}

/// A sha384 or sha512 digest as the page gave it (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherHash {
    pub algorithm: HashAlgorithm,
    pub hex: Box<str>,
}

impl OtherHash {
    fn parse(algorithm: HashAlgorithm, hex: &str) -> Option<OtherHash> {
        (hex.len() == algorithm.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(
            || OtherHash {
                algorithm,
                hex: hex.to_ascii_lowercase().into_boxed_str(),
            },
        )
    }

    /// Whether `bytes` have this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        use sha2::Digest;
        let actual = match self.algorithm {
            HashAlgorithm::Sha384 => hex::encode(sha2::Sha384::digest(bytes)),
            HashAlgorithm::Sha512 => hex::encode(sha2::Sha512::digest(bytes)),
        };
        actual == *self.hex
    }
}

/// One file listed on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    /// A plain file name: it names the file in the wheelhouse.
    pub filename: SafeFileName,
    pub kind: DistFilename,
    /// Absolute, without the fragment.
    pub url: Url,
    /// `None` when the page gives no sha256: such a file is usable only with
    /// [`DistFile::other_hash`], and its sha256 is computed from bytes checked against that.
    pub sha256: Option<Sha256Hex>,
    /// sha512 (else sha384) when the page gives no sha256.
    pub other_hash: Option<OtherHash>,
    /// Shared between the files of a page that say the same (most of a project's do).
    pub requires_python: Option<Arc<VersionSpecifiers>>,
    pub yanked: bool,
    /// PEP 592's reason, when the index gives one.
    pub yanked_reason: Option<Box<str>>,
    pub size: Option<u64>,
    pub upload_time: Option<Box<str>>,
    pub core_metadata: CoreMetadataFile,
    /// The index the file was listed on, credentials removed (set by the index source).
    pub index: Option<Arc<str>>,
}

impl DistFile {
    /// Where the PEP 658 metadata file lives.
    pub fn metadata_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path(&format!("{}.metadata", self.url.path()));
        url
    }

    /// Whether the page gave a digest airlock can check the file's bytes against.
    pub fn is_hashed(&self) -> bool {
        self.sha256.is_some() || self.other_hash.is_some()
    }
}

/// How many refused files a page keeps the names of (the count is kept in full).
const REJECTED_EXAMPLES: usize = 20;

/// All the files of one project on one index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectFiles {
    pub files: Vec<DistFile>,
    /// Files the page lists that airlock refuses (another project's, an invalid name, an
    /// unusable URL or `requires-python`): the first few, with the reason.
    pub rejected: Vec<Refused>,
    /// How many files were refused in all.
    pub rejected_count: usize,
    /// How many of them no honest index lists (see [`Refused::suspicious`]).
    pub suspicious_count: usize,
}

/// A file a page lists that airlock does not use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub file: String,
    pub reason: String,
    /// Wrong in a way an honest index does not publish (another project's file, an unsafe
    /// name, a bad URL, digest or `requires-python`): worth a warning. The rest are the
    /// project's own old files that no installer reads either.
    pub suspicious: bool,
}

impl ProjectFiles {
    /// Adds another index's files (for `unsafe-best-match`, or an empty first index).
    pub fn merge(&mut self, other: ProjectFiles) {
        if self.files.is_empty() {
            // The usual case, one index: take the page's list as it is (no copy, no slack).
            self.files = other.files;
        } else {
            self.files.extend(other.files);
        }
        let room = REJECTED_EXAMPLES.saturating_sub(self.rejected.len());
        self.rejected.extend(other.rejected.into_iter().take(room));
        self.rejected_count += other.rejected_count;
        self.suspicious_count += other.suspicious_count;
    }
}

/// Which files of a page are kept: the project's own, and among its wheels those some target
/// (or this machine) might install. The rest is dropped as the page is read, so a project with
/// thousands of platform wheels costs memory only for the few that matter.
pub struct PageFilter<'a> {
    pub project: &'a PackageName,
    pub keep_wheel: &'a dyn Fn(&WheelFilename) -> bool,
}

impl<'a> PageFilter<'a> {
    /// Keeps every file of `project`.
    pub fn project(project: &'a PackageName) -> PageFilter<'a> {
        PageFilter {
            project,
            keep_wheel: &|_| true,
        }
    }
}

/// One file entry as a page states it, before it is checked.
#[derive(Default)]
struct RawFile<'s> {
    filename: &'s str,
    url: &'s str,
    sha256: Option<&'s str>,
    sha384: Option<&'s str>,
    sha512: Option<&'s str>,
    requires_python: Option<&'s str>,
    yanked: bool,
    yanked_reason: Option<String>,
    size: Option<u64>,
    upload_time: Option<&'s str>,
    core_metadata: CoreMetadataFile,
}

/// Checks a page's entries one by one and keeps what the filter wants. Shared by the JSON and
/// HTML readers, so both refuse the same things for the same reasons.
struct PageBuilder<'a> {
    filter: &'a PageFilter<'a>,
    requires_pythons: RequiresPythonCache,
    files: Vec<DistFile>,
    /// Versions that have a kept file.
    kept_versions: HashSet<Version>,
    /// For versions with no kept file so far, the first wheel dropped: a version that would
    /// lose all its files keeps one, so it stays known (tried and ruled out, as uv does).
    fallback: HashMap<Version, DistFile>,
    rejected: Vec<Refused>,
    rejected_count: usize,
    suspicious_count: usize,
}

/// Whether `filename` starts with `project`'s name (normalised): the wheel's first part, or
/// for an sdist any prefix up to a dash.
fn names_project(filename: &str, project: &PackageName, wheel: bool) -> bool {
    let named = |prefix: &str| PackageName::from_str(prefix).is_ok_and(|name| name == *project);
    if wheel {
        return filename.split('-').next().is_some_and(named);
    }
    filename
        .match_indices('-')
        .any(|(at, _)| named(&filename[..at]))
}

impl<'a> PageBuilder<'a> {
    fn new(filter: &'a PageFilter<'a>) -> Self {
        PageBuilder {
            filter,
            requires_pythons: RequiresPythonCache::default(),
            files: Vec::new(),
            kept_versions: HashSet::new(),
            fallback: HashMap::new(),
            rejected: Vec::new(),
            rejected_count: 0,
            suspicious_count: 0,
        }
    }

    /// Refuses an entry that is wrong in a way an honest index does not publish (another
    /// project's file, an unsafe name, a bad URL or digest): counted, and said.
    fn reject(&mut self, filename: &str, reason: String) {
        self.rejected_count += 1;
        self.suspicious_count += 1;
        if self.rejected.len() < REJECTED_EXAMPLES {
            self.rejected.push(Refused {
                file: filename.to_string(),
                reason,
                suspicious: true,
            });
        }
    }

    /// Leaves out one of the project's own files that no installer can read either (a
    /// version that is not PEP 440, like `regex-2013-02-16.tar.gz`): counted for the
    /// explanation when nothing else is left, but not worth a warning.
    fn pass_over(&mut self, filename: &str, reason: String) {
        self.rejected_count += 1;
        if self.rejected.len() < REJECTED_EXAMPLES {
            self.rejected.push(Refused {
                file: filename.to_string(),
                reason,
                suspicious: false,
            });
        }
    }

    fn push(&mut self, base: &Url, raw: RawFile<'_>) {
        let project = self.filter.project;
        let kind = if raw.filename.ends_with(".whl") {
            match WheelFilename::from_str(raw.filename) {
                Ok(wheel) if wheel.name == *project => DistFilename::Wheel(wheel),
                Ok(wheel) => {
                    return self.reject(raw.filename, format!("a wheel of {}", wheel.name));
                }
                Err(error) if names_project(raw.filename, project, true) => {
                    return self.pass_over(raw.filename, error.to_string());
                }
                Err(error) => return self.reject(raw.filename, error.to_string()),
            }
        } else if super::wheel::has_sdist_suffix(raw.filename) {
            match super::wheel::SdistFilename::parse_for(raw.filename, project) {
                Ok(sdist) => DistFilename::Sdist(sdist),
                Err(_) if names_project(raw.filename, project, false) => {
                    return self.pass_over(
                        raw.filename,
                        "its version is not a PEP 440 version".to_string(),
                    );
                }
                Err(_) => {
                    return self.reject(
                        raw.filename,
                        format!("not a source distribution of {project} (name-version.tar.gz)"),
                    );
                }
            }
        } else {
            // Eggs, installers, signatures: no installer reads them, so neither does airlock.
            return;
        };
        let filename = match SafeFileName::parse(raw.filename) {
            Ok(filename) => filename,
            Err(error) => return self.reject(raw.filename, error.to_string()),
        };
        let keep = match &kind {
            DistFilename::Wheel(wheel) => (self.filter.keep_wheel)(wheel),
            DistFilename::Sdist(_) => true,
        };
        if !keep
            && (self.kept_versions.contains(kind.version())
                || self.fallback.contains_key(kind.version()))
        {
            return;
        }
        let Some(mut file) = self.complete(base, raw, filename, kind) else {
            return;
        };
        // Files of one release share one `Version` (it is reference-counted).
        if let Some(known) = self.kept_versions.get(file.kind.version()) {
            let shared = known.clone();
            match &mut file.kind {
                DistFilename::Wheel(wheel) => wheel.version = shared,
                DistFilename::Sdist(sdist) => sdist.version = shared,
            }
        }
        if keep {
            self.kept_versions.insert(file.kind.version().clone());
            self.files.push(file);
        } else {
            self.fallback.insert(file.kind.version().clone(), file);
        }
    }

    /// The rest of an entry's checks: its URL, digests and `requires-python`.
    fn complete(
        &mut self,
        base: &Url,
        raw: RawFile<'_>,
        filename: SafeFileName,
        kind: DistFilename,
    ) -> Option<DistFile> {
        let url = match base.join(raw.url) {
            Ok(url) => url,
            Err(error) => {
                self.reject(
                    raw.filename,
                    format!("its URL `{}` is invalid: {error}", raw.url),
                );
                return None;
            }
        };
        let (url, fragment) = split_fragment(url);
        let named = |name: &str| {
            fragment
                .iter()
                .find(|(algorithm, _)| algorithm == name)
                .map(|(_, hex)| hex.as_str())
        };
        let sha256_text = raw.sha256.or(named("sha256"));
        let sha256 = match sha256_text.map(Sha256Hex::parse) {
            None => None,
            Some(Ok(sha256)) => Some(sha256),
            Some(Err(error)) => {
                self.reject(raw.filename, format!("its sha256 is invalid: {error}"));
                return None;
            }
        };
        let other_hash = if sha256.is_some() {
            None
        } else {
            [
                (HashAlgorithm::Sha512, raw.sha512.or(named("sha512"))),
                (HashAlgorithm::Sha384, raw.sha384.or(named("sha384"))),
            ]
            .into_iter()
            .find_map(|(algorithm, hex)| OtherHash::parse(algorithm, hex?))
        };
        let requires_python = match self.requires_pythons.get(raw.requires_python) {
            Ok(requires_python) => requires_python,
            Err(reason) => {
                self.reject(raw.filename, reason);
                return None;
            }
        };
        Some(DistFile {
            filename,
            kind,
            url,
            sha256,
            other_hash,
            requires_python,
            yanked: raw.yanked,
            yanked_reason: raw.yanked_reason.map(Box::from),
            size: raw.size,
            upload_time: raw.upload_time.map(Box::from),
            core_metadata: raw.core_metadata,
            index: None,
        })
    }

    fn finish(mut self) -> ProjectFiles {
        let mut fallback: Vec<DistFile> = self
            .fallback
            .into_values()
            .filter(|file| !self.kept_versions.contains(file.kind.version()))
            .collect();
        // Deterministic whatever the hash map's order.
        fallback.sort_by(|a, b| a.filename.as_str().cmp(b.filename.as_str()));
        self.files.extend(fallback);
        self.files.shrink_to_fit();
        ProjectFiles {
            files: self.files,
            rejected: self.rejected,
            rejected_count: self.rejected_count,
            suspicious_count: self.suspicious_count,
        }
    }
}

/// Parses each distinct `requires-python` of a page once: a project's thousands of files
/// share a handful of values. Malformed values that uv repairs (`>=2.7.*`) are repaired the
/// same way; a file whose value cannot be read is refused, as uv refuses it, since nobody can
/// tell which interpreters it supports.
#[derive(Default)]
struct RequiresPythonCache(HashMap<String, Result<Option<Arc<VersionSpecifiers>>, String>>);

impl RequiresPythonCache {
    fn get(&mut self, text: Option<&str>) -> Result<Option<Arc<VersionSpecifiers>>, String> {
        let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
            return Ok(None);
        };
        if let Some(found) = self.0.get(text) {
            return found.clone();
        }
        let parsed = super::lenient::version_specifiers(text)
            .map(|(specifiers, _)| Some(Arc::new(specifiers)))
            .map_err(|error| {
                // The parser's text ends in a copy of the input with a caret line under it;
                // in a one-line warning about index data the first line says it all.
                let error = error.to_string();
                let reason = error
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(':');
                format!("its requires-python `{text}` is invalid: {reason}")
            });
        self.0.insert(text.to_string(), parsed.clone());
        parsed
    }
}

/// Splits `url#sha256=abc` into the URL and its `algorithm=hex` fragment, if it has one.
fn split_fragment(mut url: Url) -> (Url, Option<(String, String)>) {
    let fragment = url.fragment().and_then(|fragment| {
        let (algorithm, hex) = fragment.split_once('=')?;
        Some((algorithm.to_ascii_lowercase(), hex.to_string()))
    });
    url.set_fragment(None);
    (url, fragment)
}

/// The major version of the Simple API a page speaks: only 1 is known (PEP 629, PEP 691).
fn check_api_version(version: Option<&str>, url: &Url) -> Result<(), SimpleError> {
    let Some(version) = version.map(str::trim) else {
        return Ok(());
    };
    let major = version.split('.').next().unwrap_or_default();
    if major == "1" {
        Ok(())
    } else {
        Err(SimpleError::ApiVersion {
            url: crate::net::redact(url),
            version: version.to_string(),
        })
    }
}

/// What a project page's `Content-Type` says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    Json,
    Html,
}

impl PageFormat {
    /// Reads the `Content-Type` of a project page (PEP 691 content negotiation). A missing
    /// one is read as HTML, as pip reads pages from plain file servers; a version of the API
    /// other than 1, or any other type, is an error naming the URL.
    pub fn of(content_type: Option<&str>, url: &Url) -> Result<PageFormat, SimpleError> {
        let Some(content_type) = content_type else {
            return Ok(PageFormat::Html);
        };
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if let Some(rest) = essence.strip_prefix("application/vnd.pypi.simple.") {
            let (version, format) = rest.split_once('+').unwrap_or((rest, ""));
            let major = version
                .strip_prefix('v')
                .and_then(|v| v.split('.').next())
                .unwrap_or_default();
            if major != "1" {
                return Err(SimpleError::ApiVersion {
                    url: crate::net::redact(url),
                    version: version.to_string(),
                });
            }
            return match format {
                "json" => Ok(PageFormat::Json),
                "html" => Ok(PageFormat::Html),
                _ => Err(SimpleError::ContentType {
                    url: crate::net::redact(url),
                    content_type: content_type.to_string(),
                }),
            };
        }
        match essence.as_str() {
            "application/json" => Ok(PageFormat::Json),
            "text/html" | "application/xhtml+xml" => Ok(PageFormat::Html),
            _ => Err(SimpleError::ContentType {
                url: crate::net::redact(url),
                content_type: content_type.to_string(),
            }),
        }
    }
}

/// Reads a PEP 691 JSON page as it streams through the parser: each file entry is checked
/// and kept or dropped on the spot, and no entry is held in its JSON form.
pub fn parse_json(
    text: &str,
    page_url: &Url,
    filter: &PageFilter<'_>,
) -> Result<ProjectFiles, SimpleError> {
    use serde::de::DeserializeSeed;
    let mut builder = PageBuilder::new(filter);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let page = PageSeed {
        builder: &mut builder,
        base: page_url,
    };
    let api_version = page
        .deserialize(&mut deserializer)
        .and_then(|version| deserializer.end().map(|()| version))
        .map_err(|source| SimpleError::Json {
            url: crate::net::redact(page_url),
            source,
        })?;
    check_api_version(api_version.as_deref(), page_url)?;
    Ok(builder.finish())
}

/// The top-level object: `meta` (for its `api-version`) and `files`; the rest is skipped.
struct PageSeed<'b, 'a> {
    builder: &'b mut PageBuilder<'a>,
    base: &'b Url,
}

impl<'de> serde::de::DeserializeSeed<'de> for PageSeed<'_, '_> {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PageSeed<'_, '_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a PEP 691 project page (an object with `meta` and `files`)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut api_version = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "files" => map.next_value_seed(FilesSeed {
                    builder: &mut *self.builder,
                    base: self.base,
                })?,
                "meta" => api_version = map.next_value::<JsonMeta>()?.api_version,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(api_version)
    }
}

struct FilesSeed<'b, 'a> {
    builder: &'b mut PageBuilder<'a>,
    base: &'b Url,
}

impl<'de> serde::de::DeserializeSeed<'de> for FilesSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FilesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of files")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(file) = seq.next_element::<JsonFile<'de>>()? {
            let core_metadata = [
                file.core_metadata,
                file.dist_info_metadata,
                file.data_dist_info_metadata,
            ]
            .into_iter()
            .flatten()
            .map(|flag| flag.0)
            .find(|m| *m != CoreMetadataFile::Absent)
            .unwrap_or_default();
            self.builder.push(
                self.base,
                RawFile {
                    filename: &file.filename,
                    url: &file.url,
                    sha256: file.hashes.sha256.as_deref(),
                    sha384: file.hashes.sha384.as_deref(),
                    sha512: file.hashes.sha512.as_deref(),
                    requires_python: file.requires_python.as_deref(),
                    yanked: file.yanked.as_ref().is_some_and(|y| y.0),
                    yanked_reason: file.yanked.as_ref().and_then(|y| y.1.clone()),
                    size: file.size,
                    upload_time: file.upload_time.as_deref(),
                    core_metadata,
                },
            );
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct JsonMeta {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

#[derive(Deserialize)]
struct JsonFile<'a> {
    #[serde(borrow)]
    filename: Cow<'a, str>,
    #[serde(borrow)]
    url: Cow<'a, str>,
    #[serde(default, borrow)]
    hashes: JsonHashes<'a>,
    #[serde(rename = "requires-python", default, borrow)]
    requires_python: Option<Cow<'a, str>>,
    #[serde(default)]
    yanked: Option<YankedFlag>,
    size: Option<u64>,
    #[serde(rename = "upload-time", default, borrow)]
    upload_time: Option<Cow<'a, str>>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<MetadataFlag>,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: Option<MetadataFlag>,
    #[serde(rename = "data-dist-info-metadata", default)]
    data_dist_info_metadata: Option<MetadataFlag>,
}

#[derive(Deserialize, Default)]
struct JsonHashes<'a> {
    #[serde(default, borrow)]
    sha256: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    sha384: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    sha512: Option<Cow<'a, str>>,
}

/// PEP 592's `yanked`: `true`, `false`, or a reason (which means yanked).
struct YankedFlag(bool, Option<String>);

impl<'de> Deserialize<'de> for YankedFlag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = YankedFlag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean or a reason")
            }
            fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<YankedFlag, E> {
                Ok(YankedFlag(value, None))
            }
            fn visit_str<E: serde::de::Error>(self, reason: &str) -> Result<YankedFlag, E> {
                let reason = reason.trim();
                Ok(YankedFlag(
                    true,
                    (!reason.is_empty()).then(|| reason.chars().take(200).collect()),
                ))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<YankedFlag, E> {
                Ok(YankedFlag(false, None))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// PEP 691/714's `core-metadata`: `true`, `false`, or the metadata file's hashes.
struct MetadataFlag(CoreMetadataFile);

impl<'de> Deserialize<'de> for MetadataFlag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = MetadataFlag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean or a map of hashes")
            }
            fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<MetadataFlag, E> {
                Ok(MetadataFlag(if value {
                    CoreMetadataFile::Present { sha256: None }
                } else {
                    CoreMetadataFile::Absent
                }))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<MetadataFlag, E> {
                Ok(MetadataFlag(CoreMetadataFile::Absent))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<MetadataFlag, A::Error> {
                let hashes =
                    JsonHashes::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(MetadataFlag(CoreMetadataFile::Present {
                    sha256: hashes.sha256.map(|h| h.to_ascii_lowercase()),
                }))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Parses the anchors of a PEP 503 page. Only `<a ...>text</a>` matters, so this is a small
/// tag scanner rather than a full HTML parser; a `<base href>` is honoured, and so is PEP
/// 629's `pypi:repository-version` (a major version other than 1 is an error).
pub fn parse_html(
    text: &str,
    page_url: &Url,
    filter: &PageFilter<'_>,
) -> Result<ProjectFiles, SimpleError> {
    let mut base = page_url.clone();
    let mut builder = PageBuilder::new(filter);
    let lower = text.to_ascii_lowercase();
    let mut position = 0;
    while let Some(offset) = lower[position..].find('<') {
        let start = position + offset;
        let Some(end_offset) = lower[start..].find('>') else {
            break;
        };
        let end = start + end_offset;
        let tag = &text[start + 1..end];
        position = end + 1;
        let tag_lower = &lower[start + 1..end];
        if tag_lower.starts_with("base ") || tag_lower.starts_with("base\t") {
            if let Some(href) = attribute(tag, "href").and_then(|h| page_url.join(&h).ok()) {
                base = href;
            }
            continue;
        }
        if tag_lower.starts_with("meta ")
            && attribute(tag, "name")
                .is_some_and(|n| n.eq_ignore_ascii_case("pypi:repository-version"))
        {
            check_api_version(attribute(tag, "content").as_deref(), page_url)?;
            continue;
        }
        if !(tag_lower.starts_with("a ")
            || tag_lower.starts_with("a\t")
            || tag_lower.starts_with("a\n"))
        {
            continue;
        }
        let close = lower[position..]
            .find("</a")
            .map_or(text.len(), |o| position + o);
        let filename = decode_entities(text[position..close].trim());
        position = close;
        let Some(href) = attribute(tag, "href") else {
            continue;
        };
        let core_metadata = ["data-core-metadata", "data-dist-info-metadata"]
            .iter()
            .find_map(|name| attribute(tag, name))
            .filter(|value| value != "false")
            .map(|value| CoreMetadataFile::Present {
                sha256: value
                    .strip_prefix("sha256=")
                    .map(|h| h.to_ascii_lowercase()),
            })
            .unwrap_or_default();
        let requires_python = attribute(tag, "data-requires-python");
        builder.push(
            &base,
            RawFile {
                filename: &filename,
                url: &href,
                requires_python: requires_python.as_deref(),
                yanked: attribute(tag, "data-yanked").is_some(),
                yanked_reason: attribute(tag, "data-yanked")
                    .map(|reason| reason.trim().chars().take(200).collect::<String>())
                    .filter(|reason| !reason.is_empty()),
                core_metadata,
                ..RawFile::default()
            },
        );
    }
    Ok(builder.finish())
}

/// The value of an attribute in a start tag, entity-decoded; `Some("")` for a bare attribute.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut index = 0;
    // Skip the element name.
    while index < bytes.len() && !bytes[index].is_ascii_whitespace() {
        index += 1;
    }
    while index < bytes.len() {
        while index < bytes.len() && (bytes[index].is_ascii_whitespace() || bytes[index] == b'/') {
            index += 1;
        }
        let name_start = index;
        while index < bytes.len()
            && !bytes[index].is_ascii_whitespace()
            && bytes[index] != b'='
            && bytes[index] != b'/'
        {
            index += 1;
        }
        let attribute_name = &tag[name_start..index];
        if attribute_name.is_empty() {
            break;
        }
        while index < bytes.len() && bytes[index].is_ascii_whitespace() {
            index += 1;
        }
        let mut value = None;
        if index < bytes.len() && bytes[index] == b'=' {
            index += 1;
            while index < bytes.len() && bytes[index].is_ascii_whitespace() {
                index += 1;
            }
            if index < bytes.len() && (bytes[index] == b'"' || bytes[index] == b'\'') {
                let quote = bytes[index];
                let start = index + 1;
                let end = tag[start..]
                    .find(quote as char)
                    .map_or(tag.len(), |o| start + o);
                value = Some(&tag[start..end]);
                index = (end + 1).min(tag.len());
            } else {
                let start = index;
                while index < bytes.len() && !bytes[index].is_ascii_whitespace() {
                    index += 1;
                }
                value = Some(&tag[start..index]);
            }
        }
        if attribute_name.eq_ignore_ascii_case(name) {
            return Some(decode_entities(value.unwrap_or("")));
        }
    }
    None
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|s| *s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("http://127.0.0.1:9/simple/anyio/").unwrap()
    }

    fn anyio() -> PackageName {
        PackageName::from_str("anyio").unwrap()
    }

    fn json(text: &str) -> ProjectFiles {
        parse_json(text, &page(), &PageFilter::project(&anyio())).unwrap()
    }

    #[test]
    fn parses_pep691_json() {
        let text = r#"{"meta":{"api-version":"1.1"},"name":"anyio","files":[
          {"filename":"anyio-4.6.0-py3-none-any.whl","url":"../../files/anyio-4.6.0-py3-none-any.whl",
           "hashes":{"sha256":"ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"},"requires-python":">=3.9","yanked":false,"size":89000,
           "upload-time":"2024-09-21T10:33:04.123456Z","core-metadata":{"sha256":"1234"}},
          {"filename":"anyio-4.5.0.tar.gz","url":"https://mirror.invalid/anyio-4.5.0.tar.gz#sha256=fefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefe",
           "hashes":{},"yanked":"broken release","data-dist-info-metadata":true},
          {"filename":"anyio-1.0-py2.7.egg","url":"x.egg","hashes":{}},
          {"filename":"anyio-3.0-py3-none-any.whl","url":"a.whl","hashes":{},"requires-python":">=2.7.*"}
        ]}"#;
        let page_files = json(text);
        let files = page_files.files;
        assert_eq!(files.len(), 3, "the egg is skipped");
        assert_eq!(
            page_files.rejected_count, 0,
            "an egg is not refused, just not read"
        );
        let wheel = &files[0];
        assert_eq!(
            wheel.url.as_str(),
            "http://127.0.0.1:9/files/anyio-4.6.0-py3-none-any.whl"
        );
        assert_eq!(wheel.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(wheel.requires_python.as_ref().unwrap().to_string(), ">=3.9");
        assert_eq!(
            wheel.upload_time.as_deref(),
            Some("2024-09-21T10:33:04.123456Z")
        );
        assert_eq!(
            wheel.core_metadata,
            CoreMetadataFile::Present {
                sha256: Some("1234".into())
            }
        );
        assert_eq!(
            wheel.metadata_url().as_str(),
            "http://127.0.0.1:9/files/anyio-4.6.0-py3-none-any.whl.metadata"
        );
        let sdist = &files[1];
        assert!(sdist.yanked);
        assert_eq!(sdist.yanked_reason.as_deref(), Some("broken release"));
        assert_eq!(sdist.sha256.as_deref(), Some("fe".repeat(32).as_str()));
        assert_eq!(sdist.url.fragment(), None);
        assert_eq!(
            sdist.core_metadata,
            CoreMetadataFile::Present { sha256: None }
        );
        assert_eq!(
            files[2].requires_python.as_ref().unwrap().to_string(),
            ">=2.7",
            "`>=2.7.*` is repaired as uv repairs it"
        );
    }

    #[test]
    fn refused_entries_are_named_with_the_reason() {
        let text = r#"{"meta":{"api-version":"1.0"},"files":[
          {"filename":"anyio-1.0-py3-none-any.whl","url":"a.whl","hashes":{"sha256":"abc"}},
          {"filename":"anyio-2.0-py3-none-any.whl","url":"b.whl","requires-python":">=three"},
          {"filename":"sniffio-1.0-py3-none-any.whl","url":"c.whl"},
          {"filename":"anyio-notaversion!-py3-none-any.whl","url":"d.whl"},
          {"filename":"..","url":"e.whl"},
          {"filename":"anyio-3.0-py3-none-any.whl","url":"http://[bad/f.whl"},
          {"filename":"anyio-4.0-py3-none-any.whl","url":"g.whl","hashes":{"sha512":"AA","md5":"00"}},
          {"filename":"anyio-5.0-py3-none-any.whl","url":"h.whl#sha512=CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"}
        ]}"#;
        let files = json(text);
        let reasons: Vec<String> = files
            .rejected
            .iter()
            .map(|refused| format!("{}: {}", refused.file, refused.reason))
            .collect();
        assert_eq!(files.rejected_count, 5, "{reasons:#?}");
        assert!(reasons[0].contains("sha256 is invalid"), "{}", reasons[0]);
        assert!(
            reasons[1].contains("requires-python `>=three`"),
            "{}",
            reasons[1]
        );
        assert!(reasons[2].contains("a wheel of sniffio"), "{}", reasons[2]);
        assert!(
            reasons[3].contains("invalid package name or version"),
            "{}",
            reasons[3]
        );
        assert!(
            reasons[4].contains("URL `http://[bad/f.whl` is invalid"),
            "{}",
            reasons[4]
        );
        // `..` is not a distribution name at all, so it is not read (not refused).
        let kept: Vec<&str> = files.files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            kept,
            ["anyio-4.0-py3-none-any.whl", "anyio-5.0-py3-none-any.whl"]
        );
        assert!(
            !files.files[0].is_hashed(),
            "md5 and a short sha512 are no digest"
        );
        let sha512 = files.files[1].other_hash.as_ref().unwrap();
        assert_eq!(sha512.algorithm, HashAlgorithm::Sha512);
        assert_eq!(&*sha512.hex, "c".repeat(128));
    }

    #[test]
    fn another_major_api_version_or_content_type_is_an_error_naming_the_url() {
        let error = parse_json(
            r#"{"meta":{"api-version":"2.0"},"files":[]}"#,
            &page(),
            &PageFilter::project(&anyio()),
        )
        .unwrap_err();
        assert!(error.to_string().contains("version 2.0"), "{error}");
        assert!(error.to_string().contains("/simple/anyio/"), "{error}");
        let html =
            r#"<html><head><meta name="pypi:repository-version" content="2.0"></head></html>"#;
        assert!(parse_html(html, &page(), &PageFilter::project(&anyio())).is_err());
        let cases = [
            (
                Some("application/vnd.pypi.simple.v1+json"),
                Ok(PageFormat::Json),
            ),
            (
                Some("application/vnd.pypi.simple.v1+html; charset=utf-8"),
                Ok(PageFormat::Html),
            ),
            (Some("text/html; charset=utf-8"), Ok(PageFormat::Html)),
            (Some("application/json"), Ok(PageFormat::Json)),
            (None, Ok(PageFormat::Html)),
            (
                Some("application/vnd.pypi.simple.v2+json"),
                Err("version v2"),
            ),
            (
                Some("application/octet-stream"),
                Err("not a Simple API page"),
            ),
            (Some("text/plain"), Err("not a Simple API page")),
        ];
        for (content_type, expected) in cases {
            let got = PageFormat::of(content_type, &page()).map_err(|e| e.to_string());
            match (expected, got) {
                (Ok(want), Ok(got)) => assert_eq!(want, got, "{content_type:?}"),
                (Err(want), Err(got)) => {
                    assert!(got.contains(want), "{content_type:?}: {got}");
                    assert!(got.contains("/simple/anyio/"), "{got}");
                }
                (want, got) => panic!("{content_type:?}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn rejects_html_served_as_json() {
        let error =
            parse_json("<html></html>", &page(), &PageFilter::project(&anyio())).unwrap_err();
        assert!(error.to_string().contains("/simple/anyio/"), "{error}");
    }

    #[test]
    fn parses_pep503_html() {
        let text = r#"<!DOCTYPE html><html><body>
          <a href="/files/anyio-4.6.0-py3-none-any.whl#sha256=Abcccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" data-requires-python="&gt;=3.9"
             data-core-metadata="sha256=99">anyio-4.6.0-py3-none-any.whl</a><br/>
          <A HREF='anyio-4.5.0.tar.gz' data-yanked>anyio-4.5.0.tar.gz</A>
          <a href="notes.txt">notes.txt</a>
        </body></html>"#;
        let files = parse_html(text, &page(), &PageFilter::project(&anyio()))
            .unwrap()
            .files;
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].url.as_str(),
            "http://127.0.0.1:9/files/anyio-4.6.0-py3-none-any.whl"
        );
        assert_eq!(
            files[0].sha256.as_deref(),
            Some(format!("ab{}", "c".repeat(62)).as_str())
        );
        assert_eq!(
            files[0].requires_python.as_ref().unwrap().to_string(),
            ">=3.9"
        );
        assert_eq!(
            files[0].core_metadata,
            CoreMetadataFile::Present {
                sha256: Some("99".into())
            }
        );
        assert!(!files[0].yanked);
        assert!(files[1].yanked);
        assert_eq!(files[1].yanked_reason, None);
        assert_eq!(
            files[1].url.as_str(),
            "http://127.0.0.1:9/simple/anyio/anyio-4.5.0.tar.gz"
        );
    }

    #[test]
    fn decodes_entities() {
        assert_eq!(decode_entities("a&lt;b&#62;c&#x3d;&bogus"), "a<b>c=&bogus");
    }

    #[test]
    fn a_page_keeps_its_project_files_and_the_platforms_that_matter() {
        let text = r#"<html><body>
          <a href="/f/PyMuPDF-1.14.19.post-2.tar.gz">PyMuPDF-1.14.19.post-2.tar.gz</a>
          <a href="/f/other-1.0-py3-none-any.whl">other-1.0-py3-none-any.whl</a>
          <a href="/f/pymupdf-2.0-cp311-abi3-win_amd64.whl">pymupdf-2.0-cp311-abi3-win_amd64.whl</a>
          <a href="/f/pymupdf-2.0-cp311-abi3-manylinux_2_28_x86_64.whl">pymupdf-2.0-cp311-abi3-manylinux_2_28_x86_64.whl</a>
          <a href="/f/pymupdf-1.0-cp27-cp27m-win32.whl">pymupdf-1.0-cp27-cp27m-win32.whl</a>
          <a href="/f/pymupdf-1.0-cp27-cp27m-win_amd64.whl">pymupdf-1.0-cp27-cp27m-win_amd64.whl</a>
          <a href="/f/pymupdf-3.0-cp311-abi3-win_amd64.whl">pymupdf-3.0-cp311-abi3-win_amd64.whl</a>
          <a href="/f/pymupdf-3.0-cp311-abi3-manylinux_2_28_x86_64.whl">pymupdf-3.0-cp311-abi3-manylinux_2_28_x86_64.whl</a>
        </body></html>"#;
        let name = PackageName::from_str("pymupdf").unwrap();
        let linux = |wheel: &WheelFilename| wheel.platform().any(|p| p.contains("linux"));
        let filter = PageFilter {
            project: &name,
            keep_wheel: &linux,
        };
        let files = parse_html(text, &page(), &filter).unwrap();
        assert_eq!(files.rejected_count, 1, "{:?}", files.rejected);
        let legacy = &files.files[0];
        assert_eq!(legacy.kind.version().to_string(), "1.14.19.post2");
        let names: Vec<&str> = files.files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "PyMuPDF-1.14.19.post-2.tar.gz",
                "pymupdf-2.0-cp311-abi3-manylinux_2_28_x86_64.whl",
                "pymupdf-3.0-cp311-abi3-manylinux_2_28_x86_64.whl",
                "pymupdf-1.0-cp27-cp27m-win32.whl",
            ],
            "1.0 keeps one wheel so the version stays known; 3.0's dropped wheel is not kept \
             once a wheel it keeps follows"
        );
    }
}
