//! Core metadata (`METADATA`, the core metadata specification): the few fields resolution needs.
//!
//! The format is RFC 822-style headers; only the header block is read (the body after the first
//! blank line is the long description).

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{PackageName, Requirement};

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("the metadata has no `{0}` field")]
    MissingField(&'static str),
    #[error("the metadata's `{field}` value `{value}` is invalid")]
    InvalidField { field: &'static str, value: String },
    #[error("the metadata's `Requires-Dist: {value}` is not a valid PEP 508 requirement")]
    InvalidRequirement {
        value: String,
        #[source]
        source: Box<pep508_rs::Pep508Error>,
    },
}

#[derive(Debug, Clone)]
pub struct CoreMetadata {
    pub name: PackageName,
    pub version: Version,
    pub requires_python: Option<VersionSpecifiers>,
    pub requires_dist: Vec<Requirement>,
    /// The extras the distribution declares (`Provides-Extra`), normalised.
    pub provides_extra: Vec<pep508_rs::ExtraName>,
    /// `Metadata-Version` as (major, minor), when present and numeric.
    pub metadata_version: Option<(u32, u32)>,
    /// Fields marked `Dynamic` (PEP 643), lowercased.
    pub dynamic: Vec<String>,
}

impl CoreMetadata {
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let text = String::from_utf8_lossy(bytes);
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let get = |name: &str| {
            fields
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value.as_str())
        };
        let name_text = get("name").ok_or(MetadataError::MissingField("Name"))?;
        let name = PackageName::from_str(name_text).map_err(|_| MetadataError::InvalidField {
            field: "Name",
            value: name_text.to_string(),
        })?;
        let version_text = get("version").ok_or(MetadataError::MissingField("Version"))?;
        let version = Version::from_str(version_text).map_err(|_| MetadataError::InvalidField {
            field: "Version",
            value: version_text.to_string(),
        })?;
        // Malformed values that uv repairs (`>=2.7.*`, `imapclient (>=2.3.0<3)`) are repaired
        // the same way (see `lenient`); what stays invalid is an error, and the resolver then
        // rules out that release, as uv and pip do.
        let requires_python = match get("requires-python").filter(|value| !value.is_empty()) {
            None => None,
            Some(value) => Some(
                super::lenient::version_specifiers(value)
                    .map(|(specifiers, _)| specifiers)
                    .map_err(|_| MetadataError::InvalidField {
                        field: "Requires-Python",
                        value: value.to_string(),
                    })?,
            ),
        };
        let mut requires_dist = Vec::new();
        for (field, value) in &fields {
            if field != "requires-dist" {
                continue;
            }
            let (requirement, _) = super::lenient::requirement(value).map_err(|source| {
                MetadataError::InvalidRequirement {
                    value: value.clone(),
                    source,
                }
            })?;
            requires_dist.push(requirement);
        }
        let provides_extra = fields
            .iter()
            .filter(|(field, _)| field == "provides-extra")
            .filter_map(|(_, value)| pep508_rs::ExtraName::from_str(value).ok())
            .collect();
        let metadata_version = get("metadata-version").and_then(|text| {
            let (major, minor) = text.split_once('.')?;
            Some((major.trim().parse().ok()?, minor.trim().parse().ok()?))
        });
        let dynamic = fields
            .iter()
            .filter(|(field, _)| field == "dynamic")
            .map(|(_, value)| value.to_ascii_lowercase())
            .collect();
        Ok(CoreMetadata {
            name,
            version,
            requires_python,
            requires_dist,
            provides_extra,
            metadata_version,
            dynamic,
        })
    }

    /// Whether an sdist's PKG-INFO can stand for the built wheel's METADATA in resolution:
    /// PEP 643 (Metadata-Version 2.2+) promises that fields not marked `Dynamic` do not change
    /// in the build, and resolution reads Requires-Dist, Requires-Python and Provides-Extra.
    pub fn is_static(&self) -> bool {
        self.metadata_version.is_some_and(|v| v >= (2, 2))
            && !self.dynamic.iter().any(|field| {
                matches!(
                    field.as_str(),
                    "requires-dist" | "requires-python" | "provides-extra"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_header_block_only() {
        let text = "Metadata-Version: 2.1\nName: FastAPI\nVersion: 0.115.0\nRequires-Python: >=3.8\n\
Requires-Dist: starlette<0.39.0,>=0.37.2\nRequires-Dist: pydantic!=1.8,>=1.7.4\n\
Requires-Dist: httpx>=0.23.0; extra == \"all\"\n\nRequires-Dist: not-a-field\n";
        let metadata = CoreMetadata::parse(text.as_bytes()).unwrap();
        assert_eq!(metadata.name.as_ref(), "fastapi");
        assert_eq!(metadata.version.to_string(), "0.115.0");
        assert_eq!(metadata.requires_python.unwrap().to_string(), ">=3.8");
        assert_eq!(metadata.requires_dist.len(), 3);
    }

    #[test]
    fn repairs_what_uv_repairs_and_refuses_the_rest() {
        let text = "Name: x\nVersion: 1\nRequires-Python: >=3.6.*\nRequires-Dist: imapclient (>=2.3.0<3)\n";
        let metadata = CoreMetadata::parse(text.as_bytes()).unwrap();
        assert_eq!(metadata.requires_python.unwrap().to_string(), ">=3.6");
        assert_eq!(
            metadata.requires_dist[0],
            Requirement::from_str("imapclient>=2.3.0,<3").unwrap()
        );
        let error =
            CoreMetadata::parse(b"Name: x\nVersion: 1\nRequires-Python: >=three\n").unwrap_err();
        assert!(error.to_string().contains("Requires-Python"), "{error}");
    }

    #[test]
    fn names_the_bad_field() {
        let error = CoreMetadata::parse(b"Name: x\nVersion: 1\nRequires-Dist: ???\n").unwrap_err();
        assert!(error.to_string().contains("Requires-Dist: ???"), "{error}");
        let error = CoreMetadata::parse(b"Version: 1\n").unwrap_err();
        assert!(error.to_string().contains("`Name`"), "{error}");
    }
}
