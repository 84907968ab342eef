//! Signing the local apt repository with a key the user provides: `InRelease` (clearsigned) and
//! `Release.gpg` (detached), so the air-gapped side can use `signed-by=` instead of
//! `trusted=yes`.
//!
//! The signatures are deterministic for EdDSA and RSA keys: their creation time is the
//! Release's own `Date` (or the key's creation time when that is later, since gpgv refuses a
//! signature older than its key), never the clock, so re-publishing the same lock yields the
//! same bytes.

use std::io::Cursor;
use std::path::Path;

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::types::{KeyDetails, KeyVersion, Password, SigningKey, Timestamp};
use sha2::{Digest, Sha256};

/// The environment variable that holds the signing key's passphrase, if it has one.
pub const PASSPHRASE_VARIABLE: &str = "AIRLOCK_APT_SIGNING_PASSPHRASE";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("{path}: cannot read the signing key: {message}")]
    Read { path: String, message: String },
    #[error(
        "{path}: not an OpenPGP secret key ({message}); export one with `gpg --export-secret-keys --armor KEYID`"
    )]
    NotASecretKey { path: String, message: String },
    #[error("{path}: neither the primary key nor a subkey is marked for signing")]
    NoSigningKey { path: String },
    #[error(
        "{path}: cannot sign with this key ({message}); if it has a passphrase, set {PASSPHRASE_VARIABLE}"
    )]
    Sign { path: String, message: String },
}

/// The key file's bytes; a missing or unreadable file is named.
fn read_key_file(path: &Path) -> Result<Vec<u8>, SigningError> {
    std::fs::read(path).map_err(|e| SigningError::Read {
        path: path.display().to_string(),
        message: super::signature::plain_message(&e),
    })
}

/// Parses one key, armoured or binary.
fn parse_key<K: Deserializable>(bytes: &[u8]) -> Result<K, String> {
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        K::from_armor_single(Cursor::new(bytes)).map(|(key, _)| key)
    } else {
        K::from_bytes(Cursor::new(bytes))
    }
    .map_err(|e| super::signature::plain_message(&e))
}

/// The public key of `[apt] signing-key` as armour, for verify and apt's `signed-by=`. The file
/// may hold the secret key (no passphrase needed for this) or only its public half, so the
/// air-gapped side can verify without the secret.
pub fn public_armour_of(path: &Path) -> Result<String, SigningError> {
    let bytes = read_key_file(path)?;
    let public = match parse_key::<SignedSecretKey>(&bytes) {
        Ok(secret) => secret.to_public_key(),
        Err(_) => parse_key::<pgp::composed::SignedPublicKey>(&bytes).map_err(|message| {
            SigningError::NotASecretKey {
                path: path.display().to_string(),
                message,
            }
        })?,
    };
    Ok(public
        .to_armored_string(ArmorOptions::default())
        .expect("a parsed key serialises"))
}

/// A loaded, unlocked-on-use secret key.
pub struct RepositorySigner {
    key: SignedSecretKey,
    password: Password,
    origin: String,
}

/// The two signed forms of one Release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRelease {
    pub in_release: String,
    pub release_gpg: String,
}

impl RepositorySigner {
    /// Reads an armoured or binary secret key; the passphrase, if any, is checked by signing.
    pub fn load(path: &Path, passphrase: Option<String>) -> Result<Self, SigningError> {
        let origin = path.display().to_string();
        let key = parse_key::<SignedSecretKey>(&read_key_file(path)?).map_err(|message| {
            SigningError::NotASecretKey {
                path: origin.clone(),
                message,
            }
        })?;
        let signer = RepositorySigner {
            key,
            password: passphrase
                .map(Password::from)
                .unwrap_or_else(Password::empty),
            origin,
        };
        // Fail now, not halfway through a fetch: a wrong passphrase or an unusable key.
        signer.sign("Origin: airlock\n", None)?;
        Ok(signer)
    }

    /// The public half, armoured: what the air-gapped side names in `signed-by=`.
    pub fn public_armour(&self) -> String {
        self.key
            .to_public_key()
            .to_armored_string(ArmorOptions::default())
            .expect("a parsed key serialises")
    }

