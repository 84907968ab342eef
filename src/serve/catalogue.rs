//! What `airlock serve` offers, decided once at start from the locks: every locked wheel,
//! built sdist and build requirement in the wheelhouse as a PEP 503/691 project page entry
//! (with its sha256, requires-python and PEP 658/714 metadata read from the wheel), and the
//! local apt repository as published. Nothing else in the directory is reachable.
//!
//! Rendering the pages is pure and tested without a socket.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{0}")]
    Locks(String),
    #[error(
        "{} locked file(s) are not in the wheelhouse (first: {first}); run `airlock fetch`, or serve an unpacked bundle",
        .count
    )]
    Missing { count: usize, first: String },
}

/// A file served as it is on disk.
#[derive(Debug, Clone)]
pub struct ServedFile {
    pub path: PathBuf,
    pub size: u64,
    /// The lock's digest (or the file's own, for apt indexes): the ETag.
    pub sha256: String,
    pub content_type: &'static str,
}

/// One file on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    pub requires_python: Option<String>,
    /// The sha256 of the wheel's METADATA, when it is served as `<file>.metadata`.
    pub metadata_sha256: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Normalized name -> the files.
    pub projects: BTreeMap<String, Vec<IndexEntry>>,
    /// URL path (`/files/x.whl`, `/apt/Packages`) -> the file on disk.
    pub files: HashMap<String, ServedFile>,
    /// URL path (`/files/x.whl.metadata`) -> METADATA bytes.
    pub metadata: HashMap<String, Vec<u8>>,
    pub apt: bool,
}

/// PEP 503's normalized name.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

