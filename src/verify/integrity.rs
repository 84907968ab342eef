//! Integrity: every wheel the locks need is in the wheelhouse with the locked size and sha256,
//! and is a sound zip whose single `.dist-info` matches its filename and the lock.
//!
//! Hashing reuses fetch's plan (all cores). Zips are read through their central directory with
//! our own bounded reader, so duplicate names (which a zip library may silently collapse),
//! traversal and bomb ratios are all visible; member data is never inflated except METADATA.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;
use sha2::{Digest, Sha256};

use super::{Finding, Severity};
use crate::fetch::{LockedWheel, plan};
use crate::net::download::hash_file;
use crate::python::metadata::CoreMetadata;
use crate::python::wheel::{DistFilename, WheelFilename};
use crate::python::zip_metadata::{
    ZipEntry, extract_member, list_entries, local_header_name, locate_directory,
};

/// Limits that make a wheel suspicious: total inflated size, and per-entry ratio.
const MAX_TOTAL_UNCOMPRESSED: u64 = 8 * 1024 * 1024 * 1024;
const MAX_RATIO: u64 = 1000;
const MAX_DIRECTORY: u64 = 64 * 1024 * 1024;

/// What is wrong with a zip's listing, if anything (pure, for tests).
pub fn entry_problems(entries: &[ZipEntry]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut total: u64 = 0;
    for entry in entries {
        let name = &entry.name;
        let traversal = name.starts_with('/')
            || name.contains('\\')
            || name.as_bytes().get(1) == Some(&b':')
            || name.split('/').any(|part| part == "..");
        if traversal {
            problems.push(format!(
                "entry {name:?} points outside the install directory"
            ));
        }
        if !seen.insert(name.as_str()) {
            problems.push(format!("entry {name:?} appears twice"));
        }
        total = total.saturating_add(entry.uncompressed_size);
        if entry.uncompressed_size > 1024 * 1024
            && entry.uncompressed_size / entry.compressed_size.max(1) > MAX_RATIO
        {
            problems.push(format!(
                "entry {name:?} inflates {}x ({} bytes), a zip bomb",
                entry.uncompressed_size / entry.compressed_size.max(1),
                entry.uncompressed_size
            ));
        }
    }
    if total > MAX_TOTAL_UNCOMPRESSED {
        problems.push(format!(
            "the entries inflate to {total} bytes in all, a zip bomb"
        ));
    }
    problems
}

