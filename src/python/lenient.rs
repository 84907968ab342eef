//! Repairs for the malformed version specifiers that real indexes and old metadata carry.
//!
//! PEP 440 and PEP 508 are strict, but releases published years ago are immutable, and many
//! say `>=2.7.*`, `>=7.2.0<8.0.0` or `>= '2.7'`. uv repairs a fixed list of such mistakes before
//! giving up (and pip's `packaging` accepted most of them until version 22); airlock applies
//! the same list, in the same order, so that it reads the same releases as uv and pins what uv
//! pins. What no repair fixes stays an error for the caller to report.

use std::borrow::Cow;
use std::str::FromStr;

use pep440_rs::VersionSpecifiers;
use pep508_rs::Requirement;

/// The repairs, in the order they are tried; each one applies to the previous one's output.
const REPAIRS: [fn(&str) -> Option<String>; 8] = [
    insert_missing_comma,
    not_equal_tilde,
    star_after_comparison,
    insert_missing_dot,
    trailing_comma,
    greater_than_dev,
    trailing_zero_after_pre,
    stray_quotes,
];

/// Parses `text`, and when it is invalid, tries the repairs one after another: the first
/// repaired text that parses is the answer, with the text it was read as. The original error
/// is returned when nothing helps.
fn parse_repaired<T: FromStr>(text: &str) -> Result<(T, Option<String>), T::Err> {
    let error = match T::from_str(text) {
        Ok(value) => return Ok((value, None)),
        Err(error) => error,
    };
    let mut current = text.to_string();
    for repair in REPAIRS {
        if let Some(repaired) = repair(&current) {
            if let Ok(value) = T::from_str(&repaired) {
                return Ok((value, Some(repaired)));
            }
            current = repaired;
        }
    }
    Err(error)
}

/// A `requires-python` or other specifier set, repaired as uv repairs it. The second value is
/// the repaired text when a repair was needed.
pub fn version_specifiers(
    text: &str,
) -> Result<(VersionSpecifiers, Option<String>), pep440_rs::VersionSpecifiersParseError> {
    parse_repaired(text)
}

/// A `Requires-Dist` value, repaired as uv repairs it.
pub fn requirement(
    text: &str,
) -> Result<(Requirement, Option<String>), Box<pep508_rs::Pep508Error>> {
    parse_repaired::<Requirement>(text).map_err(Box::new)
}

fn changed(original: &str, repaired: String) -> Option<String> {
    (repaired != original).then_some(repaired)
}

fn is_operator_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '~' | '^' | '!')
}

/// `>=7.2.0<8.0.0` → `>=7.2.0,<8.0.0`: a digit directly followed by an operator.
fn insert_missing_comma(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 2);
    let mut previous = None;
    for c in text.chars() {
        if previous.is_some_and(|p: char| p.is_ascii_digit()) && is_operator_char(c) {
            out.push(',');
        }
        out.push(c);
        previous = Some(c);
    }
    changed(text, out)
}

/// `!=~5.0` → `!=5.0.*`.
fn not_equal_tilde(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 2);
    let mut rest = text;
    while let Some(at) = rest.find("!=~") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let version_len = dotted_number_len(after);
        // The pattern needs the version to end in a digit: `5`, `5.0`, `1.2.3`.
        if version_len == 0 {
            out.push_str("!=~");
            rest = after;
            continue;
        }
        out.push_str("!=");
        out.push_str(&after[..version_len]);
        out.push_str(".*");
        rest = &after[version_len..];
    }
    out.push_str(rest);
    changed(text, out)
}

/// The length of a leading `digits(.digits)*` in `text` (0 when it starts otherwise).
fn dotted_number_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut end = 0;
    let mut index = 0;
    loop {
        let start = index;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            index += 1;
        }
        if index == start {
            return end;
        }
        end = index;
        if index < bytes.len() && bytes[index] == b'.' {
            index += 1;
        } else {
            return end;
        }
    }
}

/// `>=1.9.*` → `>=1.9` and `<3.4.*` → `<3.4`: a wildcard only `==` and `!=` may carry.
fn star_after_comparison(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let Some(at) = rest.find(['<', '>']) else {
            out.push_str(rest);
            break;
        };
        let operator_len = if rest[at + 1..].starts_with('=') {
            2
        } else {
            1
        };
        out.push_str(&rest[..at + operator_len]);
        let after = &rest[at + operator_len..];
        let version_len = dotted_number_len(after);
        out.push_str(&after[..version_len]);
        rest = &after[version_len..];
        if version_len > 0 && rest.starts_with(".*") {
            rest = &rest[2..];
        }
    }
    changed(text, out)
}

