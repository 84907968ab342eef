//! Source distributions read as untrusted archives: their `PKG-INFO` (static metadata, PEP
//! 643), their `[build-system]` table (PEP 517/518), and a careful extraction for builds.
//!
//! Pure over bytes: no network, no subprocess. Every entry name is checked before anything is
//! written: no absolute paths, no `..`, links only to places inside the tree, and caps on the
//! number of entries and the bytes they expand to, so a hostile sdist cannot write outside its
//! directory or fill the disk.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use pep508_rs::Requirement;

use super::metadata::{CoreMetadata, MetadataError};

/// The default `[build-system]` when an sdist has none. uv asks only for setuptools, but pip
/// (23.x, still common in images) also installs `wheel` for such sdists and fails offline
/// without it, so both are locked.
pub const LEGACY_REQUIRES: &[&str] = &["setuptools>=40.8.0", "wheel"];
pub const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";

#[derive(Debug, thiserror::Error)]
pub enum SdistError {
    #[error("{file}: not a readable {format} archive: {message}")]
    Archive {
        file: String,
        format: &'static str,
        message: String,
    },
    #[error("{file}: unsupported sdist format (airlock reads .tar.gz and .zip sdists)")]
    Format { file: String },
    #[error(
        "{file}: entry `{entry}` {why}; the sdist is refused (nothing of it was used or written)"
    )]
    Hostile {
        file: String,
        entry: String,
        why: &'static str,
    },
    #[error("{file}: {why}; the sdist is refused")]
    TooLarge { file: String, why: String },
    #[error("{file}: no PKG-INFO in the top-level directory; this is not a source distribution")]
    NoPkgInfo { file: String },
    #[error("{file}: pyproject.toml is invalid: {message}")]
    Pyproject { file: String, message: String },
    #[error("{file}: invalid PKG-INFO")]
    PkgInfo {
        file: String,
        #[source]
        source: MetadataError,
    },
    #[error("{file}: cannot write {}", .path.display())]
    Write {
        file: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Caps on what an archive may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_total_bytes: 2 << 30,
        }
    }
}

/// What one archive entry is, after its name has been checked.
#[derive(Debug)]
enum EntryKind {
    File(Vec<u8>),
    Dir,
    /// A symbolic link, its target relative to the link's directory.
    Symlink(PathBuf),
    /// A hard link to another entry of the archive.
    HardLink(PathBuf),
}

/// A relative path made only of normal components, or why not.
fn checked_path(name: &str) -> Result<PathBuf, &'static str> {
    if name.contains('\0') {
        return Err("has a NUL byte in its name");
    }
    let mut out = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("climbs out with `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    Ok(out)
}

