//! Debian package versions and their ordering (Debian Policy §5.6.12).
//!
//! `[epoch:]upstream_version[-debian_revision]`: epochs compare as integers; the other parts
//! compare alternately as non-digit runs (letters sort before non-letters, and `~` before
//! anything, even the end of the string) and digit runs (as integers).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    #[error("`{0}` is not a Debian version: {1}")]
    Invalid(String, &'static str),
}

/// A version, kept as one string: an index holds 60k of them, and two strings each (upstream
/// and revision) cost a quarter of the packages' memory.
#[derive(Debug, Clone, Eq)]
pub struct DebVersion {
    epoch: u64,
    /// `upstream[-revision]` as written (without the epoch).
    text: Box<str>,
    /// Where the upstream version ends in `text` (the revision starts one byte later).
    upstream_end: u32,
}

impl DebVersion {
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn upstream(&self) -> &str {
        &self.text[..self.upstream_end as usize]
    }

    /// Empty when the version has no `-revision`.
    pub fn revision(&self) -> &str {
        self.text
            .get(self.upstream_end as usize + 1..)
            .unwrap_or_default()
    }
}

impl FromStr for DebVersion {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |why| VersionError::Invalid(text.to_string(), why);
        let text_trimmed = text.trim();
        if text_trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        let (epoch, rest) = match text_trimmed.split_once(':') {
            Some((epoch, rest)) => (
                epoch
                    .parse::<u64>()
                    .map_err(|_| invalid("the epoch is not a number"))?,
                rest,
            ),
            None => (0, text_trimmed),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((upstream, revision)) => (upstream, revision),
            None => (rest, ""),
        };
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(invalid("the upstream version must start with a digit"));
        }
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-' | ':');
        if !upstream.chars().all(allowed)
            || !revision
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~'))
        {
            return Err(invalid("it contains a character Policy does not allow"));
        }
        let upstream_end =
            u32::try_from(upstream.len()).map_err(|_| invalid("it is longer than 4 GiB"))?;
        Ok(DebVersion {
            epoch,
            text: rest.into(),
            upstream_end,
        })
    }
}

impl fmt::Display for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch > 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.text)
    }
}

/// The sort weight of one character in a non-digit run: `~` lowest, then the end of the run,
/// then letters, then everything else (by ASCII value).
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit runs, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let left = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let right = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            let order = weight(left).cmp(&weight(right));
            if order != Ordering::Equal {
                return order;
            }
            if left.is_some() {
                i += 1;
            }
            if right.is_some() {
                j += 1;
            }
        }
        // Digit runs, as numbers (leading zeros ignored).
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let start_i = i;
        let start_j = j;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (digits_a, digits_b) = (&a[start_i..i], &b[start_j..j]);
        let order = digits_a
            .len()
            .cmp(&digits_b.len())
            .then_with(|| digits_a.cmp(digits_b));
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream(), other.upstream()))
            .then_with(|| compare_part(self.revision(), other.revision()))
    }
}

impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DebVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> DebVersion {
        text.parse().unwrap()
    }

    #[test]
    fn policy_ordering_table() {
        // Each row: a < b.
        let ascending = [
            ("1.0~rc1", "1.0"),
            ("1.0~~", "1.0~"),
            ("1.0~~a", "1.0~"),
            ("1.0~", "1.0"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("1.0", "1.0.1"),
            ("1.0-1", "1.0-2"),
            ("1.0-2", "1.0-10"),
            ("2.30", "2.36"),
            ("2.9", "2.10"),
            ("1:0.1", "2:0.0"),
            ("0:9.9", "1:0.1"),
            ("7.4.052-1", "1:7.4.052-1"),
            ("1.2.3+dfsg-1", "1.2.3+dfsg1-1"),
            ("2.36-9+deb12u3", "2.36-9+deb12u4"),
            ("2.36-9+deb12u9", "2.36-9+deb12u10"),
            ("1.0+b1", "1.0.1"),
            ("3.0~bpo12+1", "3.0"),
            ("1a", "1b"),
            ("1Z", "1a"),
        ];
        for (a, b) in ascending {
            assert!(v(a) < v(b), "{a} < {b}");
            assert!(v(b) > v(a), "{b} > {a}");
        }
        for (a, b) in [
            ("1.0", "1.00"),
            ("0:1.0", "1.0"),
            ("1.0-0001", "1.0-1"),
            ("1.01", "1.1"),
            ("1.0", "1.0-0"),
        ] {
            assert_eq!(v(a), v(b), "{a} == {b}");
        }
    }

    /// Our ordering against the system's own dpkg, where there is one.
    #[test]
    fn agrees_with_dpkg_compare_versions() {
        let versions = [
            "1.0",
            "1.0-0",
            "1.0-1",
            "1.0~rc1",
            "1.0~~",
            "1.0a",
            "1.0+",
            "1.0.1",
            "1:0.9",
            "0:1.0",
            "1.0+b1",
            "2.36-9+deb12u4",
            "2.36-9+deb12u10",
            "1.2.3+dfsg-1",
            "1.2.3+dfsg1-1",
            "10.0",
            "9.99~bpo1",
            "1Z",
            "1a",
            "1.0-1~bpo12+1",
            "1.0-1+b2",
            "0.0",
        ];
        if std::process::Command::new("dpkg")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: no dpkg here");
            return;
        }
        for a in versions {
            for b in versions {
                let dpkg_lt = std::process::Command::new("dpkg")
                    .args(["--compare-versions", a, "lt", b])
                    .status()
                    .unwrap()
                    .success();
                assert_eq!(v(a) < v(b), dpkg_lt, "{a} < {b}");
            }
        }
    }

    #[test]
    fn parses_and_rejects() {
        let version = v("1:2.36-9+deb12u4");
        assert_eq!(
            (version.epoch(), version.upstream(), version.revision()),
            (1, "2.36", "9+deb12u4")
        );
        assert_eq!(version.to_string(), "1:2.36-9+deb12u4");
        assert_eq!(
            v("1.2-3-4").upstream(),
            "1.2-3",
            "the last hyphen starts the revision"
        );
        for bad in ["", "a1.0", "x:1.0", "1.0_2", "1.0 2"] {
            assert!(bad.parse::<DebVersion>().is_err(), "{bad:?}");
        }
    }
}