/// The `.dist-info` directories at the top level of the listing.
fn dist_info_dirs(entries: &[ZipEntry]) -> Vec<String> {
    let mut dirs: Vec<String> = entries
        .iter()
        .filter_map(|e| e.name.split_once('/').map(|(dir, _)| dir.to_string()))
        .filter(|dir| dir.ends_with(".dist-info"))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// What the central directory and the members verify reads say about a wheel.
struct WheelListing {
    entries: Vec<ZipEntry>,
    metadata: Option<Vec<u8>>,
    /// The `.dist-info/WHEEL` file.
    wheel_info: Option<Vec<u8>>,
    /// Entries whose local header names another file than the central directory does (an
    /// installer reading one or the other would install different files).
    renamed: Vec<(String, String)>,
    /// Bytes after the end of the zip.
    trailing: u64,
}

/// Reads a wheel's listing, its local headers' names, METADATA and WHEEL with bounded memory.
fn read_wheel(path: &Path) -> Result<WheelListing, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let length = file.metadata().map_err(|e| e.to_string())?.len();
    let tail_length = length.min(64 * 1024);
    let tail_start = length - tail_length;
    let mut tail = vec![0; tail_length as usize];
    file.seek(SeekFrom::Start(tail_start))
        .map_err(|e| e.to_string())?;
    file.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let location = locate_directory(&tail, tail_start).map_err(|e| e.to_string())?;
    let end = location.offset.checked_add(location.size);
    if location.size > MAX_DIRECTORY || end.is_none_or(|end| end > length) {
        return Err("the central directory is larger than the file or than 64 MiB".into());
    }
    let mut directory = vec![0; location.size as usize];
    file.seek(SeekFrom::Start(location.offset))
        .map_err(|e| e.to_string())?;
    file.read_exact(&mut directory).map_err(|e| e.to_string())?;
    let entries = list_entries(&directory).map_err(|e| e.to_string())?;
    let mut renamed = Vec::new();
    let mut header = vec![0u8; 30 + usize::from(u16::MAX)];
    for entry in &entries {
        let available = length.saturating_sub(entry.local_header_offset);
        let want = (header.len() as u64).min(available) as usize;
        file.seek(SeekFrom::Start(entry.local_header_offset))
            .map_err(|e| e.to_string())?;
        file.read_exact(&mut header[..want])
            .map_err(|e| e.to_string())?;
        match local_header_name(&header[..want]) {
            Some(name) if name == entry.name => {}
            Some(name) => renamed.push((entry.name.clone(), name)),
            None => renamed.push((entry.name.clone(), "no local header".to_string())),
        }
    }
    let mut member = |suffix: &str| -> Result<Option<Vec<u8>>, String> {
        entries
            .iter()
            .find(|e| e.name.ends_with(suffix) && e.name.matches('/').count() == 1)
            .map(|entry| -> Result<Vec<u8>, String> {
                let member = crate::python::zip_metadata::MetadataEntry {
                    local_header_offset: entry.local_header_offset,
                    compressed_size: entry.compressed_size,
                    uncompressed_size: entry.uncompressed_size,
                    method: entry.method,
                };
                let want = crate::python::zip_metadata::member_read_length(&member)
                    .min(length.saturating_sub(entry.local_header_offset));
                let mut bytes = vec![0; want as usize];
                file.seek(SeekFrom::Start(entry.local_header_offset))
                    .map_err(|e| e.to_string())?;
                file.read_exact(&mut bytes).map_err(|e| e.to_string())?;
                extract_member(&bytes, &member).map_err(|e| e.to_string())
            })
            .transpose()
    };
    let metadata = member(".dist-info/METADATA")?;
    let wheel_info = member(".dist-info/WHEEL")?;
    Ok(WheelListing {
        entries,
        metadata,
        wheel_info,
        renamed,
        trailing: location.trailing,
    })
}

/// The METADATA of the wheel at `path`, read with bounded memory; `None` when unreadable.
pub fn read_metadata(path: &Path) -> Option<Vec<u8>> {
    read_wheel(path).ok().and_then(|listing| listing.metadata)
}

/// The `Wheel-Version` major this reader understands (the binary distribution format spec:
/// an installer must refuse a greater major version).
const WHEEL_VERSION_MAJOR: u32 = 1;

