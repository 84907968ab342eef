//! OpenPGP verification of `InRelease` (clearsigned) and `Release` + `Release.gpg` (detached),
//! in-process with rpgp (no gpg subprocess), against the keyring a source names (`Signed-By`)
//! or the distribution's archive keyrings.
//!
//! The Release is parsed from the text the signature covers, as rpgp normalised it, never from
//! a separately extracted copy: two parsers disagreeing about the signed text is a classic way
//! to smuggle unsigned content past a check.

use std::io::Cursor;
use std::time::SystemTime;

use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag};

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("{origin}: cannot read the keyring: {message}")]
    Keyring { origin: String, message: String },
    #[error("{origin}: the keyring holds no public key airlock can use{why}")]
    EmptyKeyring { origin: String, why: String },
    #[error("{origin}: not a readable OpenPGP signed message: {message}")]
    Unreadable { origin: String, message: String },
    #[error(
        "{origin}: the signature does not verify against {keyring} ({keys} key(s)); the file was altered or signed by another key (signed by {signers}; the keyring holds {fingerprints})"
    )]
    BadSignature {
        origin: String,
        keyring: String,
        keys: usize,
        /// Who the signatures say made them (issuer fingerprints or key IDs).
        signers: String,
        /// The fingerprints of the keys tried.
        fingerprints: String,
    },
    #[error("{origin}: the signature by {fingerprint} is refused: {reason}")]
    Refused {
        origin: String,
        fingerprint: String,
        reason: String,
    },
}

/// Public keys that may sign a repository.
///
/// A signature counts only when it verifies *and* passes the policy apt and gpgv apply: a
/// digest stronger than SHA-1, a signing key (primary or subkey) that is validly bound by a
/// self-signature, allowed to sign, not revoked, created before the signature and not expired,
/// neither when the signature was made nor now. A message with several signatures (Debian
/// signs with the current and the previous release key) needs one that counts.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    origin: String,
}

/// An OpenPGP library error as a sentence: its text can end in the parser's internal state
/// (`Error(Error { input: [122, 45, …], code: Tag })`), which says nothing to a user and
/// floods the terminal; that part is cut.
pub fn plain_message(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let cut = ["Error(Error {", "Error {", "input: ["]
        .iter()
        .filter_map(|marker| text.find(marker))
        .min();
    match cut {
        Some(at) => {
            let kept = text[..at].trim_end().trim_end_matches(':').trim_end();
            if kept.is_empty() {
                "the data is malformed".to_string()
            } else {
                format!("{kept} (malformed data)")
            }
        }
        None => text,
    }
}