    /// The primary key's fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.primary_key.fingerprint().as_bytes())
    }

    fn primary_can_sign(&self) -> bool {
        let flags = self
            .key
            .details
            .users
            .iter()
            .flat_map(|u| u.signatures.iter())
            .chain(self.key.details.direct_signatures.iter())
            .map(|s| s.key_flags())
            .collect::<Vec<_>>();
        // A key whose self-signatures carry no flags at all is taken as able to sign.
        flags.is_empty() || flags.iter().any(|f| f.sign())
    }

    /// Signs `release`; `date` is the Release's `Date` as Unix seconds.
    pub fn sign(&self, release: &str, date: Option<u64>) -> Result<SignedRelease, SigningError> {
        if self.primary_can_sign() {
            return self.sign_with(&self.key.primary_key, release, date);
        }
        let subkey = self
            .key
            .secret_subkeys
            .iter()
            .find(|s| s.signatures.iter().any(|sig| sig.key_flags().sign()))
            .ok_or_else(|| SigningError::NoSigningKey {
                path: self.origin.clone(),
            })?;
        self.sign_with(&subkey.key, release, date)
    }

    fn sign_with<K: SigningKey + KeyDetails>(
        &self,
        key: &K,
        release: &str,
        date: Option<u64>,
    ) -> Result<SignedRelease, SigningError> {
        let error = |e: pgp::errors::Error| SigningError::Sign {
            path: self.origin.clone(),
            message: super::signature::plain_message(&e),
        };
        let key_created = key.created_at().as_secs();
        let created = date
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(key_created)
            .max(key_created);
        let config = |typ: SignatureType| -> Result<SignatureConfig, SigningError> {
            let mut config = match key.version() {
                KeyVersion::V6 => {
                    // v6 signatures carry a salt; derive it from what is signed so the bytes
                    // stay reproducible and still differ between Releases.
                    let salt =
                        Sha256::digest([release.as_bytes(), key.fingerprint().as_bytes()].concat())
                            [..16]
                            .to_vec();
                    SignatureConfig::v6_with_salt(typ, key.algorithm(), HashAlgorithm::Sha256, salt)
                }
                _ => SignatureConfig::v4(typ, key.algorithm(), HashAlgorithm::Sha256),
            };
            config.hashed_subpackets = vec![
                Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                    created,
                )))
                .map_err(error)?,
                Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint()))
                    .map_err(error)?,
            ];
            if key.version() <= KeyVersion::V4 {
                config.unhashed_subpackets = vec![
                    Subpacket::regular(SubpacketData::IssuerKeyId(key.legacy_key_id()))
                        .map_err(error)?,
                ];
            }
            Ok(config)
        };
        let in_release =
            CleartextSignedMessage::new(release, config(SignatureType::Text)?, key, &self.password)
                .map_err(error)?
                .to_armored_string(ArmorOptions::default())
                .map_err(error)?;
        let detached = config(SignatureType::Binary)?
            .sign(key, &self.password, release.as_bytes())
            .map_err(error)?;
        let release_gpg = DetachedSignature::new(detached)
            .to_armored_string(ArmorOptions::default())
            .map_err(error)?;
        Ok(SignedRelease {
            in_release,
            release_gpg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::signature::Keyring;
    use crate::debian::signature::tests::{public_armour, test_key};

    fn write_key(dir: &Path, key: &SignedSecretKey) -> std::path::PathBuf {
        let path = dir.join("repo-signing.asc");
        std::fs::write(
            &path,
            key.to_armored_string(ArmorOptions::default()).unwrap(),
        )
        .unwrap();
        path
    }

    const RELEASE: &str =
        "Origin: airlock\nDate: Sat, 10 Aug 2024 09:12:34 UTC\nSHA256:\n 00 1 Packages\n";

    #[test]
    fn signs_both_forms_reproducibly_and_they_verify() {
        let dir = tempfile::tempdir().unwrap();
        let key = test_key(21, "repo");
        let signer = RepositorySigner::load(&write_key(dir.path(), &key), None).unwrap();
        let date = crate::dates::parse_rfc2822("Sat, 10 Aug 2024 09:12:34 UTC")
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let signed = signer.sign(RELEASE, Some(date)).unwrap();
        assert_eq!(
            signed,
            signer.sign(RELEASE, Some(date)).unwrap(),
            "deterministic"
        );
        let keyring = Keyring::from_bytes(signer.public_armour().as_bytes(), "pub.asc").unwrap();
        assert_eq!(
            keyring
                .verify_clearsigned(
                    &signed.in_release,
                    "InRelease",
                    std::time::SystemTime::now()
                )
                .unwrap(),
            RELEASE
        );
        keyring
            .verify_detached(
                RELEASE.as_bytes(),
                &signed.release_gpg,
                "Release.gpg",
                std::time::SystemTime::now(),
            )
            .unwrap();
        assert!(
            keyring
                .verify_detached(
                    b"Origin: other\n",
                    &signed.release_gpg,
                    "Release.gpg",
                    std::time::SystemTime::now()
                )
                .is_err()
        );
        assert_eq!(signer.public_armour(), public_armour(&key));
        // verify reads the public half from the secret key file or from a public key file.
        let key_file = dir.path().join("repo-signing.asc");
        assert_eq!(public_armour_of(&key_file).unwrap(), public_armour(&key));
        let public_file = dir.path().join("repo-public.asc");
        std::fs::write(&public_file, public_armour(&key)).unwrap();
        assert_eq!(public_armour_of(&public_file).unwrap(), public_armour(&key));
        assert_eq!(signer.fingerprint().len(), 40);
    }

    #[test]
    fn a_public_key_or_garbage_is_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pub.asc");
        std::fs::write(&path, public_armour(&test_key(22, "repo"))).unwrap();
        let error = RepositorySigner::load(&path, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(&format!("{}: not an OpenPGP secret key", path.display())),
            "{error}"
        );
        let missing = RepositorySigner::load(&dir.path().join("nope.asc"), None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            missing.contains("nope.asc: cannot read the signing key"),
            "{missing}"
        );
    }
}