/// What is wrong with the wheel file at `path` itself, whatever lock it is in: the zip (AL105:
/// unreadable, entries outside the tree, duplicates, bombs, symbolic links, a local header
/// that names another file, data after the end), its `.dist-info` (AL106: one directory named
/// as the file is, a valid METADATA, a WHEEL of a format version this reader knows) and its
/// RECORD (AL107). `verify` reports these; `fetch` refuses a download that has any, so a
/// hostile file never reaches the wheelhouse.
pub fn wheel_problems(path: &Path, file_name: &str) -> Vec<(&'static str, String)> {
    let listing = match read_wheel(path) {
        Ok(listing) => listing,
        Err(error) => {
            return vec![(
                "AL105",
                format!(
                    "cannot read the wheel as a zip: {error}; delete it and run `airlock fetch`"
                ),
            )];
        }
    };
    let mut problems: Vec<(&'static str, String)> = entry_problems(&listing.entries)
        .into_iter()
        .chain(
            listing
                .entries
                .iter()
                .filter(|entry| entry.is_symlink())
                .map(|entry| format!("entry {:?} is a symbolic link", entry.name)),
        )
        .chain(listing.renamed.iter().map(|(central, local)| {
            format!(
                "entry {central:?} is named {local:?} in its local header: installers that read one or the other install different files"
            )
        }))
        .chain((listing.trailing > 0).then(|| {
            format!(
                "{} bytes follow the end of the zip (another archive can hide there)",
                listing.trailing
            )
        }))
        .map(|problem| ("AL105", format!("{problem}; do not install this wheel")))
        .collect();
    let sound = problems.is_empty();
    let Ok(filename) = WheelFilename::from_str(file_name) else {
        problems.push(("AL106", "the file name is not a valid wheel name".into()));
        return problems;
    };
    let dirs = dist_info_dirs(&listing.entries);
    let expected_dir = format!(
        "{}-{}.dist-info",
        filename.name.as_dist_info_name(),
        filename.version
    );
    match dirs.as_slice() {
        [dir] => {
            if sound {
                match record_problems(path, dir) {
                    Ok(found) => problems.extend(found.into_iter().map(|problem| {
                        (
                            "AL107",
                            format!("{problem}; the wheel was altered after it was built, do not install it"),
                        )
                    })),
                    Err(error) => problems.push(("AL107", error)),
                }
            }
            let matches = dir
                .strip_suffix(".dist-info")
                .and_then(|stem| stem.rsplit_once('-'))
                .is_some_and(|(name, version)| {
                    PackageName::from_str(name).is_ok_and(|n| n == filename.name)
                        && Version::from_str(version).is_ok_and(|v| v == filename.version)
                });
            if !matches {
                problems.push((
                    "AL106",
                    format!("the wheel holds {dir}, not {expected_dir} as its file name says"),
                ));
            }
        }
        _ => problems.push((
            "AL106",
            format!(
                "expected one .dist-info directory ({expected_dir}), found {}",
                dirs.len()
            ),
        )),
    }
    match listing.metadata.as_deref().map(CoreMetadata::parse) {
        Some(Ok(_)) => {}
        Some(Err(error)) => problems.push(("AL106", format!("METADATA is invalid: {error}"))),
        None => problems.push(("AL106", "the wheel has no .dist-info/METADATA".into())),
    }
    match listing.wheel_info.as_deref().map(wheel_version) {
        Some(Some((major, _))) if major == WHEEL_VERSION_MAJOR => {}
        Some(Some((major, minor))) => problems.push((
            "AL106",
            format!(
                "its WHEEL says Wheel-Version {major}.{minor}; installers refuse a format version other than {WHEEL_VERSION_MAJOR}.x"
            ),
        )),
        Some(None) => problems.push((
            "AL106",
            "its .dist-info/WHEEL has no valid Wheel-Version".into(),
        )),
        None => problems.push(("AL106", "the wheel has no .dist-info/WHEEL".into())),
    }
    problems
}

/// `Wheel-Version: X.Y` from a WHEEL file.
fn wheel_version(bytes: &[u8]) -> Option<(u32, u32)> {
    let text = String::from_utf8_lossy(bytes);
    let value = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("wheel-version")
            .then(|| value.trim().to_string())
    })?;
    let (major, minor) = value.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Checks one present wheel: the file itself ([`wheel_problems`]) and its METADATA against
/// the lock entry.
fn check_wheel(path: &Path, uri: &str, wheel: &LockedWheel) -> Vec<Finding> {
    let finding = |rule, message: String| Finding::new(rule, Severity::Error, uri, None, message);
    let mut findings: Vec<Finding> = wheel_problems(path, &wheel.item.file_name)
        .into_iter()
        .map(|(rule, message)| finding(rule, message))
        .collect();
    if let Some(Ok(metadata)) = read_metadata(path).as_deref().map(CoreMetadata::parse) {
        let lock_name = PackageName::from_str(&wheel.package).ok();
        let lock_version = Version::from_str(&wheel.version).ok();
        if lock_name.as_ref() != Some(&metadata.name)
            || lock_version.as_ref() != Some(&metadata.version)
        {
            findings.push(finding(
                "AL106",
                format!(
                    "METADATA says {} {}, the lock says {} {}; re-resolve and fetch again",
                    metadata.name, metadata.version, wheel.package, wheel.version
                ),
            ));
        }
    }
    findings
}

/// URL-safe base64 without padding: how RECORD writes digests (PEP 376/427).
fn urlsafe_b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// RECORD lines as path -> (hash, size). Paths may be quoted CSV fields.
fn parse_record(text: &str) -> Result<HashMap<String, (String, String)>, String> {
    let mut rows = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut field)),
                other => field.push(other),
            }
        }
        fields.push(field);
        let [path, hash, size] = fields.as_slice() else {
            return Err(format!(
                "RECORD line {} does not have three fields",
                number + 1
            ));
        };
        rows.insert(path.clone(), (hash.clone(), size.clone()));
    }
    Ok(rows)
}