/// Whether a symlink at `link` (archive-relative) pointing at `target` stays in the tree.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: Vec<&std::ffi::OsStr> = link
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(part) => Some(part),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for component in target.components() {
        match component {
            Component::Normal(part) => depth.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// A regular file entry: its bytes when `wanted` (at most its declared size), else nothing
/// read.
fn file_entry(reader: &mut dyn Read, size: u64, wanted: bool) -> std::io::Result<EntryKind> {
    let mut data = Vec::new();
    if wanted {
        data.reserve(size.min(1 << 20) as usize);
        reader.take(size).read_to_end(&mut data)?;
    }
    Ok(EntryKind::File(data))
}

/// A symbolic link entry, if its target stays inside the tree.
fn checked_symlink(link: &Path, target: PathBuf) -> Result<EntryKind, &'static str> {
    if link_stays_inside(link, &target) {
        Ok(EntryKind::Symlink(target))
    } else {
        Err("is a symbolic link out of the tree")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    TarGz,
    Zip,
}

fn format_of(filename: &str) -> Option<Format> {
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Some(Format::TarGz)
    } else if lower.ends_with(".zip") {
        Some(Format::Zip)
    } else {
        None
    }
}

/// Walks every entry of the archive, checked, calling `visit(path, kind)`. `wanted` decides
/// which files' bytes are read (others are skipped, but still counted against the caps).
fn walk(
    filename: &str,
    bytes: &[u8],
    limits: Limits,
    wanted: &dyn Fn(&Path) -> bool,
    visit: &mut dyn FnMut(PathBuf, EntryKind) -> Result<(), SdistError>,
) -> Result<(), SdistError> {
    let hostile = |entry: &str, why: &'static str| SdistError::Hostile {
        file: filename.to_string(),
        entry: entry.to_string(),
        why,
    };
    let mut entries = 0usize;
    let mut total = 0u64;
    let mut count = |size: u64| -> Result<(), SdistError> {
        entries += 1;
        total = total.saturating_add(size);
        if entries > limits.max_entries {
            return Err(SdistError::TooLarge {
                file: filename.to_string(),
                why: format!("more than {} entries", limits.max_entries),
            });
        }
        if total > limits.max_total_bytes {
            return Err(SdistError::TooLarge {
                file: filename.to_string(),
                why: format!("expands to more than {} bytes", limits.max_total_bytes),
            });
        }
        Ok(())
    };
    match format_of(filename) {
        Some(Format::TarGz) => {
            let bad = |message: String| SdistError::Archive {
                file: filename.to_string(),
                format: "tar.gz",
                message,
            };
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
            for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
                let mut entry = entry.map_err(|e| bad(e.to_string()))?;
                let raw = entry.path_bytes().into_owned();
                let name = String::from_utf8_lossy(&raw).into_owned();
                let size = entry.header().size().map_err(|e| bad(e.to_string()))?;
                count(size)?;
                let path = checked_path(&name).map_err(|why| hostile(&name, why))?;
                let kind = match entry.header().entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        file_entry(&mut entry, size, wanted(&path))
                            .map_err(|e| bad(e.to_string()))?
                    }
                    tar::EntryType::Directory => EntryKind::Dir,
                    tar::EntryType::Symlink => {
                        let target = entry
                            .link_name()
                            .map_err(|e| bad(e.to_string()))?
                            .ok_or_else(|| hostile(&name, "is a link without a target"))?
                            .into_owned();
                        checked_symlink(&path, target).map_err(|why| hostile(&name, why))?
                    }
                    tar::EntryType::Link => {
                        let target = entry
                            .link_name()
                            .map_err(|e| bad(e.to_string()))?
                            .ok_or_else(|| hostile(&name, "is a link without a target"))?;
                        let target = checked_path(&target.to_string_lossy())
                            .map_err(|_| hostile(&name, "is a hard link out of the tree"))?;
                        EntryKind::HardLink(target)
                    }
                    // pax headers and GNU long names are consumed by the tar crate; device
                    // nodes and FIFOs have no place in a source tree.
                    tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
                    _ => return Err(hostile(&name, "is a device, FIFO or unknown entry type")),
                };
                visit(path, kind)?;
            }
        }
        Some(Format::Zip) => {
            let bad = |message: String| SdistError::Archive {
                file: filename.to_string(),
                format: "zip",
                message,
            };
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                .map_err(|e| bad(e.to_string()))?;
            for index in 0..archive.len() {
                let mut entry = archive.by_index(index).map_err(|e| bad(e.to_string()))?;
                let name = entry.name().map_err(|e| bad(e.to_string()))?.to_string();
                count(entry.size())?;
                let path = checked_path(&name).map_err(|why| hostile(&name, why))?;
                let kind = if entry.is_dir() {
                    EntryKind::Dir
                } else if entry.is_symlink() {
                    let mut target = String::new();
                    (&mut entry)
                        .take(4096)
                        .read_to_string(&mut target)
                        .map_err(|e| bad(e.to_string()))?;
                    checked_symlink(&path, PathBuf::from(target))
                        .map_err(|why| hostile(&name, why))?
                } else {
                    let size = entry.size();
                    file_entry(&mut entry, size, wanted(&path)).map_err(|e| bad(e.to_string()))?
                };
                visit(path, kind)?;
            }
        }
        None => {
            return Err(SdistError::Format {
                file: filename.to_string(),
            });
        }
    }
    Ok(())
}

/// The `[build-system]` of an sdist, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSystem {
    pub requires: Vec<Requirement>,
    pub backend: String,
    /// In-tree backend directories (PEP 517 `backend-path`), relative to the source tree.
    pub backend_path: Vec<PathBuf>,
}

impl BuildSystem {
    fn legacy() -> Self {
        BuildSystem {
            requires: LEGACY_REQUIRES
                .iter()
                .map(|r| Requirement::from_str(r).expect("valid requirement"))
                .collect(),
            backend: LEGACY_BACKEND.to_string(),
            backend_path: Vec::new(),
        }
    }
}

