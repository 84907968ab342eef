//! The local apt repository in `wheelhouse/apt/`: a flat repository (`deb [trusted=yes]
//! file:/…/apt ./`) whose `Packages` republishes the locked stanzas with local file names,
//! plus `Packages.gz` and a `Release` with SHA256 entries. The bytes depend only on the lock:
//! stanzas sorted, gzip without a timestamp, the Release dated by the newest locked source.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::aptlock::AptLock;
use super::signing::RepositorySigner;
use crate::net::cache::write_atomic;

/// The wheelhouse subdirectory that holds the Debian side.
pub const APT_DIRECTORY: &str = "apt";

/// The files `publish` writes next to the `.deb`s.
pub fn is_index_file(name: &str) -> bool {
    matches!(
        name,
        "Packages" | "Packages.gz" | "Release" | "InRelease" | "Release.gpg"
    )
}

/// The `Packages` text for a lock.
pub fn packages_index(lock: &AptLock) -> String {
    let mut out = String::new();
    for deb in &lock.packages {
        let local = deb.filename.rsplit('/').next().unwrap_or(&deb.filename);
        for line in deb.control.lines() {
            // The pool path becomes the file next to the index.
            if line.starts_with("Filename:") {
                out.push_str(&format!("Filename: ./{local}\n"));
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    // GzBuilder writes no file name and a zero mtime unless told to: deterministic bytes.
    let mut encoder = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The newest `Date` of the locked sources: the local repository's own date.
fn release_date(lock: &AptLock) -> &str {
    lock.sources
        .iter()
        .filter_map(|s| s.date.as_deref())
        .max_by_key(|d| crate::dates::parse_rfc2822(d))
        .unwrap_or("Thu, 01 Jan 1970 00:00:00 UTC")
}

/// The `Release` text for the two index files.
pub fn release_file(lock: &AptLock, packages: &[u8], packages_gz: &[u8]) -> String {
    let date = release_date(lock);
    let mut release = format!(
        "Origin: airlock\nLabel: airlock\nSuite: airlock\nCodename: airlock\nDate: {date}\nArchitectures: {} all\nDescription: packages locked in apt.lock.toml, for offline builds\nSHA256:\n",
        lock.architectures().join(" ")
    );
    for (name, bytes) in [("Packages", packages), ("Packages.gz", packages_gz)] {
        release.push_str(&format!(
            " {} {} {name}\n",
            hex::encode(Sha256::digest(bytes)),
            bytes.len()
        ));
    }
    release
}

/// Writes `Packages`, `Packages.gz` and `Release` into `dir` (each atomically), and with a
/// signer `InRelease` and `Release.gpg`. Without one, signature files left from an earlier
/// signed publication are removed: apt would read a stale `InRelease` first.
pub fn publish(
    lock: &AptLock,
    dir: &Path,
    signer: Option<&RepositorySigner>,
) -> std::io::Result<()> {
    let packages = packages_index(lock);
    let packages_gz = gzip(packages.as_bytes())?;
    let release = release_file(lock, packages.as_bytes(), &packages_gz);
    write_atomic(&dir.join("Packages"), packages.as_bytes())?;
    write_atomic(&dir.join("Packages.gz"), &packages_gz)?;
    match signer {
        Some(signer) => {
            let date = crate::dates::parse_rfc2822(release_date(lock))
                .and_then(|d| d.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            let signed = signer.sign(&release, date).map_err(std::io::Error::other)?;
            // Release first, InRelease last: a reader never sees a new InRelease beside an old
            // Release.
            write_atomic(&dir.join("Release"), release.as_bytes())?;
            write_atomic(&dir.join("Release.gpg"), signed.release_gpg.as_bytes())?;
            write_atomic(&dir.join("InRelease"), signed.in_release.as_bytes())
        }
        None => {
            for stale in ["InRelease", "Release.gpg"] {
                match std::fs::remove_file(dir.join(stale)) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(error);
                    }
                    _ => {}
                }
            }
            write_atomic(&dir.join("Release"), release.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::aptlock::{LockedDeb, LockedSuite};

    fn lock() -> AptLock {
        let deb = |name: &str| LockedDeb {
            name: name.into(),
            version: "1.0".into(),
            architecture: "amd64".into(),
            filename: format!("pool/main/{name}_1.0_amd64.deb"),
            size: 3,
            sha256: crate::digest::Sha256Hex::parse(&"0".repeat(64)).unwrap(),
            uri: "http://127.0.0.1:9/debian/".into(),
            suite: "stable".into(),
            pulled_by: name.into(),
            control: format!(
                "Package: {name}\nVersion: 1.0\nArchitecture: amd64\nDepends: libc6\nFilename: pool/main/{name}_1.0_amd64.deb\nSize: 3\nSHA256: {}\n",
                "0".repeat(64)
            ),
        };
        AptLock {
            schema: 1,
            inputs_fingerprint: "f".into(),
            architecture: "amd64".into(),
            foreign_architectures: vec![],
            base: "none".into(),
            base_file: None,
            recommends: false,
            requested: vec!["curl".into()],
            sources: vec![LockedSuite {
                uri: "http://127.0.0.1:9/debian/".into(),
                suite: "stable".into(),
                date: Some("Sat, 10 Aug 2024 09:12:34 UTC".into()),
                codename: None,
                release_version: None,
                accepted_stale: None,
                accepted_older: None,
                indexes: vec![],
            }],
            packages: vec![deb("curl"), deb("libcurl4")],
        }
    }

    #[test]
    fn publishes_a_deterministic_flat_repository() {
        let dir = tempfile::tempdir().unwrap();
        publish(&lock(), dir.path(), None).unwrap();
        let packages = std::fs::read_to_string(dir.path().join("Packages")).unwrap();
        assert!(packages.contains("Package: curl\n"));
        assert!(packages.contains("Filename: ./curl_1.0_amd64.deb\n"));
        assert!(
            packages.contains("Depends: libc6\n"),
            "dependencies are republished for apt"
        );
        let release = std::fs::read_to_string(dir.path().join("Release")).unwrap();
        assert!(release.contains("Date: Sat, 10 Aug 2024 09:12:34 UTC\n"));
        let gz = std::fs::read(dir.path().join("Packages.gz")).unwrap();
        assert!(release.contains(&format!(
            " {} {} Packages.gz\n",
            hex::encode(Sha256::digest(&gz)),
            gz.len()
        )));
        let other = tempfile::tempdir().unwrap();
        publish(&lock(), other.path(), None).unwrap();
        for name in ["Packages", "Packages.gz", "Release"] {
            assert_eq!(
                std::fs::read(dir.path().join(name)).unwrap(),
                std::fs::read(other.path().join(name)).unwrap(),
                "{name} is deterministic"
            );
        }
        assert!(
            !dir.path().join("InRelease").exists(),
            "unsigned by default"
        );
        // The published index parses back, with safe local file names.
        let parsed = crate::debian::packages::parse_packages(&packages, "Packages").unwrap();
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn signs_the_repository_when_given_a_key_and_unsigns_it_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::debian::signature::tests::test_key(31, "repo");
        let key_file = dir.path().join("key.asc");
        std::fs::write(
            &key_file,
            key.to_armored_string(Default::default()).unwrap(),
        )
        .unwrap();
        let signer = RepositorySigner::load(&key_file, None).unwrap();
        let repo = dir.path().join("apt");
        std::fs::create_dir(&repo).unwrap();
        publish(&lock(), &repo, Some(&signer)).unwrap();
        let release = std::fs::read_to_string(repo.join("Release")).unwrap();
        let unsigned = tempfile::tempdir().unwrap();
        publish(&lock(), unsigned.path(), None).unwrap();
        assert_eq!(
            release,
            std::fs::read_to_string(unsigned.path().join("Release")).unwrap(),
            "signing does not change the Release"
        );
        let keyring = crate::debian::signature::Keyring::from_bytes(
            signer.public_armour().as_bytes(),
            "pub.asc",
        )
        .unwrap();
        let in_release = std::fs::read_to_string(repo.join("InRelease")).unwrap();
        assert_eq!(
            keyring
                .verify_clearsigned(&in_release, "InRelease", std::time::SystemTime::now())
                .unwrap(),
            release
        );
        let detached = std::fs::read_to_string(repo.join("Release.gpg")).unwrap();
        keyring
            .verify_detached(
                release.as_bytes(),
                &detached,
                "Release.gpg",
                std::time::SystemTime::now(),
            )
            .unwrap();
        publish(&lock(), &repo, Some(&signer)).unwrap();
        assert_eq!(
            std::fs::read_to_string(repo.join("InRelease")).unwrap(),
            in_release,
            "re-signing the same lock gives the same bytes"
        );
        publish(&lock(), &repo, None).unwrap();
        assert!(!repo.join("InRelease").exists() && !repo.join("Release.gpg").exists());
    }
}
