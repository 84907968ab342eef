//! The Simple Repository API: project pages as PEP 691 JSON or PEP 503 HTML, with yanking
//! (PEP 592), `requires-python` and core metadata files (PEP 658, renamed by PEP 714).
//!
//! Pure parsing: `parse_json(text, page_url)` and `parse_html(text, page_url)`; fetching lives in
//! [`crate::python::index`].

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use pep440_rs::VersionSpecifiers;
use pep508_rs::PackageName;
use serde::Deserialize;
use url::Url;

use super::wheel::DistFilename;
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

/// One file listed on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    /// A plain file name: it names the file in the wheelhouse.
    pub filename: SafeFileName,
    pub kind: DistFilename,
    /// Absolute, without the `#sha256=` fragment.
    pub url: Url,
    /// `None` when the page gives no sha256 (or not 64 hex digits): such a file cannot be
    /// locked.
    pub sha256: Option<Sha256Hex>,
    /// Shared between the files of a page that say the same (most of a project's do).
    pub requires_python: Option<Arc<VersionSpecifiers>>,
    pub yanked: bool,
    pub size: Option<u64>,
    pub upload_time: Option<String>,
    pub core_metadata: CoreMetadataFile,
    /// The index the file was listed on, credentials removed (set by the index source).
    pub index: Option<String>,
}

impl DistFile {
    /// Where the PEP 658 metadata file lives.
    pub fn metadata_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path(&format!("{}.metadata", self.url.path()));
        url
    }
}

/// All the files of one project on one index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectFiles {
    pub files: Vec<DistFile>,
    /// Files the page lists that are not this project's (by their names): with the reason.
    pub rejected: Vec<(String, String)>,
}

impl ProjectFiles {
    /// Drops the wheels `keep` refuses (the platforms no target of the run can install),
    /// keeping every sdist and, for a version that would lose all its files, one wheel: the
    /// version stays known (it is tried and ruled out as uv tries it), and the memory of a
    /// project with thousands of platform wheels goes to the few that matter.
    pub fn retain_wheels(&mut self, keep: impl Fn(&super::wheel::WheelFilename) -> bool) {
        let mut kept_version: std::collections::HashSet<pep440_rs::Version> =
            std::collections::HashSet::new();
        let mut keep_flags: Vec<bool> = Vec::with_capacity(self.files.len());
        for file in &self.files {
            let keep_it = match &file.kind {
                DistFilename::Wheel(wheel) => keep(wheel),
                DistFilename::Sdist(_) => true,
            };
            if keep_it {
                kept_version.insert(file.kind.version().clone());
            }
            keep_flags.push(keep_it);
        }
        let mut index = 0;
        self.files.retain(|file| {
            let keep_it = keep_flags[index];
            index += 1;
            keep_it || kept_version.insert(file.kind.version().clone())
        });
        self.files.shrink_to_fit();
    }

    /// Keeps only `project`'s files: wheels named for it, and sdists whose name starts with
    /// it (re-read knowing the name, since legacy sdist names are ambiguous).
    pub fn for_project(self, project: &PackageName) -> ProjectFiles {
        let mut kept = ProjectFiles {
            files: Vec::with_capacity(self.files.len()),
            rejected: self.rejected,
        };
        for mut file in self.files {
            let verdict = match &file.kind {
                DistFilename::Wheel(wheel) if wheel.name == *project => Ok(()),
                DistFilename::Wheel(wheel) => Err(format!("a wheel of {}", wheel.name)),
                DistFilename::Sdist(_) => {
                    match super::wheel::SdistFilename::parse_for(file.filename.as_str(), project) {
                        Ok(sdist) => {
                            file.kind = DistFilename::Sdist(sdist);
                            Ok(())
                        }
                        Err(_) => Err(format!("not an sdist of {project}")),
                    }
                }
            };
            match verdict {
                Ok(()) => kept.files.push(file),
                Err(reason) => kept.rejected.push((file.filename.to_string(), reason)),
            }
        }
        kept
    }
}

#[derive(Deserialize)]
struct JsonPage {
    #[serde(default)]
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::HashMap<String, String>,
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<serde_json::Value>,
    size: Option<u64>,
    #[serde(rename = "upload-time")]
    upload_time: Option<String>,
    #[serde(rename = "core-metadata")]
    core_metadata: Option<serde_json::Value>,
    #[serde(rename = "dist-info-metadata")]
    dist_info_metadata: Option<serde_json::Value>,
    #[serde(rename = "data-dist-info-metadata")]
    data_dist_info_metadata: Option<serde_json::Value>,
}

/// Invalid `requires-python` values exist on real indexes (`>=2.7.*`); an unparsable one is
/// treated as absent, as pip does, rather than hiding the file.
/// Parses each distinct `requires-python` of a page once: a project's thousands of files
/// share a handful of values.
#[derive(Default)]
struct RequiresPythonCache(HashMap<String, Option<Arc<VersionSpecifiers>>>);

impl RequiresPythonCache {
    fn get(&mut self, text: Option<&str>) -> Option<Arc<VersionSpecifiers>> {
        let text = text?.trim();
        if text.is_empty() {
            return None;
        }
        if let Some(found) = self.0.get(text) {
            return found.clone();
        }
        let parsed = VersionSpecifiers::from_str(text).ok().map(Arc::new);
        self.0.insert(text.to_string(), parsed.clone());
        parsed
    }
}