/// `!=3.0*` → `!=3.0.*`: a digit, a dot and a digit directly before the star.
fn insert_missing_dot(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 2);
    for (index, &c) in chars.iter().enumerate() {
        if c == '*'
            && index >= 3
            && chars[index - 1].is_ascii_digit()
            && chars[index - 2] == '.'
            && chars[index - 3].is_ascii_digit()
        {
            out.push('.');
        }
        out.push(c);
    }
    changed(text, out)
}

/// `>=3.6,` → `>=3.6`.
fn trailing_comma(text: &str) -> Option<String> {
    let trimmed = text.trim_end();
    let without = trimmed.strip_suffix(',')?;
    Some(without.to_string())
}

/// `>dev` → `>0.0.0dev`.
fn greater_than_dev(text: &str) -> Option<String> {
    changed(text, text.replace(">dev", ">0.0.0dev"))
}

/// `>=9.0.0a1.0` → `>=9.0.0a1`: a `.0` after a pre-, post- or dev-release number.
fn trailing_zero_after_pre(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for marker in ["rc", "post", "dev", "a", "b"] {
            if let Some(after) = rest.strip_prefix(marker)
                && out.ends_with(|c: char| c.is_ascii_digit())
            {
                let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                if digits > 0 && after[digits..].starts_with(".0") {
                    let tail = &after[digits + 2..];
                    // `.0` and not the start of `.01` or `.0.1`'s longer number.
                    if !tail.starts_with(|c: char| c.is_ascii_digit()) {
                        out.push_str(marker);
                        out.push_str(&after[..digits]);
                        rest = tail;
                        continue 'scan;
                    }
                }
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    changed(text, out)
}

/// `>= '2.7'` → `>= 2.7`: quotes before any marker (a marker's quotes are its own).
fn stray_quotes(text: &str) -> Option<String> {
    let (head, markers) = match text.find(';') {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let cleaned: Cow<'_, str> = if head.contains(['\'', '"']) {
        Cow::Owned(head.replace(['\'', '"'], ""))
    } else {
        Cow::Borrowed(head)
    };
    changed(text, format!("{cleaned}{markers}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(text: &str) -> VersionSpecifiers {
        let (specifiers, repair) =
            version_specifiers(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(repair.is_some(), "{text} needed a repair");
        specifiers
    }

    #[test]
    fn repairs_what_real_indexes_publish() {
        let cases = [
            (">=7.2.0<8.0.0", ">=7.2.0, <8.0.0"),
            ("!=~5.0,>=4.12", "!=5.0.*, >=4.12"),
            ("!=~5,>=4.12", "!=5.*, >=4.12"),
            (">=1.9.*", ">=1.9"),
            (">=1.*", ">=1"),
            (
                ">=2.7,!=3.0*,!=3.1*,!=3.2*",
                ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*",
            ),
            (">=3.6,", ">=3.6"),
            (">=3.6, ", ">=3.6"),
            (">= '2.7'", ">=2.7"),
            (">=\"3.6\"", ">=3.6"),
            (
                ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*,",
                ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*",
            ),
            (
                ">=2.7,!=3.0.*,!=3.1.*,<3.4.*",
                ">=2.7, !=3.0.*, !=3.1.*, <3.4",
            ),
            (
                ">=2.7, !=3.0.*, !=3.1.*', !=3.2.*, !=3.3.*'",
                ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*",
            ),
            (">=3.6'", ">=3.6"),
            (">dev", ">0.0.0.dev0"),
            (">=9.0.0a1.0", ">=9.0.0a1"),
            (">=9.0a1.0", ">=9.0a1"),
            (">=9a1.0", ">=9a1"),
        ];
        for (text, expected) in cases {
            let expected = VersionSpecifiers::from_str(expected).unwrap();
            assert_eq!(repaired(text), expected, "{text}");
        }
    }

    #[test]
    fn valid_text_is_not_touched_and_hopeless_text_keeps_its_error() {
        let (specifiers, repair) = version_specifiers(">=3.8,<4").unwrap();
        assert_eq!(specifiers.to_string(), ">=3.8, <4");
        assert_eq!(repair, None);
        assert!(version_specifiers(">=three").is_err());
        assert!(version_specifiers("~~~").is_err());
    }

    #[test]
    fn requirements_keep_their_marker_quotes() {
        let parse = |text: &str| Requirement::from_str(text).unwrap();
        let (read, repair) = requirement("imapclient (>=2.3.0<3)").unwrap();
        assert_eq!(read, parse("imapclient>=2.3.0,<3"));
        assert!(repair.is_some());
        let (read, _) = requirement("numpy \">=1.19\"; python_version >= \"3.7\"").unwrap();
        assert_eq!(read, parse("numpy>=1.19; python_version >= '3.7'"));
        let (read, _) = requirement("botocore>=1.3.0,<1.4.0',").unwrap();
        assert_eq!(read, parse("botocore>=1.3.0,<1.4.0"));
    }
}
