//! `Release` and `InRelease` files (the Debian repository format): the suite's metadata and
//! the size and SHA256 of every index file, which is what makes a `Packages` file trustworthy
//! once the Release signature is.
//!
//! Pure parsing and policy: indexes that carry only MD5/SHA1 are refused; an expired
//! `Valid-Until` or a `Date` in the future is refused unless the caller overrides it (and
//! records that in the lock). The signed text comes from `signature` (one clearsign parser for
//! verified and `trusted=yes` sources alike).

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::deb822;
use crate::digest::Sha256Hex;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReleaseError {
    // The stanza error is part of this message (it has no line of its own to add), so it
    // is not also a source that the error chain would print again.
    #[error("{origin}: {problem}")]
    Deb822 {
        origin: String,
        problem: deb822::Deb822Error,
    },
    #[error("{origin}: the Release file is empty")]
    Empty { origin: String },
    #[error("{origin}: lists no SHA256 checksums (only MD5Sum/SHA1, which airlock does not trust)")]
    WeakHashes { origin: String },
    #[error("{origin}: malformed SHA256 line `{line}`")]
    BadEntry { origin: String, line: String },
    #[error(
        "{origin}: Valid-Until {valid_until} has passed; the mirror is stale or replaying an old Release (for a frozen snapshot you trust, resolve with --allow-expired-release)"
    )]
    Expired { origin: String, valid_until: String },
    #[error(
        "{origin}: Date {date} is in the future; check the clock or the mirror (to accept it anyway, resolve with --allow-expired-release)"
    )]
    FromTheFuture { origin: String, date: String },
    #[error("{origin}: unreadable {field} `{value}`")]
    BadDate {
        origin: String,
        field: &'static str,
        value: String,
    },
}

/// One index file the Release vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub size: u64,
    pub sha256: Sha256Hex,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub suite: Option<String>,
    pub codename: Option<String>,
    /// The release number (`12.8`), which main suites carry.
    pub version: Option<String>,
    pub date: Option<String>,
    pub valid_until: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub acquire_by_hash: bool,
    /// path (relative to the dists/<suite>/ directory) -> size and sha256.
    pub sha256: BTreeMap<String, IndexFile>,
}

pub fn parse_release(text: &str, origin: &str) -> Result<Release, ReleaseError> {
    let stanzas = deb822::parse(text).map_err(|problem| ReleaseError::Deb822 {
        origin: origin.to_string(),
        problem,
    })?;
    let stanza = stanzas.first().ok_or_else(|| ReleaseError::Empty {
        origin: origin.to_string(),
    })?;
    let Some(entries) = stanza.get("SHA256") else {
        return Err(ReleaseError::WeakHashes {
            origin: origin.to_string(),
        });
    };
    let mut sha256 = BTreeMap::new();
    for line in entries.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = || ReleaseError::BadEntry {
            origin: origin.to_string(),
            line: line.to_string(),
        };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [hash, size, path] = parts.as_slice() else {
            return Err(bad());
        };
        sha256.insert(
            path.to_string(),
            IndexFile {
                size: size.parse().map_err(|_| bad())?,
                sha256: Sha256Hex::parse(hash).map_err(|_| bad())?,
            },
        );
    }
    let list = |field: &str| -> Vec<String> {
        stanza
            .get(field)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    Ok(Release {
        suite: stanza.get("Suite").map(str::to_string),
        codename: stanza.get("Codename").map(str::to_string),
        version: stanza.get("Version").map(str::to_string),
        date: stanza.get("Date").map(str::to_string),
        valid_until: stanza.get("Valid-Until").map(str::to_string),
        architectures: list("Architectures"),
        components: list("Components"),
        acquire_by_hash: stanza
            .get("Acquire-By-Hash")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        sha256,
    })
}

