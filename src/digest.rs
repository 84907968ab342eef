//! Validated digests and file names. A value read from a lock, an index page, a `Packages`
//! stanza or a Release becomes one of these where it is read (at the serde boundary for the
//! locks), so the code that builds cache paths, partial-file names and wheelhouse paths never
//! holds an unchecked string: a lock may come from anywhere.

use std::fmt;
use std::ops::Deref;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A SHA-256 digest as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

/// A digest that is not 64 hex digits, or a name that is not a plain file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("`{0}` is not a sha256 digest (64 hex digits)")]
    Sha256(String),
    #[error(
        "`{0}` is not a plain file name (it is empty, hidden, or has a directory part or a NUL)"
    )]
    FileName(String),
}

impl Sha256Hex {
    /// Accepts 64 hex digits in either case; stores them lowercase.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Sha256Hex(text.to_ascii_lowercase()))
        } else {
            Err(InvalidValue::Sha256(text.to_string()))
        }
    }

    /// The digest of bytes just hashed.
    pub fn from_digest(digest: &[u8]) -> Self {
        debug_assert_eq!(digest.len(), 32);
        Sha256Hex(hex::encode(digest))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self::from_digest(&sha2::Sha256::digest(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first two digits, which name a cache shard; always present.
    pub fn shard(&self) -> &str {
        &self.0[..2]
    }
}

/// A file name with no directory part: not empty, not hidden (so never `.` or `..`), no `/`,
/// `\` or NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SafeFileName(String);

impl SafeFileName {
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && !name.contains(['/', '\\', '\0'])
            && Path::new(name).file_name().is_some_and(|n| n == name);
        if plain {
            Ok(SafeFileName(name.to_string()))
        } else {
            Err(InvalidValue::FileName(name.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype {
    ($type:ident) => {
        impl TryFrom<String> for $type {
            type Error = InvalidValue;
            fn try_from(text: String) -> Result<Self, InvalidValue> {
                $type::parse(&text)
            }
        }

        impl std::str::FromStr for $type {
            type Err = InvalidValue;
            fn from_str(text: &str) -> Result<Self, InvalidValue> {
                $type::parse(text)
            }
        }

        impl From<$type> for String {
            fn from(value: $type) -> String {
                value.0
            }
        }

        impl Deref for $type {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $type {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $type {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $type {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $type {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $type {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

string_newtype!(Sha256Hex);
string_newtype!(SafeFileName);

impl AsRef<Path> for SafeFileName {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_64_hex_digits_stored_lowercase() {
        let upper = "AB".repeat(32);
        assert_eq!(Sha256Hex::parse(&upper).unwrap().as_str(), "ab".repeat(32));
        assert_eq!(Sha256Hex::of(b"").shard(), "e3");
        for bad in [
            "",
            "a",
            &"g".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
            "../../etc",
        ] {
            assert!(Sha256Hex::parse(bad).is_err(), "{bad:?}");
        }
        // A multi-byte character of the right byte length is not hex either.
        assert!(Sha256Hex::parse(&format!("{}é", "a".repeat(62))).is_err());
    }

    #[test]
    fn file_names_are_plain() {
        for good in [
            "six-1.16.0-py2.py3-none-any.whl",
            "curl_7.88.1-10_amd64.deb",
            "a..b",
        ] {
            assert!(SafeFileName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "/etc/passwd",
            "a\\b",
            "a\0b",
            "dir/",
        ] {
            assert!(SafeFileName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn locks_refuse_bad_values_where_they_are_read() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Entry {
            name: SafeFileName,
            sha256: Sha256Hex,
        }
        let good: Entry = toml::from_str(&format!(
            "name = \"x.whl\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        ))
        .unwrap();
        assert_eq!(good.name, "x.whl");
        let error = toml::from_str::<Entry>("name = \"x.whl\"\nsha256 = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("`a` is not a sha256 digest"), "{error}");
        let error = toml::from_str::<Entry>(&format!(
            "name = \"../x.whl\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("`../x.whl` is not a plain file name"),
            "{error}"
        );
    }
}