/// AL107 (PEP 376/627): every file of the wheel is listed in its RECORD with the sha256 and
/// size its bytes really have, and RECORD lists nothing the wheel lacks. Only called on wheels
/// whose listing passed the traversal and bomb checks, so inflating every member is bounded.
fn record_problems(path: &Path, dist_info: &str) -> Result<Vec<String>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let record_name = format!("{dist_info}/RECORD");
    let record = {
        let mut entry = archive
            .by_name(&record_name)
            .map_err(|_| format!("the wheel has no {record_name}"))?;
        let mut text = String::new();
        (&mut entry)
            .take(MAX_DIRECTORY)
            .read_to_string(&mut text)
            .map_err(|e| format!("{record_name}: {e}"))?;
        text
    };
    let mut listed = parse_record(&record)?;
    let mut problems = Vec::new();
    // RECORD names files relative to the wheel's root; a path that climbs out of it (or is
    // absolute) would have an installer that trusts RECORD write or delete elsewhere.
    let mut escaping: Vec<&String> = listed
        .keys()
        .filter(|path| {
            path.starts_with('/')
                || path.contains('\\')
                || path.as_bytes().get(1) == Some(&b':')
                || path.split('/').any(|part| part == "..")
        })
        .collect();
    escaping.sort();
    for path in escaping {
        problems.push(format!("RECORD lists {path:?}, a path outside the wheel"));
    }
    let unhashed = [
        record_name.clone(),
        format!("{dist_info}/RECORD.jws"),
        format!("{dist_info}/RECORD.p7s"),
    ];
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(|e| e.to_string())?.to_string();
        let Some((hash, size)) = listed.remove(&name) else {
            problems.push(format!("{name} is in the wheel but not in its RECORD"));
            continue;
        };
        if unhashed.contains(&name) {
            continue;
        }
        let Some(expected) = hash.strip_prefix("sha256=") else {
            problems.push(format!(
                "RECORD gives {name} no sha256 ({:?}); airlock checks sha256",
                hash
            ));
            continue;
        };
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut length = 0u64;
        loop {
            let read = match entry.read(&mut buffer) {
                Ok(read) => read,
                // The zip reader checks each member's CRC-32 at its end.
                Err(error) if error.to_string().contains("checksum") => {
                    return Err(format!(
                        "{name}: its data does not match the CRC-32 its zip entry records; do not install this wheel"
                    ));
                }
                Err(error) => return Err(format!("{name}: {error}")),
            };
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            length += read as u64;
        }
        let actual = urlsafe_b64(&hasher.finalize());
        if actual != expected {
            problems.push(format!(
                "{name} has sha256={actual}, but RECORD says sha256={expected}"
            ));
        } else if !size.is_empty() && size != length.to_string() {
            problems.push(format!("{name} has {length} bytes, but RECORD says {size}"));
        }
    }
    let mut missing: Vec<String> = listed.into_keys().collect();
    missing.sort();
    for name in missing {
        problems.push(format!(
            "RECORD lists {name}, which the wheel does not have"
        ));
    }
    Ok(problems)
}

/// Checks one present sdist as the build would unpack it: every entry inside the tree (no
/// `..`, absolute paths or links out), within the size caps, and a PKG-INFO naming the locked
/// project and version.
fn check_sdist(path: &Path, uri: &str, sdist: &LockedWheel) -> Vec<Finding> {
    let finding = |rule, message: String| Finding::new(rule, Severity::Error, uri, None, message);
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => return vec![finding("AL105", format!("cannot read the sdist: {error}"))],
    };
    let inspection = match crate::python::sdist::inspect(
        &sdist.item.file_name,
        &bytes,
        crate::python::sdist::Limits::default(),
    ) {
        Ok(inspection) => inspection,
        Err(error) => {
            return vec![finding(
                "AL105",
                format!("{error}; do not build this sdist"),
            )];
        }
    };
    let metadata = match CoreMetadata::parse(&inspection.pkg_info) {
        Ok(metadata) => metadata,
        Err(error) => {
            return vec![finding(
                "AL106",
                format!("its PKG-INFO is invalid: {error}"),
            )];
        }
    };
    let lock_name = PackageName::from_str(&sdist.package).ok();
    let lock_version = Version::from_str(&sdist.version).ok();
    if lock_name.as_ref() != Some(&metadata.name)
        || lock_version.as_ref() != Some(&metadata.version)
    {
        return vec![finding(
            "AL106",
            format!(
                "its PKG-INFO says {} {}, the lock says {} {}",
                metadata.name, metadata.version, sdist.package, sdist.version
            ),
        )];
    }
    Vec::new()
}