impl Catalogue {
    /// Reads the locks in `lockfiles` and the files they name in `wheelhouse`.
    pub fn load(lockfiles: &Path, wheelhouse: &Path) -> Result<Self, CatalogueError> {
        use crate::python::pylock::{PyLock, lockfiles_in};
        let mut catalogue = Catalogue::default();
        let mut missing = Vec::new();
        let locks = match lockfiles_in(lockfiles) {
            Ok(locks) => locks,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                return Err(CatalogueError::Locks(format!(
                    "cannot list {}: {error}",
                    lockfiles.display()
                )));
            }
        };
        for path in &locks {
            let label = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| CatalogueError::Locks(format!("cannot read {label}: {e}")))?;
            let lock =
                PyLock::parse(&text, &label).map_err(|e| CatalogueError::Locks(e.to_string()))?;
            let built = lock.built_sdists();
            let build = lock.tool.iter().flat_map(|t| &t.airlock.build_packages);
            for package in lock.packages.iter().chain(build) {
                let sdist = package
                    .sdist
                    .as_ref()
                    .filter(|s| built.contains(s.name.as_str()));
                for file in package.wheels.iter().chain(sdist) {
                    let name = file.name.as_str();
                    let url = format!("/files/{name}");
                    if catalogue.files.contains_key(&url) {
                        continue;
                    }
                    let disk = wheelhouse.join(name);
                    let size = match std::fs::symlink_metadata(&disk) {
                        Ok(meta) if meta.file_type().is_file() => meta.len(),
                        _ => {
                            missing.push(name.to_string());
                            continue;
                        }
                    };
                    let mut metadata_sha256 = None;
                    if name.ends_with(".whl")
                        && let Some(bytes) = crate::verify::integrity::read_metadata(&disk)
                    {
                        metadata_sha256 = Some(crate::digest::Sha256Hex::of(&bytes).to_string());
                        catalogue.metadata.insert(format!("{url}.metadata"), bytes);
                    }
                    catalogue
                        .projects
                        .entry(normalize(&package.name))
                        .or_default()
                        .push(IndexEntry {
                            filename: name.to_string(),
                            sha256: file.hashes.sha256.to_string(),
                            size,
                            requires_python: package.requires_python.clone(),
                            metadata_sha256,
                        });
                    catalogue.files.insert(
                        url,
                        ServedFile {
                            path: disk,
                            size,
                            sha256: file.hashes.sha256.to_string(),
                            content_type: "application/octet-stream",
                        },
                    );
                }
            }
        }
        let apt = crate::fetch::apt_items(lockfiles)
            .map_err(|e| CatalogueError::Locks(crate::fetch::error_chain(&e)))?;
        if let Some((_, items)) = apt {
            let repository = wheelhouse.join(crate::debian::publish::APT_DIRECTORY);
            for item in items {
                let disk = repository.join(item.file_name.as_str());
                match std::fs::symlink_metadata(&disk) {
                    Ok(meta) if meta.file_type().is_file() => {
                        catalogue.files.insert(
                            format!("/apt/{}", item.file_name),
                            ServedFile {
                                path: disk,
                                size: meta.len(),
                                sha256: item.sha256.to_string(),
                                content_type: "application/vnd.debian.binary-package",
                            },
                        );
                    }
                    _ => missing.push(format!("apt/{}", item.file_name)),
                }
            }
            for name in [
                "Packages",
                "Packages.gz",
                "Release",
                "InRelease",
                "Release.gpg",
            ] {
                let disk = repository.join(name);
                // The signature files exist only when the repository is signed; every other
                // index must be there and readable.
                let optional = matches!(name, "InRelease" | "Release.gpg");
                let hashed = match crate::net::download::hash_file(&disk) {
                    Ok(hashed) => Some(hashed),
                    Err(error) if optional && error.kind() == std::io::ErrorKind::NotFound => None,
                    Err(error) => {
                        missing.push(format!("apt/{name} ({error})"));
                        None
                    }
                };
                if let Some((digest, size)) = hashed {
                    catalogue.files.insert(
                        format!("/apt/{name}"),
                        ServedFile {
                            path: disk,
                            size,
                            sha256: digest.to_string(),
                            content_type: if name.ends_with(".gz") {
                                "application/gzip"
                            } else {
                                "text/plain; charset=utf-8"
                            },
                        },
                    );
                }
            }
            catalogue.apt = true;
        }
        if let Some(first) = missing.first() {
            return Err(CatalogueError::Missing {
                count: missing.len(),
                first: first.clone(),
            });
        }
        if catalogue.projects.is_empty() && !catalogue.apt {
            return Err(CatalogueError::Locks(format!(
                "no locks in {}; serve a project or an unpacked bundle",
                lockfiles.display()
            )));
        }
        for files in catalogue.projects.values_mut() {
            files.sort_by(|a, b| a.filename.cmp(&b.filename));
        }
        Ok(catalogue)
    }
}

/// Which representation a client asked for (PEP 691's content negotiation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    Html,
    Json,
}

pub const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
pub const HTML_TYPE: &str = "application/vnd.pypi.simple.v1+html";

/// The representation for an `Accept` header: the acceptable one with the highest quality
/// (JSON winning ties, as the API's newest form); HTML when the header is absent; `None` when
/// nothing acceptable is on offer (a 406).
pub fn negotiate(accept: Option<&str>) -> Option<PageFormat> {
    let Some(accept) = accept else {
        return Some(PageFormat::Html);
    };
    let mut best: Option<(f32, PageFormat)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let format = match media.as_str() {
            JSON_TYPE | "application/vnd.pypi.simple.latest+json" => PageFormat::Json,
            HTML_TYPE | "application/vnd.pypi.simple.latest+html" | "text/html" | "*/*" => {
                PageFormat::Html
            }
            _ => continue,
        };
        if quality <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((q, f)) => {
                quality > q || (quality == q && format == PageFormat::Json && f != PageFormat::Json)
            }
        };
        if better {
            best = Some((quality, format));
        }
    }
    best.map(|(_, format)| format)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The root page: every project.