/// Digests apt (and gpg's default policy) no longer accept for data signatures.
fn weak_digest(algorithm: HashAlgorithm) -> Option<&'static str> {
    match algorithm {
        HashAlgorithm::Md5 => Some("MD5"),
        HashAlgorithm::Sha1 => Some("SHA-1"),
        HashAlgorithm::Ripemd160 => Some("RIPEMD-160"),
        _ => None,
    }
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn date(secs: u64) -> String {
    crate::dates::format_rfc2822(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

fn created(signature: &Signature) -> Option<u64> {
    signature.created().map(|t| u64::from(t.as_secs()))
}

fn has_key_flags(signature: &Signature) -> bool {
    signature.config().is_some_and(|config| {
        config
            .hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

/// When a key bound by `binding` stops being valid (`None`: never), from its creation time.
fn expiry(binding: &Signature, key_created: u64) -> Option<u64> {
    binding
        .key_expiration_time()
        .map(|d| u64::from(d.as_secs()))
        .filter(|&d| d > 0)
        .map(|d| key_created.saturating_add(d))
}

/// Checks that a key made at `key_created`, bound by `binding`, was valid at `at` and still is
/// at `now`, and (when it `signs` itself) that its flags allow signing; `what` names it.
fn check_lifetime(
    what: &str,
    binding: &Signature,
    key_created: u64,
    at: u64,
    now: u64,
    signs: bool,
) -> Result<(), String> {
    if at < key_created {
        return Err(format!(
            "the signature ({}) is older than the {what} ({})",
            date(at),
            date(key_created)
        ));
    }
    if let Some(until) = expiry(binding, key_created) {
        if until <= at {
            return Err(format!(
                "the {what} had expired ({}) when the signature was made ({})",
                date(until),
                date(at)
            ));
        }
        if until <= now {
            return Err(format!(
                "the {what} expired on {}; apt refuses signatures by expired keys (the archive should have a newer key)",
                date(until)
            ));
        }
    }
    if signs && has_key_flags(binding) && !binding.key_flags().sign() {
        return Err(format!("the {what} is not allowed to sign (its key flags)"));
    }
    Ok(())
}

/// The newest of `signatures` that `valid` accepts.
fn newest<'a>(
    signatures: impl Iterator<Item = &'a Signature>,
    valid: impl Fn(&Signature) -> bool,
) -> Option<&'a Signature> {
    signatures
        .filter(|s| valid(s))
        .max_by_key(|s| created(s).unwrap_or(0))
}

/// Why the primary key of `key` cannot vouch for a signature made at `at` (by itself when
/// `signs`, else by one of its subkeys), if it cannot.
fn primary_unusable(key: &SignedPublicKey, at: u64, now: u64, signs: bool) -> Option<String> {
    let primary = &key.primary_key;
    if key
        .details
        .revocation_signatures
        .iter()
        .any(|r| r.verify_key(primary).is_ok())
    {
        return Some("the key is revoked".into());
    }
    let certification = newest(
        key.details.users.iter().flat_map(|user| {
            user.signatures.iter().filter(move |s| {
                s.typ() != Some(SignatureType::CertRevocation)
                    && s.verify_certification(primary, Tag::UserId, &user.id)
                        .is_ok()
            })
        }),
        |_| true,
    );
    let direct = newest(key.details.direct_signatures.iter(), |s| {
        s.verify_key(primary).is_ok()
    });
    let Some(binding) = [certification, direct]
        .into_iter()
        .flatten()
        .max_by_key(|s| created(s).unwrap_or(0))
    else {
        return Some("the key has no valid self-signature (it is bound to no user ID)".into());
    };
    check_lifetime(
        "key",
        binding,
        u64::from(primary.created_at().as_secs()),
        at,
        now,
        signs,
    )
    .err()
}

/// Why `subkey` of `key` cannot vouch for a signature made at `at`, if it cannot.
fn subkey_unusable(
    key: &SignedPublicKey,
    subkey: &SignedPublicSubKey,
    at: u64,
    now: u64,
) -> Option<String> {
    let primary = &key.primary_key;
    if let Some(reason) = primary_unusable(key, at, now, false) {
        return Some(format!("its primary key: {reason}"));
    }
    let revoked = subkey.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(primary, &subkey.key).is_ok()
    });
    if revoked {
        return Some("the subkey is revoked".into());
    }
    let Some(binding) = newest(subkey.signatures.iter(), |s| {
        s.typ() == Some(SignatureType::SubkeyBinding)
            && s.verify_subkey_binding(primary, &subkey.key).is_ok()
    }) else {
        return Some("the subkey is not bound to the primary key by a valid signature".into());
    };
    if !binding.key_flags().sign() {
        return Some("the subkey is not allowed to sign (its binding has no signing flag)".into());
    }
    // A signing subkey must sign the primary back, or anyone could bind someone else's key.
    let back_signed = binding.embedded_signature().is_some_and(|back| {
        back.verify_primary_key_binding(&subkey.key, primary)
            .is_ok()
    });
    if !back_signed {
        return Some("the signing subkey has no valid back-signature (primary key binding)".into());
    }
    check_lifetime(
        "subkey",
        binding,
        u64::from(subkey.key.created_at().as_secs()),
        at,
        now,
        true,
    )
    .err()
}

/// The outcome of checking one signature against the keyring.
enum Outcome {
    /// It counts, made by the key with this fingerprint.
    Good,
    /// It verifies, but the policy refuses it.
    Refused { fingerprint: String, reason: String },
    /// No key of the keyring made it.
    Unknown,
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
        // A keyring may hold keys this reader cannot use (an algorithm it does not know); as
        // with gpgv they are passed over, and said when no key is left.
        let (keys, unreadable): (Vec<_>, Vec<_>) = if armoured {
            SignedPublicKey::from_armor_many(Cursor::new(bytes.to_vec()))
                .map_err(|e| error(plain_message(&e)))?
                .0
                .partition(Result::is_ok)
        } else {
            SignedPublicKey::from_bytes_many(Cursor::new(bytes.to_vec()))
                .map_err(|e| error(plain_message(&e)))?
                .partition(Result::is_ok)
        };
        let keys: Vec<SignedPublicKey> = keys.into_iter().flatten().collect();
        if keys.is_empty() {
            return Err(SignatureError::EmptyKeyring {
                origin: origin.to_string(),
                why: unreadable
                    .into_iter()
                    .find_map(Result::err)
                    .map(|e| format!(" (a key it holds cannot be read: {})", plain_message(&e)))
                    .unwrap_or_default(),
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

    /// The primary fingerprints, for messages.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{:X}", k.primary_key.fingerprint()))
            .collect()
    }

    fn check(&self, signature: &Signature, data: &[u8], now: u64) -> Outcome {
        let refused = |fingerprint: String, reason: String| Outcome::Refused {
            fingerprint,
            reason,
        };
        for key in &self.keys {
            let mut signer: Option<(String, Option<&SignedPublicSubKey>)> = None;
            if signature.verify(&key.primary_key, data).is_ok() {
                signer = Some((format!("{:X}", key.primary_key.fingerprint()), None));
            } else if let Some(subkey) = key
                .public_subkeys
                .iter()
                .find(|sub| signature.verify(&sub.key, data).is_ok())
            {
                signer = Some((format!("{:X}", subkey.key.fingerprint()), Some(subkey)));
            }
            let Some((fingerprint, subkey)) = signer else {
                continue;
            };
            if !matches!(
                signature.typ(),
                Some(SignatureType::Binary | SignatureType::Text)
            ) {
                return refused(fingerprint, "it is not a signature over a document".into());
            }
            if let Some(weak) = signature.hash_alg().and_then(weak_digest) {
                return refused(
                    fingerprint,
                    format!("it uses the {weak} digest, which apt refuses as too weak"),
                );
            }
            let Some(at) = created(signature) else {
                return refused(fingerprint, "it carries no creation time".into());
            };
            if let Some(lifetime) = signature
                .signature_expiration_time()
                .map(|d| u64::from(d.as_secs()))
                .filter(|&d| d > 0)
                && at.saturating_add(lifetime) <= now
            {
                return refused(
                    fingerprint,
                    format!(
                        "the signature itself expired on {}",
                        date(at.saturating_add(lifetime))
                    ),
                );
            }
            let unusable = match subkey {
                None => primary_unusable(key, at, now, true),
                Some(subkey) => subkey_unusable(key, subkey, at, now),
            };
            return match unusable {
                None => Outcome::Good,
                Some(reason) => refused(fingerprint, reason),
            };
        }
        Outcome::Unknown
    }

    /// Accepts `signatures` over `data` when one of them counts; else the most telling error.
    fn accept(
        &self,
        signatures: &[Signature],
        data: &[u8],
        origin: &str,
        now: SystemTime,
    ) -> Result<(), SignatureError> {
        let now = seconds(now);
        let mut refusal = None;
        for signature in signatures {
            match self.check(signature, data, now) {
                Outcome::Good => return Ok(()),
                Outcome::Refused {
                    fingerprint,
                    reason,
                } => {
                    refusal.get_or_insert(SignatureError::Refused {
                        origin: origin.to_string(),
                        fingerprint,
                        reason,
                    });
                }
                Outcome::Unknown => {}
            }
        }
        Err(refusal.unwrap_or_else(|| {
            let mut signers: Vec<String> = signatures
                .iter()
                .flat_map(|s| {
                    let fingerprints: Vec<String> = s
                        .issuer_fingerprint()
                        .iter()
                        .map(|f| format!("{f:X}"))
                        .collect();
                    if fingerprints.is_empty() {
                        s.issuer_key_id()
                            .iter()
                            .map(|id| format!("key ID {}", hex::encode_upper(id)))
                            .collect()
                    } else {
                        fingerprints
                    }
                })
                .collect();
            signers.dedup();
            SignatureError::BadSignature {
                origin: origin.to_string(),
                keyring: self.origin.clone(),
                keys: self.keys.len(),
                signers: if signers.is_empty() {
                    "an unnamed key".into()
                } else {
                    signers.join(", ")
                },
                fingerprints: self.fingerprints().join(", "),
            }
        }))
    }

    /// Verifies a clearsigned `InRelease` at `now` and returns the signed text (line endings
    /// as LF).
    pub fn verify_clearsigned(
        &self,
        text: &str,
        origin: &str,
        now: SystemTime,
    ) -> Result<String, SignatureError> {
        let message = read_clearsigned(text, origin)?;
        // The signed text is hashed with CRLF line endings (RFC 9580 §7.1).
        let signed = message.signed_text();
        self.accept(message.signatures(), signed.as_bytes(), origin, now)?;
        Ok(signed.replace("\r\n", "\n"))
    }

    /// Verifies a detached armoured signature (`Release.gpg`) over `data` at `now`.
    pub fn verify_detached(
        &self,
        data: &[u8],
        signature: &str,
        origin: &str,
        now: SystemTime,
    ) -> Result<(), SignatureError> {
        let unreadable = |message: String| SignatureError::Unreadable {
            origin: origin.to_string(),
            message,
        };
        // Release.gpg may hold several signatures, one after the other.
        let (signatures, _) = DetachedSignature::from_string_many(signature)
            .map_err(|e| unreadable(plain_message(&e)))?;
        let signatures: Vec<Signature> = signatures
            .map(|s| s.map(|s| s.signature))
            .collect::<Result<_, _>>()
            .map_err(|e| unreadable(plain_message(&e)))?;
        if signatures.is_empty() {
            return Err(unreadable("it holds no signature".into()));
        }
        self.accept(&signatures, data, origin, now)
    }
}

fn read_clearsigned(text: &str, origin: &str) -> Result<CleartextSignedMessage, SignatureError> {
    CleartextSignedMessage::from_string(text)
        .map(|(message, _)| message)
        .map_err(|e| SignatureError::Unreadable {
            origin: origin.to_string(),
            message: plain_message(&e),
        })
}

/// The signed text of a clearsigned `InRelease` whose signature is not checked (a
/// `trusted=yes` source), read by the same parser as a verified one so that the two can never
/// disagree about what the text is.
pub fn clearsigned_text(text: &str, origin: &str) -> Result<String, SignatureError> {
    Ok(read_clearsigned(text, origin)?
        .signed_text()
        .replace("\r\n", "\n"))
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
            keyring
                .verify_clearsigned(&signed, "InRelease", SystemTime::now())
                .unwrap(),
            RELEASE
        );
        let binary = key.to_public_key().to_bytes().unwrap();
        let binary_keyring = Keyring::from_bytes(&binary, "test.gpg").unwrap();
        assert_eq!(binary_keyring.len(), 1);
        assert!(
            binary_keyring
                .verify_clearsigned(&signed, "InRelease", SystemTime::now())
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
            .verify_detached(
                RELEASE.as_bytes(),
                &signature,
                "Release.gpg",
                SystemTime::now(),
            )
            .unwrap();
        let error = keyring
            .verify_detached(
                b"Origin: Evil\n",
                &signature,
                "Release.gpg",
                SystemTime::now(),
            )
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
            .verify_clearsigned(&tampered, "InRelease", SystemTime::now())
            .unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
        let wrong = Keyring::from_bytes(public_armour(&stranger).as_bytes(), "other.asc").unwrap();
        let error = wrong
            .verify_clearsigned(&signed, "InRelease", SystemTime::now())
            .unwrap_err()
            .to_string();
        let fingerprint = |k: &SignedSecretKey| format!("{:X}", k.primary_key.fingerprint());
        assert_eq!(
            error,
            format!(
                "InRelease: the signature does not verify against other.asc (1 key(s)); the file was altered or signed by another key (signed by {}; the keyring holds {})",
                fingerprint(&key),
                fingerprint(&stranger)
            ),
            "the error names the signer and the keys tried"
        );
        assert!(matches!(
            Keyring::from_bytes(b"garbage", "k"),
            Err(SignatureError::EmptyKeyring { .. } | SignatureError::Keyring { .. })
        ));
    }

    use pgp::composed::SubkeyParamsBuilder;
    use pgp::packet::{KeyFlags, SignatureConfig, Subpacket};
    use pgp::types::{Duration, SigningKey, Timestamp};

    const DAY: u32 = 86_400;

    /// A certify-only primary key with one subkey (signing when `subkey_signs`), both created
    /// at `created` (Unix seconds).
    fn key_with_subkey(seed: u64, created: u32, subkey_signs: bool) -> SignedSecretKey {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let subkey = SubkeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_sign(subkey_signs)
            .can_authenticate(!subkey_signs)
            .created_at(Timestamp::from_secs(created))
            .build()
            .unwrap();
        SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(false)
            .created_at(Timestamp::from_secs(created))
            .primary_user_id("airlock test archive".into())
            .subkey(subkey)
            .build()
            .unwrap()
            .generate(&mut rng)
            .unwrap()
    }

    /// A detached signature over `data` by `signer`, made at `created` with `hash`.
    fn detached(
        signer: &impl SigningKey,
        hash: HashAlgorithm,
        created: u32,
        data: &[u8],
    ) -> String {
        let mut config = SignatureConfig::v4(SignatureType::Binary, signer.algorithm(), hash);
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                created,
            )))
            .unwrap(),
            Subpacket::regular(SubpacketData::IssuerFingerprint(signer.fingerprint())).unwrap(),
        ];
        let signature = config.sign(signer, &Password::empty(), data).unwrap();
        DetachedSignature { signature }
            .to_armored_string(Default::default())
            .unwrap()
    }

    /// Replaces the subkey's binding by one made at `created` that says `flags` and expires
    /// `expires` seconds after the subkey's creation, keeping (or dropping) its back-signature.
    fn rebind(
        key: &SignedSecretKey,
        public: &mut SignedPublicKey,
        created: u32,
        sign: bool,
        expires: Option<u32>,
        back_signature: bool,
    ) {
        let original = public.public_subkeys[0].signatures[0].clone();
        let mut flags = KeyFlags::default();
        flags.set_sign(sign);
        let mut config = SignatureConfig::v4(
            SignatureType::SubkeyBinding,
            key.primary_key.algorithm(),
            HashAlgorithm::Sha256,
        );
        let mut hashed = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                created,
            )))
            .unwrap(),
            Subpacket::regular(SubpacketData::IssuerFingerprint(
                key.primary_key.fingerprint(),
            ))
            .unwrap(),
            Subpacket::regular(SubpacketData::KeyFlags(flags)).unwrap(),
        ];
        if let Some(seconds) = expires {
            hashed.push(
                Subpacket::regular(SubpacketData::KeyExpirationTime(Duration::from_secs(
                    seconds,
                )))
                .unwrap(),
            );
        }
        if back_signature && let Some(back) = original.embedded_signature() {
            hashed.push(
                Subpacket::regular(SubpacketData::EmbeddedSignature(Box::new(back.clone())))
                    .unwrap(),
            );
        }
        config.hashed_subpackets = hashed;
        let binding = config
            .sign_subkey_binding(
                &key.primary_key,
                key.primary_key.public_key(),
                &Password::empty(),
                &public.public_subkeys[0].key,
            )
            .unwrap();
        public.public_subkeys[0].signatures = vec![binding];
    }

    fn keyring_of(public: &SignedPublicKey) -> Keyring {
        Keyring::from_bytes(
            public
                .to_armored_string(Default::default())
                .unwrap()
                .as_bytes(),
            "archive.asc",
        )
        .unwrap()
    }

    fn at(secs: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(secs))
    }

    /// 2024-01-01, when the test keys are made.
    const MADE: u32 = 1_704_067_200;

    fn refusal(result: Result<(), SignatureError>) -> String {
        match result {
            Err(SignatureError::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_signing_subkey_counts_only_while_validly_bound_signing_and_unexpired() {
        let key = key_with_subkey(21, MADE, true);
        let subkey = &key.secret_subkeys[0].key;
        let signature = detached(
            subkey,
            HashAlgorithm::Sha256,
            MADE + DAY,
            RELEASE.as_bytes(),
        );
        let check = |public: &SignedPublicKey, now: u32| {
            keyring_of(public).verify_detached(
                RELEASE.as_bytes(),
                &signature,
                "Release.gpg",
                at(now),
            )
        };
        let public = key.to_public_key();
        check(&public, MADE + 2 * DAY).expect("a bound signing subkey signs");

        // Expired by now (a year after it was made), though valid when it signed.
        let mut expiring = public.clone();
        rebind(&key, &mut expiring, MADE, true, Some(365 * DAY), true);
        check(&expiring, MADE + 2 * DAY).expect("not expired yet");
        let reason = refusal(check(&expiring, MADE + 400 * DAY));
        assert!(
            reason.starts_with("the subkey expired on Tue, 31 Dec 2024"),
            "{reason}"
        );
        // Expired before the signature was made.
        let mut short = public.clone();
        rebind(&key, &mut short, MADE, true, Some(DAY / 2), true);
        let reason = refusal(check(&short, MADE + 2 * DAY));
        assert!(reason.contains("had expired"), "{reason}");

        // Bound without the signing flag, or without the back-signature, or not at all.
        let mut no_flag = public.clone();
        rebind(&key, &mut no_flag, MADE, false, None, true);
        let reason = refusal(check(&no_flag, MADE + 2 * DAY));
        assert!(reason.contains("not allowed to sign"), "{reason}");
        let mut no_back = public.clone();
        rebind(&key, &mut no_back, MADE, true, None, false);
        let reason = refusal(check(&no_back, MADE + 2 * DAY));
        assert!(reason.contains("back-signature"), "{reason}");
        // A subkey with no binding at all is dropped when the keyring is read.
        let mut unbound = public.clone();
        unbound.public_subkeys[0].signatures.clear();
        let error = check(&unbound, MADE + 2 * DAY).unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
        // A binding signed by another primary key is no binding.
        let mut forged = public.clone();
        let other = key_with_subkey(22, MADE, true);
        forged.public_subkeys[0].signatures =
            other.to_public_key().public_subkeys[0].signatures.clone();
        let reason = refusal(check(&forged, MADE + 2 * DAY));
        assert!(reason.contains("not bound"), "{reason}");

        // A subkey that cannot sign by its flags (an authentication key) is refused even
        // though the signature verifies cryptographically.
        let auth = key_with_subkey(23, MADE, false);
        let signature = detached(
            &auth.secret_subkeys[0].key,
            HashAlgorithm::Sha256,
            MADE + DAY,
            RELEASE.as_bytes(),
        );
        let reason = refusal(keyring_of(&auth.to_public_key()).verify_detached(
            RELEASE.as_bytes(),
            &signature,
            "Release.gpg",
            at(MADE + 2 * DAY),
        ));
        assert!(reason.contains("not allowed to sign"), "{reason}");
    }

    #[test]
    fn weak_digests_revoked_keys_and_signatures_older_than_the_key_are_refused() {
        // RSA, since EdDSA cannot even make a SHA-1 signature; old archive keys are RSA.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
        let key = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Rsa(2048))
            .can_certify(true)
            .can_sign(true)
            .primary_user_id("old archive".into())
            .build()
            .unwrap()
            .generate(&mut rng)
            .unwrap();
        let public = key.to_public_key();
        let now = SystemTime::now();
        let created = u32::try_from(seconds(now)).unwrap();
        for (hash, name) in [(HashAlgorithm::Sha1, "SHA-1"), (HashAlgorithm::Md5, "MD5")] {
            let signature = detached(&key.primary_key, hash, created, RELEASE.as_bytes());
            let error = keyring_of(&public)
                .verify_detached(RELEASE.as_bytes(), &signature, "Release.gpg", now)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("uses the {name} digest, which apt refuses")),
                "{error}"
            );
            assert!(
                error.contains(&format!("{:X}", key.primary_key.fingerprint())),
                "names the key: {error}"
            );
        }
        let good = detached(
            &key.primary_key,
            HashAlgorithm::Sha512,
            created,
            RELEASE.as_bytes(),
        );
        keyring_of(&public)
            .verify_detached(RELEASE.as_bytes(), &good, "Release.gpg", now)
            .expect("SHA-512 is fine");
        // A signature dated before the key existed.
        let early = detached(
            &key.primary_key,
            HashAlgorithm::Sha256,
            1_000,
            RELEASE.as_bytes(),
        );
        let reason = refusal(keyring_of(&public).verify_detached(
            RELEASE.as_bytes(),
            &early,
            "Release.gpg",
            now,
        ));
        assert!(reason.contains("older than the key"), "{reason}");
        // Revoked by its own key.
        let mut revoked = public.clone();
        let mut config = SignatureConfig::v4(
            SignatureType::KeyRevocation,
            key.primary_key.algorithm(),
            HashAlgorithm::Sha256,
        );
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now())).unwrap(),
            Subpacket::regular(SubpacketData::IssuerFingerprint(
                key.primary_key.fingerprint(),
            ))
            .unwrap(),
        ];
        let revocation = config
            .sign_key(
                &key.primary_key,
                &Password::empty(),
                key.primary_key.public_key(),
            )
            .unwrap();
        revoked.details.revocation_signatures.push(revocation);
        let reason = refusal(keyring_of(&revoked).verify_detached(
            RELEASE.as_bytes(),
            &good,
            "Release.gpg",
            now,
        ));
        assert_eq!(reason, "the key is revoked");
    }

    #[test]
    fn one_good_signature_among_several_is_enough_and_trusted_text_uses_the_same_parser() {
        // Debian signs InRelease with two keys; a keyring that has only one of them accepts.
        let (old, new) = (test_key(41, "old"), test_key(42, "new"));
        let signed = CleartextSignedMessage::new_many(RELEASE, |text| {
            [&old, &new]
                .iter()
                .map(|key| {
                    let mut config = SignatureConfig::v4(
                        SignatureType::Text,
                        key.primary_key.algorithm(),
                        HashAlgorithm::Sha256,
                    );
                    config.hashed_subpackets = vec![
                        Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now()))?,
                        Subpacket::regular(SubpacketData::IssuerFingerprint(
                            key.primary_key.fingerprint(),
                        ))?,
                    ];
                    config.sign(&key.primary_key, &Password::empty(), text.as_bytes())
                })
                .collect()
        })
        .unwrap()
        .to_armored_string(Default::default())
        .unwrap();
        let only_new = Keyring::from_bytes(public_armour(&new).as_bytes(), "new.asc").unwrap();
        assert_eq!(
            only_new
                .verify_clearsigned(&signed, "InRelease", SystemTime::now())
                .unwrap(),
            RELEASE
        );
        assert_eq!(clearsigned_text(&signed, "InRelease").unwrap(), RELEASE);
        let error = clearsigned_text("Origin: not signed\n", "InRelease").unwrap_err();
        assert!(
            matches!(error, SignatureError::Unreadable { .. }),
            "{error}"
        );
    }

    #[test]
    fn unreadable_input_is_said_in_words_not_as_the_parser_state() {
        let key = test_key(1, "A <a@example.invalid>");
        let keyring = Keyring::from_bytes(public_armour(&key).as_bytes(), "k.asc").unwrap();
        let broken = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nhello\n-----BEGIN PGP SIGNATURE-----\n\n8bxyz\n-----END PGP SIGNATURE-----\n";
        for error in [
            keyring
                .verify_clearsigned(broken, "InRelease", SystemTime::now())
                .unwrap_err(),
            keyring
                .verify_detached(
                    b"data",
                    "-----BEGIN PGP SIGNATURE-----\n\n8bxyz\n-----END PGP SIGNATURE-----\n",
                    "Release.gpg",
                    SystemTime::now(),
                )
                .unwrap_err(),
        ] {
            let text = error.to_string();
            assert!(
                !text.contains("Error {") && !text.contains("input: ["),
                "{text}"
            );
            assert!(
                text.contains("not a readable OpenPGP signed message"),
                "{text}"
            );
        }
    }
}