/// One `rule` error per locked file the plan found missing (wheels and `.deb`s alike).
pub(super) fn missing(
    plan: &crate::fetch::FetchPlan,
    rule: &'static str,
    uri: &dyn Fn(&str) -> String,
) -> Vec<Finding> {
    plan.missing
        .iter()
        .map(|item| {
            Finding::new(
                rule,
                Severity::Error,
                uri(&item.file_name),
                None,
                format!(
                    "{} is missing ({}); run `airlock fetch` while online",
                    item.file_name, item.label
                ),
            )
        })
        .collect()
}

/// All integrity findings for the wheelhouse. `wheelhouse_uri` is how locations name it.
pub fn check(wheels: &[LockedWheel], wheelhouse: &Path, wheelhouse_uri: &str) -> Vec<Finding> {
    let items: Vec<_> = wheels.iter().map(|w| w.item.clone()).collect();
    let plan = plan(&items, wheelhouse);
    let uri = |name: &str| format!("{wheelhouse_uri}/{name}");
    let mut findings = missing(&plan, "AL101", &uri);
    for item in &plan.corrupt {
        let path = wheelhouse.join(&item.file_name);
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        let (rule, message) = if regular {
            let found = match hash_file(&path) {
                Ok((digest, size)) => format!("has sha256 {digest} and {size} bytes"),
                Err(error) => format!("cannot be read ({error})"),
            };
            (
                "AL102",
                format!(
                    "{} {found}; the lock says {}{}; delete it and run `airlock fetch`",
                    item.file_name,
                    item.sha256,
                    item.size
                        .map(|s| format!(" and {s} bytes"))
                        .unwrap_or_default()
                ),
            )
        } else {
            (
                "AL104",
                format!(
                    "{} is a symlink or not a regular file; replace it with the real wheel (`airlock fetch`)",
                    item.file_name
                ),
            )
        };
        findings.push(Finding::new(
            rule,
            Severity::Error,
            uri(&item.file_name),
            None,
            message,
        ));
    }
    for name in &plan.extraneous {
        let path = wheelhouse.join(name);
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        let (rule, severity, message) = if regular {
            (
                "AL103",
                Severity::Warning,
                format!("{name} is in no lock; pip may pick it up with --find-links; remove it"),
            )
        } else {
            (
                "AL104",
                Severity::Error,
                format!("{name} is a symlink or not a regular file; remove it"),
            )
        };
        findings.push(Finding::new(rule, severity, uri(name), None, message));
    }
    let present: Vec<&LockedWheel> = wheels
        .iter()
        .filter(|w| plan.present.iter().any(|p| p.file_name == w.item.file_name))
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunks: Vec<Vec<Finding>> = std::thread::scope(|scope| {
        let handles: Vec<_> = present
            .chunks(present.len().div_ceil(threads).max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .flat_map(|wheel| {
                            let path = wheelhouse.join(&wheel.item.file_name);
                            let uri = uri(&wheel.item.file_name);
                            match DistFilename::parse(&wheel.item.file_name) {
                                Some(DistFilename::Sdist(_)) => check_sdist(&path, &uri, wheel),
                                _ => check_wheel(&path, &uri, wheel),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("zip checks do not panic"))
            .collect()
    });
    findings.extend(chunks.into_iter().flatten());
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, compressed: u64, uncompressed: u64) -> ZipEntry {
        ZipEntry {
            name: name.into(),
            local_header_offset: 0,
            compressed_size: compressed,
            uncompressed_size: uncompressed,
            method: 8,
            crc32: 0,
            unix_mode: None,
        }
    }

    #[test]
    fn flags_traversal_duplicates_and_bombs() {
        let clean = [
            entry("pkg/__init__.py", 10, 20),
            entry("pkg-1.0.dist-info/METADATA", 10, 20),
        ];
        assert!(entry_problems(&clean).is_empty());
        let problems = entry_problems(&[
            entry("../../etc/cron.d/evil", 1, 1),
            entry("/abs/path", 1, 1),
            entry("C:/windows", 1, 1),
            entry("pkg/a.py", 1, 1),
            entry("pkg/a.py", 1, 1),
            entry("pkg/bomb.bin", 1000, 4_000_000_000),
        ]);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].contains("outside the install directory"));
        assert!(problems[3].contains("appears twice"));
        assert!(problems[4].contains("zip bomb"));
    }

    #[test]
    fn a_dist_info_that_disagrees_with_the_name_and_lock_is_reported() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("b-2.0.dist-info/METADATA", options).unwrap();
        zip.write_all(b"Name: b\nVersion: 2.0\n").unwrap();
        zip.start_file("b-2.0.dist-info/WHEEL", options).unwrap();
        zip.write_all(b"Wheel-Version: 1.0\n").unwrap();
        zip.finish().unwrap();
        let wheel = LockedWheel {
            item: crate::net::download::DownloadItem {
                url: url::Url::parse("http://127.0.0.1:9/a.whl").unwrap(),
                size: None,
                sha256: crate::digest::Sha256Hex::of(b""),
                file_name: "a-1.0-py3-none-any.whl".parse().unwrap(),
                label: "a 1.0".into(),
            },
            package: "a".into(),
            version: "1.0".into(),
            lock: "lockfiles/pylock.a.toml".into(),
        };
        let findings = check_wheel(&path, "wheelhouse/a-1.0-py3-none-any.whl", &wheel);
        let messages: Vec<&str> = findings
            .iter()
            .filter(|f| f.rule == "AL106")
            .map(|f| f.message.as_str())
            .collect();
        assert!(
            findings
                .iter()
                .any(|f| f.rule == "AL107" && f.message.contains("no b-2.0.dist-info/RECORD")),
            "a wheel without RECORD is reported"
        );
        assert_eq!(
            findings.iter().filter(|f| f.rule == "AL106").count(),
            2,
            "{messages:#?}"
        );
        assert!(
            messages[0].contains("holds b-2.0.dist-info, not a-1.0.dist-info"),
            "{messages:#?}"
        );
        assert!(
            messages[1].contains("METADATA says b 2.0, the lock says a 1.0"),
            "{messages:#?}"
        );
    }

    #[test]
    fn record_digests_are_urlsafe_base64_without_padding() {
        assert_eq!(
            urlsafe_b64(&Sha256::digest(b"")),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(urlsafe_b64(b"\xfb\xff"), "-_8");
        let rows = parse_record("a.py,sha256=x,3\n\"b,c.py\",sha256=y,4\nd/RECORD,,\n").unwrap();
        assert_eq!(rows["b,c.py"], ("sha256=y".to_string(), "4".to_string()));
        assert!(parse_record("only,two\n").is_err());
    }

    /// A wheel whose RECORD is `record` (with `{a}` replaced by a.py's true digest).
    fn wheel_with_record(dir: &Path, record: &str) -> std::path::PathBuf {
        use std::io::Write;
        let path = dir.join("a-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("a/a.py", options).unwrap();
        zip.write_all(b"A = 1\n").unwrap();
        zip.start_file("a-1.0.dist-info/METADATA", options).unwrap();
        zip.write_all(b"Name: a\nVersion: 1.0\n").unwrap();
        zip.start_file("a-1.0.dist-info/RECORD", options).unwrap();
        let digest = urlsafe_b64(&Sha256::digest(b"A = 1\n"));
        zip.write_all(record.replace("{a}", &digest).as_bytes())
            .unwrap();
        zip.finish().unwrap();
        path
    }

    #[test]
    fn a_record_that_lies_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let good = "a/a.py,sha256={a},6\na-1.0.dist-info/METADATA,,\na-1.0.dist-info/RECORD,,\n";
        let path = wheel_with_record(dir.path(), good);
        // METADATA listed without a hash is refused too: airlock checks sha256.
        let problems = record_problems(&path, "a-1.0.dist-info").unwrap();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("no sha256"), "{problems:#?}");
        let lying = "a/a.py,sha256=AAAA,6\na-1.0.dist-info/RECORD,,\nghost.py,sha256=x,1\n";
        let path = wheel_with_record(dir.path(), lying);
        let problems = record_problems(&path, "a-1.0.dist-info").unwrap();
        let text = problems.join("\n");
        assert!(text.contains("a/a.py has sha256="), "{text}");
        assert!(
            text.contains("METADATA is in the wheel but not in its RECORD"),
            "{text}"
        );
        assert!(
            text.contains("RECORD lists ghost.py, which the wheel does not have"),
            "{text}"
        );
    }

    #[test]
    fn finds_dist_info_directories() {
        let entries = [
            entry("a-1.0.dist-info/METADATA", 1, 1),
            entry("a-1.0.dist-info/RECORD", 1, 1),
            entry("a/x.py", 1, 1),
        ];
        assert_eq!(dist_info_dirs(&entries), ["a-1.0.dist-info"]);
    }

    /// A sound wheel `a-1.0-py3-none-any.whl` with a true RECORD, from `(name, bytes,
    /// stored)` members besides METADATA and WHEEL; `wheel_version` goes into WHEEL.
    fn wheel_bytes(members: &[(&str, &[u8])], wheel_version: &str, extra_record: &str) -> Vec<u8> {
        use std::io::Write;
        let mut files: Vec<(String, Vec<u8>)> = members
            .iter()
            .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
            .collect();
        files.push((
            "a-1.0.dist-info/METADATA".into(),
            b"Name: a\nVersion: 1.0\n".to_vec(),
        ));
        files.push((
            "a-1.0.dist-info/WHEEL".into(),
            format!("Wheel-Version: {wheel_version}\nRoot-Is-Purelib: true\n").into_bytes(),
        ));
        let mut record = String::new();
        for (name, bytes) in &files {
            record.push_str(&format!(
                "{name},sha256={},{}\n",
                urlsafe_b64(&Sha256::digest(bytes)),
                bytes.len()
            ));
        }
        record.push_str(extra_record);
        record.push_str("a-1.0.dist-info/RECORD,,\n");
        files.push(("a-1.0.dist-info/RECORD".into(), record.into_bytes()));
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in &files {
            zip.start_file(name.as_str(), options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn problems_of(bytes: &[u8]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a-1.0-py3-none-any.whl");
        std::fs::write(&path, bytes).unwrap();
        wheel_problems(&path, "a-1.0-py3-none-any.whl")
            .into_iter()
            .map(|(rule, message)| format!("{rule} {message}"))
            .collect()
    }

    /// Replaces the first `from` in `bytes` with `to` (same length).
    fn patched(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = bytes
            .windows(from.len())
            .position(|window| window == from)
            .expect("the bytes to patch are there");
        bytes[at..at + to.len()].copy_from_slice(to);
        bytes
    }

    #[test]
    fn wheels_an_installer_would_misread_are_refused() {
        let members: &[(&str, &[u8])] = &[("a/__init__.py", b"VALUE = 1\n")];
        assert_eq!(
            problems_of(&wheel_bytes(members, "1.0", "")),
            Vec::<String>::new()
        );

        // The local header names another file than the central directory.
        let renamed = patched(
            wheel_bytes(members, "1.0", ""),
            b"a/__init__.py",
            b"a/__evil__.py",
        );
        let problems = problems_of(&renamed);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("AL105")
                    && p.contains("\"a/__evil__.py\" in its local header")),
            "{problems:#?}"
        );

        // Data after the end of the zip.
        let mut trailing = wheel_bytes(members, "1.0", "");
        trailing.extend_from_slice(b"PK\x03\x04 another archive");
        let problems = problems_of(&trailing);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("follow the end of the zip")),
            "{problems:#?}"
        );

        // A member whose bytes are not the ones its CRC-32 records.
        let corrupt = patched(wheel_bytes(members, "1.0", ""), b"VALUE = 1", b"VALUE = 2");
        let problems = problems_of(&corrupt);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("AL107") && p.contains("CRC-32")),
            "{problems:#?}"
        );

        // A format version this reader does not know.
        let problems = problems_of(&wheel_bytes(members, "2.0", ""));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("AL106") && p.contains("Wheel-Version 2.0")),
            "{problems:#?}"
        );

        // RECORD naming a path outside the wheel.
        let problems = problems_of(&wheel_bytes(members, "1.0", "../../etc/profile.d/x.sh,,\n"));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"../../etc/profile.d/x.sh\", a path outside the wheel")),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_symbolic_link_member_is_refused() {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.add_symlink("a/link", "/etc/passwd", options).unwrap();
        zip.start_file("a-1.0.dist-info/METADATA", options).unwrap();
        zip.write_all(b"Name: a\nVersion: 1.0\n").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let problems = problems_of(&bytes);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"a/link\" is a symbolic link")),
            "{problems:#?}"
        );
    }
}