pub fn root_page(catalogue: &Catalogue, format: PageFormat) -> String {
    match format {
        PageFormat::Html => {
            let mut out = String::from(
                "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>airlock</title></head><body>\n",
            );
            for name in catalogue.projects.keys() {
                out.push_str(&format!("<a href=\"{name}/\">{name}</a>\n"));
            }
            out.push_str("</body></html>\n");
            out
        }
        PageFormat::Json => serde_json::json!({
            "meta": {"api-version": "1.1"},
            "projects": catalogue.projects.keys().map(|name| serde_json::json!({"name": name})).collect::<Vec<_>>(),
        })
        .to_string(),
    }
}

/// A project's page; files link to `../../files/<name>`, relative, so any host and port work.
pub fn project_page(name: &str, files: &[IndexEntry], format: PageFormat) -> String {
    match format {
        PageFormat::Html => {
            let mut out = format!(
                "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {name}</title></head><body>\n"
            );
            for file in files {
                let mut attributes = String::new();
                if let Some(requires) = &file.requires_python {
                    attributes.push_str(&format!(" data-requires-python=\"{}\"", escape(requires)));
                }
                if let Some(metadata) = &file.metadata_sha256 {
                    attributes.push_str(&format!(
                        " data-dist-info-metadata=\"sha256={metadata}\" data-core-metadata=\"sha256={metadata}\""
                    ));
                }
                out.push_str(&format!(
                    "<a href=\"../../files/{0}#sha256={1}\"{attributes}>{0}</a>\n",
                    file.filename, file.sha256
                ));
            }
            out.push_str("</body></html>\n");
            out
        }
        PageFormat::Json => {
            let files: Vec<serde_json::Value> = files
                .iter()
                .map(|file| {
                    let mut entry = serde_json::json!({
                        "filename": file.filename,
                        "url": format!("../../files/{}", file.filename),
                        "hashes": {"sha256": file.sha256},
                        "size": file.size,
                    });
                    if let Some(requires) = &file.requires_python {
                        entry["requires-python"] = serde_json::json!(requires);
                    }
                    if let Some(metadata) = &file.metadata_sha256 {
                        entry["core-metadata"] = serde_json::json!({"sha256": metadata});
                        entry["dist-info-metadata"] = serde_json::json!({"sha256": metadata});
                    }
                    entry
                })
                .collect();
            serde_json::json!({
                "meta": {"api-version": "1.1"},
                "name": name,
                "files": files,
            })
            .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_the_representation() {
        assert_eq!(negotiate(None), Some(PageFormat::Html));
        assert_eq!(negotiate(Some(JSON_TYPE)), Some(PageFormat::Json));
        // uv's and pip's headers: JSON preferred, HTML accepted.
        assert_eq!(
            negotiate(Some(
                "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
            )),
            Some(PageFormat::Json)
        );
        assert_eq!(
            negotiate(Some(
                "text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.1"
            )),
            Some(PageFormat::Html)
        );
        assert_eq!(negotiate(Some("application/xml")), None);
        assert_eq!(negotiate(Some("*/*")), Some(PageFormat::Html));
    }

    #[test]
    fn pages_carry_hashes_requires_python_and_metadata() {
        let files = vec![IndexEntry {
            filename: "a-1.0-py3-none-any.whl".into(),
            sha256: "ab".repeat(32),
            size: 10,
            requires_python: Some(">=3.8".into()),
            metadata_sha256: Some("cd".repeat(32)),
        }];
        let html = project_page("a", &files, PageFormat::Html);
        assert!(html.contains(&format!(
            "<a href=\"../../files/a-1.0-py3-none-any.whl#sha256={}\" data-requires-python=\"&gt;=3.8\" data-dist-info-metadata=\"sha256={}\"",
            "ab".repeat(32),
            "cd".repeat(32)
        )), "{html}");
        let json: serde_json::Value =
            serde_json::from_str(&project_page("a", &files, PageFormat::Json)).unwrap();
        assert_eq!(json["meta"]["api-version"], "1.1");
        assert_eq!(json["files"][0]["requires-python"], ">=3.8");
        assert_eq!(json["files"][0]["core-metadata"]["sha256"], "cd".repeat(32));
        assert_eq!(normalize("Zope.Interface"), "zope-interface");
    }
}