/// Parses `pyproject.toml` text (or its absence) into the build system pip and uv would use.
pub fn parse_build_system(file: &str, pyproject: Option<&str>) -> Result<BuildSystem, SdistError> {
    let invalid = |message: String| SdistError::Pyproject {
        file: file.to_string(),
        message,
    };
    let Some(text) = pyproject else {
        return Ok(BuildSystem::legacy());
    };
    let value: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let Some(table) = value.get("build-system") else {
        return Ok(BuildSystem::legacy());
    };
    let table = table
        .as_table()
        .ok_or_else(|| invalid("[build-system] is not a table".into()))?;
    let requires = table
        .get("requires")
        .ok_or_else(|| {
            invalid("[build-system] has no `requires` (PEP 518 makes it mandatory)".into())
        })?
        .as_array()
        .ok_or_else(|| invalid("[build-system] requires is not a list".into()))?
        .iter()
        .map(|item| {
            let text = item
                .as_str()
                .ok_or_else(|| invalid("[build-system] requires holds a non-string".into()))?;
            Requirement::from_str(text)
                .map_err(|e| invalid(format!("[build-system] requires `{text}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let backend = match table.get("build-backend") {
        None => LEGACY_BACKEND.to_string(),
        Some(value) => {
            let text = value
                .as_str()
                .ok_or_else(|| invalid("build-backend is not a string".into()))?;
            let valid = !text.is_empty()
                && text.split(':').flat_map(|part| part.split('.')).all(|id| {
                    !id.is_empty() && id.chars().all(|c| c.is_alphanumeric() || c == '_')
                })
                && text.matches(':').count() <= 1;
            if !valid {
                return Err(invalid(format!(
                    "build-backend `{text}` is not module[:object]"
                )));
            }
            text.to_string()
        }
    };
    let mut backend_path = Vec::new();
    if let Some(value) = table.get("backend-path") {
        for item in value
            .as_array()
            .ok_or_else(|| invalid("backend-path is not a list".into()))?
        {
            let text = item
                .as_str()
                .ok_or_else(|| invalid("backend-path holds a non-string".into()))?;
            let path = checked_path(text)
                .map_err(|why| invalid(format!("backend-path `{text}` {why}")))?;
            backend_path.push(path);
        }
    }
    Ok(BuildSystem {
        requires,
        backend,
        backend_path,
    })
}

/// What the top level of an sdist says about itself.
#[derive(Debug, Clone)]
pub struct SdistInspection {
    /// `PKG-INFO` as found.
    pub pkg_info: Vec<u8>,
    pub build_system: BuildSystem,
}

impl SdistInspection {
    /// The PKG-INFO as metadata a resolver may trust without running the build (PEP 643:
    /// Metadata-Version 2.2 or later, and none of the fields resolution reads is Dynamic).
    pub fn static_metadata(&self, file: &str) -> Result<Option<CoreMetadata>, SdistError> {
        let metadata =
            CoreMetadata::parse(&self.pkg_info).map_err(|source| SdistError::PkgInfo {
                file: file.to_string(),
                source,
            })?;
        Ok(metadata.is_static().then_some(metadata))
    }
}

/// The directory holding PKG-INFO: the single top-level directory.
fn top_level_of(path: &Path) -> Option<PathBuf> {
    let mut components = path.components();
    let top = components.next()?;
    (components.next()? == Component::Normal("PKG-INFO".as_ref()) && components.next().is_none())
        .then(|| PathBuf::from(top.as_os_str()))
}

/// Reads `PKG-INFO` and `pyproject.toml` from the sdist's top-level directory; every entry
/// is still checked, so a hostile archive is refused before anything of it is used.
pub fn inspect(
    filename: &str,
    bytes: &[u8],
    limits: Limits,
) -> Result<SdistInspection, SdistError> {
    let mut pkg_info: Option<(PathBuf, Vec<u8>)> = None;
    let mut pyprojects: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let wanted = |path: &Path| {
        path.components().count() == 2
            && matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("PKG-INFO" | "pyproject.toml")
            )
    };
    walk(filename, bytes, limits, &wanted, &mut |path, kind| {
        if let EntryKind::File(data) = kind
            && wanted(&path)
        {
            if let Some(top) = top_level_of(&path) {
                pkg_info = Some((top, data));
            } else {
                pyprojects.push((path, data));
            }
        }
        Ok(())
    })?;
    let (top, pkg_info) = pkg_info.ok_or_else(|| SdistError::NoPkgInfo {
        file: filename.to_string(),
    })?;
    let pyproject = pyprojects
        .into_iter()
        .find(|(path, _)| path.parent() == Some(top.as_path()))
        .map(|(_, data)| String::from_utf8_lossy(&data).into_owned());
    let build_system = parse_build_system(filename, pyproject.as_deref())?;
    Ok(SdistInspection {
        pkg_info,
        build_system,
    })
}

/// Extracts the sdist under `dest` (which must exist and be empty) and returns the source
/// tree: the top-level directory holding PKG-INFO. Regular files are written first and with
/// `create_new`; links are made afterwards, so no write ever goes through a link.
pub fn extract(
    filename: &str,
    bytes: &[u8],
    dest: &Path,
    limits: Limits,
) -> Result<PathBuf, SdistError> {
    let write_error = |path: &Path, source: std::io::Error| SdistError::Write {
        file: filename.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let mut top: Option<PathBuf> = None;
    let mut links: Vec<(PathBuf, EntryKind)> = Vec::new();
    walk(filename, bytes, limits, &|_| true, &mut |path, kind| {
        if path.as_os_str().is_empty() {
            return Ok(());
        }
        if top.is_none() {
            top = top_level_of(&path);
        }
        let full = dest.join(&path);
        match kind {
            EntryKind::Dir => std::fs::create_dir_all(&full).map_err(|e| write_error(&full, e)),
            EntryKind::File(data) => {
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&full)
                    .map_err(|e| write_error(&full, e))?;
                std::io::Write::write_all(&mut file, &data).map_err(|e| write_error(&full, e))
            }
            other => {
                links.push((path, other));
                Ok(())
            }
        }
    })?;
    for (path, kind) in links {
        let full = dest.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        }
        match kind {
            EntryKind::Symlink(target) => {
                std::os::unix::fs::symlink(&target, &full).map_err(|e| write_error(&full, e))?
            }
            EntryKind::HardLink(target) => {
                // A copy of a regular file already extracted; never a link to outside.
                let source = dest.join(&target);
                let regular = std::fs::symlink_metadata(&source).is_ok_and(|m| m.is_file());
                if !regular {
                    return Err(SdistError::Hostile {
                        file: filename.to_string(),
                        entry: path.display().to_string(),
                        why: "is a hard link to something that is not a file of the archive",
                    });
                }
                std::fs::copy(&source, &full).map_err(|e| write_error(&full, e))?;
            }
            EntryKind::Dir | EntryKind::File(_) => unreachable!("only links are deferred"),
        }
    }
    let top = top.ok_or_else(|| SdistError::NoPkgInfo {
        file: filename.to_string(),
    })?;
    Ok(dest.join(top))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A .tar.gz from (name, kind) entries: `Ok(bytes)` files, `Err(target)` symlinks.
    pub(crate) fn tar_gz(entries: &[(&str, Result<&[u8], &str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind) in entries {
            let mut header = tar::Header::new_gnu();
            // Write the raw name so hostile names survive the builder's own checks.
            let name_bytes = name.as_bytes();
            header.as_old_mut().name[..name_bytes.len()].copy_from_slice(name_bytes);
            header.set_mode(0o644);
            header.set_mtime(0);
            match kind {
                Ok(data) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(data.len() as u64);
                    header.set_cksum();
                    builder.append(&header, *data).unwrap();
                }
                Err(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    header.set_link_name(target).unwrap();
                    header.set_cksum();
                    builder.append(&header, std::io::empty()).unwrap();
                }
            }
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    const PKG_INFO_22: &[u8] =
        b"Metadata-Version: 2.2\nName: demo\nVersion: 1.0\nRequires-Dist: six>=1\n";

    #[test]
    fn static_pkg_info_is_used_only_when_pep643_allows() {
        let bytes = tar_gz(&[("demo-1.0/PKG-INFO", Ok(PKG_INFO_22))]);
        let inspection = inspect("demo-1.0.tar.gz", &bytes, Limits::default()).unwrap();
        let metadata = inspection.static_metadata("demo").unwrap().unwrap();
        assert_eq!(metadata.requires_dist.len(), 1);
        assert_eq!(inspection.build_system, BuildSystem::legacy());

        let dynamic = b"Metadata-Version: 2.2\nName: demo\nVersion: 1.0\nDynamic: Requires-Dist\n";
        let bytes = tar_gz(&[("demo-1.0/PKG-INFO", Ok(dynamic))]);
        let inspection = inspect("demo-1.0.tar.gz", &bytes, Limits::default()).unwrap();
        assert!(inspection.static_metadata("demo").unwrap().is_none());

        let old = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n";
        let bytes = tar_gz(&[("demo-1.0/PKG-INFO", Ok(old))]);
        let inspection = inspect("demo-1.0.tar.gz", &bytes, Limits::default()).unwrap();
        assert!(inspection.static_metadata("demo").unwrap().is_none());
    }

    #[test]
    fn reads_the_build_system() {
        let pyproject = b"[build-system]\nrequires = [\"hatchling>=1.20\"]\nbuild-backend = \"hatchling.build\"\nbackend-path = [\"_build\"]\n";
        let bytes = tar_gz(&[
            ("demo-1.0/PKG-INFO", Ok(PKG_INFO_22)),
            ("demo-1.0/pyproject.toml", Ok(pyproject)),
            ("demo-1.0/sub/pyproject.toml", Ok(b"not toml [")),
        ]);
        let inspection = inspect("demo-1.0.tar.gz", &bytes, Limits::default()).unwrap();
        assert_eq!(inspection.build_system.backend, "hatchling.build");
        assert_eq!(
            inspection.build_system.requires[0].to_string(),
            "hatchling>=1.20"
        );
        assert_eq!(
            inspection.build_system.backend_path,
            [PathBuf::from("_build")]
        );
        let error = parse_build_system("x", Some("[build-system]\nbuild-backend='a:b'\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no `requires`"), "{error}");
        let error = parse_build_system(
            "x",
            Some("[build-system]\nrequires=[]\nbackend-path=['../up']\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("`..`"), "{error}");
    }

    #[test]
    fn hostile_entries_are_refused_before_anything_is_written() {
        type Case<'a> = (&'a str, Result<&'a [u8], &'a str>, &'a str);
        let cases: &[Case] = &[
            ("demo-1.0/../evil", Ok(b"x"), "`..`"),
            ("/etc/evil", Ok(b"x"), "absolute"),
            (
                "demo-1.0/link",
                Err("../../etc/passwd"),
                "symbolic link out",
            ),
            ("demo-1.0/abs", Err("/etc/passwd"), "symbolic link out"),
        ];
        for (name, kind, why) in cases {
            let bytes = tar_gz(&[("demo-1.0/PKG-INFO", Ok(PKG_INFO_22)), (name, *kind)]);
            let error = inspect("demo-1.0.tar.gz", &bytes, Limits::default())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(why) && error.contains("refused"),
                "{name}: {error}"
            );
            let dir = tempfile::tempdir().unwrap();
            assert!(extract("demo-1.0.tar.gz", &bytes, dir.path(), Limits::default()).is_err());
        }
    }

    #[test]
    fn extracts_with_inside_links_and_caps_sizes() {
        let bytes = tar_gz(&[
            ("demo-1.0/PKG-INFO", Ok(PKG_INFO_22)),
            ("demo-1.0/pkg/a.py", Ok(b"A = 1\n")),
            ("demo-1.0/LICENSE", Err("pkg/a.py")),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let tree = extract("demo-1.0.tar.gz", &bytes, dir.path(), Limits::default()).unwrap();
        assert_eq!(tree, dir.path().join("demo-1.0"));
        assert_eq!(std::fs::read(tree.join("LICENSE")).unwrap(), b"A = 1\n");
        let small = Limits {
            max_entries: 10,
            max_total_bytes: 8,
        };
        let error = inspect("demo-1.0.tar.gz", &bytes, small)
            .unwrap_err()
            .to_string();
        assert!(error.contains("expands to more than 8 bytes"), "{error}");
    }

    #[test]
    fn link_containment_is_lexical_from_the_links_directory() {
        assert!(link_stays_inside(Path::new("a/b/link"), Path::new("../c")));
        assert!(!link_stays_inside(
            Path::new("a/link"),
            Path::new("../../c")
        ));
        assert!(!link_stays_inside(Path::new("link"), Path::new("/abs")));
    }
}
