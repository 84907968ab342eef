//! OpenPGP verification of `InRelease` (clearsigned) and `Release` + `Release.gpg` (detached),
//! in-process with rpgp (no gpg subprocess), against the keyring a source names (`Signed-By`)
//! or the distribution's archive keyrings.
//!
//! The Release is parsed from the text the signature covers, as rpgp normalised it, never from
//! a separately extracted copy: two parsers disagreeing about the signed text is a classic way
//! to smuggle unsigned content past a check.

use std::io::Cursor;

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey};

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("{origin}: cannot read the keyring: {message}")]
    Keyring { origin: String, message: String },
    #[error("{origin}: the keyring holds no public keys")]
    EmptyKeyring { origin: String },
    #[error("{origin}: not a readable OpenPGP signed message: {message}")]
    Unreadable { origin: String, message: String },
    #[error(
        "{origin}: the signature does not verify against {keyring} ({keys} key(s)); the file was altered or signed by another key"
    )]
    BadSignature {
        origin: String,
        keyring: String,
        keys: usize,
    },
}

/// Public keys that may sign a repository.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    origin: String,
}

impl Keyring {
    /// Reads a binary (`.gpg`) or ASCII-armoured (`.asc`) keyring.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, SignatureError> {
        let error = |message: String| SignatureError::Keyring {
            origin: origin.to_string(),
            message,
        };
        let armoured = bytes
            .windows(b"-----BEGIN PGP PUBLIC KEY BLOCK".len())
            .any(|w| w == b"-----BEGIN PGP PUBLIC KEY BLOCK");
        let keys: Vec<SignedPublicKey> = if armoured {
            SignedPublicKey::from_armor_many(Cursor::new(bytes.to_vec()))
                .map_err(|e| error(e.to_string()))?
                .0
                .filter_map(Result::ok)
                .collect()
        } else {
            SignedPublicKey::from_bytes_many(Cursor::new(bytes.to_vec()))
                .map_err(|e| error(e.to_string()))?
                .filter_map(Result::ok)
                .collect()
        };
        if keys.is_empty() {
            return Err(SignatureError::EmptyKeyring {
                origin: origin.to_string(),
            });
        }
        Ok(Keyring {
            keys,
            origin: origin.to_string(),
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn bad(&self, origin: &str) -> SignatureError {
        SignatureError::BadSignature {
            origin: origin.to_string(),
            keyring: self.origin.clone(),
            keys: self.keys.len(),
        }
    }

    /// Verifies a clearsigned `InRelease` and returns the signed text (line endings as LF).
    pub fn verify_clearsigned(&self, text: &str, origin: &str) -> Result<String, SignatureError> {
        let (message, _) =
            CleartextSignedMessage::from_string(text).map_err(|e| SignatureError::Unreadable {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        let verified = self.keys.iter().any(|key| {
            message.verify(key).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|subkey| message.verify(subkey).is_ok())
        });
        if !verified {
            return Err(self.bad(origin));
        }
        Ok(message.signed_text().replace("\r\n", "\n"))
    }

    /// Verifies a detached armoured signature (`Release.gpg`) over `data`.
    pub fn verify_detached(
        &self,
        data: &[u8],
        signature: &str,
        origin: &str,
    ) -> Result<(), SignatureError> {
        let (signature, _) =
            DetachedSignature::from_string(signature).map_err(|e| SignatureError::Unreadable {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        let verified = self.keys.iter().any(|key| {
            signature.verify(key, data).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|subkey| signature.verify(subkey, data).is_ok())
        });
        if verified {
            Ok(())
        } else {
            Err(self.bad(origin))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pgp::composed::{KeyType, SecretKeyParamsBuilder, SignedSecretKey};
    use pgp::ser::Serialize;
    use pgp::types::Password;
    use rand::SeedableRng;

    /// A signing key generated for tests (deterministic, from a seed).
    pub(crate) fn test_key(seed: u64, name: &str) -> SignedSecretKey {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut params = SecretKeyParamsBuilder::default();
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(name.into());
        params.build().unwrap().generate(&mut rng).unwrap()
    }

    pub(crate) fn clearsign(key: &SignedSecretKey, text: &str) -> String {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        CleartextSignedMessage::sign(&mut rng, text, &**key, &Password::empty())
            .unwrap()
            .to_armored_string(Default::default())
            .unwrap()
    }

    pub(crate) fn public_armour(key: &SignedSecretKey) -> String {
        key.to_public_key()
            .to_armored_string(Default::default())
            .unwrap()
    }

    const RELEASE: &str = "Origin: Test\nSuite: stable\nSHA256:\n 00 1 main/Packages\n";

    #[test]
    fn verifies_inrelease_and_returns_the_signed_text() {
        let key = test_key(1, "archive");
        let keyring = Keyring::from_bytes(public_armour(&key).as_bytes(), "test.asc").unwrap();
        let signed = clearsign(&key, RELEASE);
        assert_eq!(
            keyring.verify_clearsigned(&signed, "InRelease").unwrap(),
            RELEASE
        );
        let binary = key.to_public_key().to_bytes().unwrap();
        let binary_keyring = Keyring::from_bytes(&binary, "test.gpg").unwrap();
        assert_eq!(binary_keyring.len(), 1);
        assert!(
            binary_keyring
                .verify_clearsigned(&signed, "InRelease")
                .is_ok()
        );
    }

    #[test]
    fn verifies_detached_release_signatures() {
        let key = test_key(3, "archive");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let signature = pgp::composed::DetachedSignature::sign_binary_data(
            &mut rng,
            &*key,
            &Password::empty(),
            pgp::crypto::hash::HashAlgorithm::Sha256,
            RELEASE.as_bytes(),
        )
        .unwrap()
        .to_armored_string(Default::default())
        .unwrap();
        let keyring = Keyring::from_bytes(public_armour(&key).as_bytes(), "k.asc").unwrap();
        keyring
            .verify_detached(RELEASE.as_bytes(), &signature, "Release.gpg")
            .unwrap();
        let error = keyring
            .verify_detached(b"Origin: Evil\n", &signature, "Release.gpg")
            .unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_tampered_text_or_another_key_fails() {
        let key = test_key(1, "archive");
        let stranger = test_key(2, "stranger");
        let signed = clearsign(&key, RELEASE);
        let tampered = signed.replace("main/Packages", "main/Evil");
        let keyring = Keyring::from_bytes(public_armour(&key).as_bytes(), "test.asc").unwrap();
        let error = keyring
            .verify_clearsigned(&tampered, "InRelease")
            .unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
        let wrong = Keyring::from_bytes(public_armour(&stranger).as_bytes(), "other.asc").unwrap();
        let error = wrong
            .verify_clearsigned(&signed, "InRelease")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "InRelease: the signature does not verify against other.asc (1 key(s)); the file was altered or signed by another key"
        );
        assert!(matches!(
            Keyring::from_bytes(b"garbage", "k"),
            Err(SignatureError::EmptyKeyring { .. } | SignatureError::Keyring { .. })
        ));
    }
}