impl Release {
    /// Refuses a stale or future-dated Release at `now`, unless `allow` says otherwise.
    pub fn check_dates(
        &self,
        now: SystemTime,
        allow_expired: bool,
        origin: &str,
    ) -> Result<(), ReleaseError> {
        let parse = |field: &'static str, value: &str| {
            crate::dates::parse_rfc2822(value).ok_or_else(|| ReleaseError::BadDate {
                origin: origin.to_string(),
                field,
                value: value.to_string(),
            })
        };
        if let Some(date) = &self.date {
            // A minute of slack for clock skew between the mirror and this machine.
            if parse("Date", date)? > now + std::time::Duration::from_secs(60) && !allow_expired {
                return Err(ReleaseError::FromTheFuture {
                    origin: origin.to_string(),
                    date: date.clone(),
                });
            }
        }
        if let Some(valid_until) = &self.valid_until
            && parse("Valid-Until", valid_until)? < now
            && !allow_expired
        {
            return Err(ReleaseError::Expired {
                origin: origin.to_string(),
                valid_until: valid_until.clone(),
            });
        }
        Ok(())
    }

    /// Where to fetch `path`: its by-hash location when the Release offers it (so a file is
    /// never mixed with another snapshot's), else the plain path.
    pub fn fetch_path(&self, path: &str) -> Option<(String, &IndexFile)> {
        let entry = self.sha256.get(path)?;
        let location = if self.acquire_by_hash {
            let directory = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            let prefix = if directory.is_empty() {
                String::new()
            } else {
                format!("{directory}/")
            };
            format!("{prefix}by-hash/SHA256/{}", entry.sha256)
        } else {
            path.to_string()
        };
        Some((location, entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(extra: &str) -> String {
        format!(
            "Origin: Test\nSuite: stable\nCodename: bookworm\nDate: Sat, 10 Aug 2024 09:12:34 UTC\n{extra}Architectures: amd64 arm64\nComponents: main\nAcquire-By-Hash: yes\nSHA256:\n {} 1234 main/binary-amd64/Packages.xz\n {} 99 main/binary-amd64/Release\n",
            "a".repeat(64),
            "B".repeat(64)
        )
    }

    fn at(text: &str) -> SystemTime {
        crate::dates::parse_rfc2822(text).unwrap()
    }

    #[test]
    fn parses_the_sha256_table_and_by_hash_paths() {
        let parsed = parse_release(&release(""), "Release").unwrap();
        assert_eq!(parsed.codename.as_deref(), Some("bookworm"));
        assert_eq!(parsed.architectures, ["amd64", "arm64"]);
        let (location, entry) = parsed.fetch_path("main/binary-amd64/Packages.xz").unwrap();
        assert_eq!(
            location,
            format!("main/binary-amd64/by-hash/SHA256/{}", "a".repeat(64))
        );
        assert_eq!(entry.size, 1234);
        assert_eq!(
            parsed.sha256["main/binary-amd64/Release"].sha256,
            "b".repeat(64)
        );
        assert!(parsed.fetch_path("main/binary-i386/Packages.xz").is_none());
    }

    #[test]
    fn refuses_weak_hashes_and_bad_entries() {
        let weak = "Suite: x\nMD5Sum:\n d41d8cd98f00b204e9800998ecf8427e 0 main/Packages\n";
        assert_eq!(
            parse_release(weak, "R").unwrap_err().to_string(),
            "R: lists no SHA256 checksums (only MD5Sum/SHA1, which airlock does not trust)"
        );
        let bad = "Suite: x\nSHA256:\n abc 12 main/Packages\n";
        assert!(matches!(
            parse_release(bad, "R"),
            Err(ReleaseError::BadEntry { .. })
        ));
    }

    #[test]
    fn refuses_expired_and_future_releases_unless_allowed() {
        let parsed = parse_release(
            &release("Valid-Until: Sat, 17 Aug 2024 09:12:34 UTC\n"),
            "R",
        )
        .unwrap();
        assert!(
            parsed
                .check_dates(at("Mon, 12 Aug 2024 00:00:00 UTC"), false, "R")
                .is_ok()
        );
        let error = parsed
            .check_dates(at("Mon, 19 Aug 2024 00:00:00 UTC"), false, "R")
            .unwrap_err();
        assert!(matches!(error, ReleaseError::Expired { .. }), "{error}");
        assert!(
            parsed
                .check_dates(at("Mon, 19 Aug 2024 00:00:00 UTC"), true, "R")
                .is_ok()
        );
        let error = parsed
            .check_dates(at("Fri, 09 Aug 2024 00:00:00 UTC"), false, "R")
            .unwrap_err();
        assert!(
            matches!(error, ReleaseError::FromTheFuture { .. }),
            "{error}"
        );
    }
}
