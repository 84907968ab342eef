//! The bundle's manifest: every file of the project state the bundle describes, with its size,
//! sha256 and what it is; which of them this archive carries (a delta carries only what
//! changed since its base); what the far side removes (`--prune`).

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Hex;

/// The format name and version written in every manifest.
pub const FORMAT: &str = "airlock-bundle/1";
/// Where the bundle's own files live, in the archive and in an unpacked project.
pub const META_DIR: &str = ".airlock-bundle";
pub const MANIFEST_PATH: &str = ".airlock-bundle/manifest.json";
pub const SIGNATURE_PATH: &str = ".airlock-bundle/manifest.json.asc";
pub const SBOM_PATH: &str = ".airlock-bundle/sbom.cdx.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    Config,
    Requirements,
    Lock,
    Wheel,
    Sdist,
    Deb,
    AptIndex,
    Dockerfile,
    BuildContext,
    Sbom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ManifestFile {
    /// Relative to the project root, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: Sha256Hex,
    pub kind: FileKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The lock that lists it (project-relative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// Whether this archive carries the file (a delta leaves out what its base has).
    pub included: bool,
}

/// The bundle a delta applies on top of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BaseBundle {
    /// The base bundle's file name, for messages.
    pub file: String,
    /// The sha256 of the base bundle's manifest.json: what an unpacked project holds.
    pub manifest_sha256: Sha256Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    pub format: String,
    pub airlock_version: String,
    /// The time written into every entry (SOURCE_DATE_EPOCH, or derived from the locks).
    pub source_date_epoch: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseBundle>,
    /// The Python indexes the locks were made from (without credentials).
    #[serde(default)]
    pub indexes: Vec<String>,
    /// The Debian suites of the apt lock (`URI SUITE`).
    #[serde(default)]
    pub apt_suites: Vec<String>,
    /// The project state, sorted by path.
    pub files: Vec<ManifestFile>,
    /// Files of the base that this state no longer has: a delta made with `--prune` removes
    /// them when unpacked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        bytes.push(b'\n');
        bytes
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if manifest.format != FORMAT {
            return Err(format!(
                "format `{}` is not {FORMAT}; it was made by another airlock version",
                manifest.format
            ));
        }
        for file in &manifest.files {
            if !safe_relative(&file.path) {
                return Err(format!(
                    "the path `{}` is not a safe relative path",
                    file.path
                ));
            }
        }
        for path in &manifest.removed {
            if !safe_relative(path) || path.starts_with(META_DIR) {
                return Err(format!(
                    "the removed path `{path}` is not a safe relative path"
                ));
            }
        }
        Ok(manifest)
    }

    /// The bytes of the files this archive carries.
    pub fn included_bytes(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| f.included)
            .map(|f| f.size)
            .sum()
    }

    pub fn file(&self, path: &str) -> Option<&ManifestFile> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|at| &self.files[at])
    }
}

/// A path an archive may name: relative, `/`-separated, no `.`/`..`/empty components, no
/// backslash or NUL, not too long.
pub fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && !path.starts_with('/')
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_safe() {
        for good in [
            "wheelhouse/a-1.0-py3-none-any.whl",
            "airlock.toml",
            ".airlock-bundle/x",
        ] {
            assert!(safe_relative(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\..\\b",
            "a\0b",
        ] {
            assert!(!safe_relative(bad), "{bad:?}");
        }
    }
}
