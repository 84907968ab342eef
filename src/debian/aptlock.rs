//! `lockfiles/apt.lock.toml`: what the apt side resolved, and everything needed to fetch and
//! republish it offline. Deterministic (sorted, no timestamps but the Releases' own dates),
//! written atomically by the caller.

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Hex;

use super::closure::Chosen;
use super::remote::LoadedSuite;
use crate::net::redact;

pub const APT_LOCK_FILE: &str = "apt.lock.toml";
pub const APT_LOCK_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AptLock {
    pub schema: u32,
    pub inputs_fingerprint: String,
    /// The native architecture.
    pub architecture: String,
    /// Foreign architectures, as `dpkg --add-architecture` adds them on the target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_architectures: Vec<String>,
    pub base: String,
    /// For a dpkg status file as base: where it is, relative to the project root (`base`
    /// holds its digest), so a project with no airlock.toml finds it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_file: Option<String>,
    pub recommends: bool,
    pub requested: Vec<String>,
    #[serde(default)]
    pub sources: Vec<LockedSuite>,
    #[serde(default)]
    pub packages: Vec<LockedDeb>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedSuite {
    pub uri: String,
    pub suite: String,
    /// The Release's `Date`, so the lock says which snapshot it came from.
    pub date: Option<String>,
    /// The Release's `Codename` and `Version`: which Debian release this is (SBOMs name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_version: Option<String>,
    /// Set when `--allow-expired-release` accepted a Release whose dates apt would refuse:
    /// what was wrong with them, so the lock admits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_stale: Option<String>,
    /// Set when `--allow-older-release` accepted a Release older than the one the previous
    /// lock was made from (a rollback apt cannot see, since main suites carry no Valid-Until).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_older: Option<String>,
    pub indexes: Vec<LockedIndex>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedIndex {
    pub path: String,
    pub sha256: Sha256Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedDeb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The pool path under the source URI.
    pub filename: String,
    pub size: u64,
    pub sha256: Sha256Hex,
    /// The source URI it is fetched from (credentials removed).
    pub uri: String,
    pub suite: String,
    pub pulled_by: String,
    /// The index stanza, republished in the local repository.
    pub control: String,
}

impl AptLock {
    /// Builds a lock from the loaded suites and the closure, whose `origin`s index `suites`.
    pub fn build(
        fingerprint: String,
        architectures: &[String],
        (base, base_file): (&str, Option<String>),
        recommends: bool,
        requested: &[String],
        suites: &[LoadedSuite],
        chosen: &std::collections::BTreeMap<String, Chosen>,
    ) -> AptLock {
        let mut packages: Vec<LockedDeb> = chosen
            .values()
            .map(|c| {
                let package = &c.package;
                let suite = &suites[c.origin];
                LockedDeb {
                    name: package.name.clone(),
                    version: package.version.to_string(),
                    architecture: package.architecture().to_string(),
                    filename: package.filename().to_string(),
                    size: package.size,
                    sha256: package.sha256(),
                    uri: redact(&suite.uri),
                    suite: suite.suite.clone(),
                    pulled_by: c.pulled_by.clone(),
                    control: package.control.as_str().to_string(),
                }
            })
            .collect();
        packages.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| a.architecture.cmp(&b.architecture))
        });
        let sources = suites
            .iter()
            .map(|s| LockedSuite {
                uri: redact(&s.uri),
                suite: s.suite.clone(),
                date: s.release.date.clone(),
                codename: s.release.codename.clone(),
                release_version: s.release.version.clone(),
                accepted_stale: s.stale.clone(),
                accepted_older: s.older.clone(),
                indexes: s
                    .indexes
                    .iter()
                    .map(|(path, sha256)| LockedIndex {
                        path: path.clone(),
                        sha256: sha256.clone(),
                    })
                    .collect(),
            })
            .collect();
        let mut requested = requested.to_vec();
        requested.sort();
        AptLock {
            schema: APT_LOCK_SCHEMA,
            inputs_fingerprint: fingerprint,
            architecture: architectures.first().cloned().unwrap_or_default(),
            foreign_architectures: architectures.iter().skip(1).cloned().collect(),
            base: base.to_string(),
            base_file,
            recommends,
            requested,
            sources,
            packages,
        }
    }

    /// Native first, then the foreign architectures.
    pub fn architectures(&self) -> Vec<String> {
        std::iter::once(self.architecture.clone())
            .chain(self.foreign_architectures.iter().cloned())
            .collect()
    }

    /// apt's name for a locked package: `name`, or `name:arch` for a foreign architecture.
    pub fn apt_name(&self, deb: &LockedDeb) -> String {
        if deb.architecture == "all" || deb.architecture == self.architecture {
            deb.name.clone()
        } else {
            format!("{}:{}", deb.name, deb.architecture)
        }
    }

    pub fn to_toml(&self) -> String {
        format!(
            "# This file was generated by airlock from [apt] in airlock.toml. Do not edit it by hand;\n# run `airlock resolve` to update it.\n{}",
            toml::to_string(self).expect("the apt lock serialises")
        )
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}