fn metadata_from_json(value: Option<&serde_json::Value>) -> CoreMetadataFile {
    match value {
        Some(serde_json::Value::Bool(true)) => CoreMetadataFile::Present { sha256: None },
        Some(serde_json::Value::Object(hashes)) => CoreMetadataFile::Present {
            sha256: hashes
                .get("sha256")
                .and_then(|v| v.as_str())
                .map(str::to_ascii_lowercase),
        },
        _ => CoreMetadataFile::Absent,
    }
}

/// Splits `url#sha256=abc` into the URL and the hash; other fragments are dropped.
fn split_hash_fragment(mut url: Url) -> (Url, Option<Sha256Hex>) {
    let hash = url.fragment().and_then(|fragment| {
        fragment
            .strip_prefix("sha256=")
            .and_then(|hex| Sha256Hex::parse(hex).ok())
    });
    url.set_fragment(None);
    (url, hash)
}

pub fn parse_json(text: &str, page_url: &Url) -> Result<ProjectFiles, SimpleError> {
    let page: JsonPage = serde_json::from_str(text).map_err(|source| SimpleError::Json {
        url: crate::net::redact(page_url),
        source,
    })?;
    let mut files = Vec::with_capacity(page.files.len());
    let mut requires_pythons = RequiresPythonCache::default();
    for file in page.files {
        let (Some(kind), Ok(filename)) = (
            DistFilename::parse(&file.filename),
            SafeFileName::parse(&file.filename),
        ) else {
            continue;
        };
        let Ok(url) = page_url.join(&file.url) else {
            continue;
        };
        let (url, fragment_hash) = split_hash_fragment(url);
        let yanked = match &file.yanked {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(_)) => true,
            _ => false,
        };
        let core_metadata = [
            &file.core_metadata,
            &file.dist_info_metadata,
            &file.data_dist_info_metadata,
        ]
        .into_iter()
        .map(|v| metadata_from_json(v.as_ref()))
        .find(|m| *m != CoreMetadataFile::Absent)
        .unwrap_or_default();
        files.push(DistFile {
            sha256: file
                .hashes
                .get("sha256")
                .and_then(|h| Sha256Hex::parse(h).ok())
                .or(fragment_hash),
            requires_python: requires_pythons.get(file.requires_python.as_deref()),
            filename,
            kind,
            url,
            yanked,
            size: file.size,
            upload_time: file.upload_time,
            core_metadata,
            index: None,
        });
    }
    Ok(ProjectFiles {
        files,
        rejected: Vec::new(),
    })
}

/// Parses the anchors of a PEP 503 page. Only `<a ...>text</a>` matters, so this is a small
/// tag scanner rather than a full HTML parser; a `<base href>` is honoured.
pub fn parse_html(text: &str, page_url: &Url) -> ProjectFiles {
    let mut base = page_url.clone();
    let mut files = Vec::new();
    let mut requires_pythons = RequiresPythonCache::default();
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
        let Ok(url) = base.join(&href) else {
            continue;
        };
        let (Some(kind), Ok(filename)) = (
            DistFilename::parse(&filename),
            SafeFileName::parse(&filename),
        ) else {
            continue;
        };
        let (url, sha256) = split_hash_fragment(url);
        let core_metadata = ["data-core-metadata", "data-dist-info-metadata"]
            .iter()
            .find_map(|name| attribute(tag, name))
            .map(|value| CoreMetadataFile::Present {
                sha256: value
                    .strip_prefix("sha256=")
                    .map(|h| h.to_ascii_lowercase()),
            })
            .unwrap_or_default();
        files.push(DistFile {
            filename,
            kind,
            url,
            sha256,
            requires_python: requires_pythons
                .get(attribute(tag, "data-requires-python").as_deref()),
            yanked: attribute(tag, "data-yanked").is_some(),
            size: None,
            upload_time: None,
            core_metadata,
            index: None,
        });
    }
    ProjectFiles {
        files,
        rejected: Vec::new(),
    }
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
        let files = parse_json(text, &page()).unwrap().files;
        assert_eq!(files.len(), 3, "the egg is skipped");
        let wheel = &files[0];
        assert_eq!(
            wheel.url.as_str(),
            "http://127.0.0.1:9/files/anyio-4.6.0-py3-none-any.whl"
        );
        assert_eq!(wheel.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(wheel.requires_python.as_ref().unwrap().to_string(), ">=3.9");
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
        assert_eq!(sdist.sha256.as_deref(), Some("fe".repeat(32).as_str()));
        assert_eq!(sdist.url.fragment(), None);
        assert_eq!(
            sdist.core_metadata,
            CoreMetadataFile::Present { sha256: None }
        );
        assert!(
            files[2].requires_python.is_none(),
            "invalid requires-python is ignored"
        );
    }

    #[test]
    fn rejects_html_served_as_json() {
        let error = parse_json("<html></html>", &page()).unwrap_err();
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
        let files = parse_html(text, &page()).files;
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
        </body></html>"#;
        let name = PackageName::from_str("pymupdf").unwrap();
        let mut files = parse_html(text, &page()).for_project(&name);
        assert_eq!(files.rejected.len(), 1, "{:?}", files.rejected);
        let legacy = &files.files[0];
        assert_eq!(legacy.kind.version().to_string(), "1.14.19.post2");
        files.retain_wheels(|wheel| wheel.platform.iter().any(|p| p.contains("linux")));
        let names: Vec<&str> = files.files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "PyMuPDF-1.14.19.post-2.tar.gz",
                "pymupdf-2.0-cp311-abi3-manylinux_2_28_x86_64.whl",
                "pymupdf-1.0-cp27-cp27m-win32.whl",
            ],
            "1.0 keeps one wheel so the version stays known"
        );
    }
}
