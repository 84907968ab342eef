//! Binary package relationships (Debian Policy §7.1) and `Packages` index stanzas.
//!
//! `Depends: a (>= 1.0) | b:any, c [amd64] <!nocheck>` is an AND of ORs; each relation names a
//! package, optionally an architecture qualifier (`:any`, `:native`, `:amd64`), a version
//! constraint, architecture restrictions and build profiles (the last two only matter for
//! source packages and are kept for completeness). A `Filename:` that is absolute or climbs
//! with `..` is refused: it would let an index write outside the repository.

use std::str::FromStr;

use super::deb822::{self, Stanza};
use super::version::DebVersion;
use crate::digest::Sha256Hex;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackagesError {
    #[error("{context}: invalid relation `{text}`: {why}")]
    Relation {
        context: String,
        text: String,
        why: String,
    },
    #[error("{context}: the `{field}` field is missing")]
    Missing {
        context: String,
        field: &'static str,
    },
    #[error("{context}: `{field}: {value}` is invalid")]
    Invalid {
        context: String,
        field: &'static str,
        value: String,
    },
    #[error(
        "{context}: Filename `{filename}` is absolute or contains `..`; refusing an index that points outside its repository"
    )]
    UnsafeFilename { context: String, filename: String },
    #[error(transparent)]
    Deb822(#[from] deb822::Deb822Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `<<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `=`
    Equal,
    /// `>=`
    GreaterOrEqual,
    /// `>>`
    Greater,
}

impl Operator {
    pub fn allows(self, candidate: &DebVersion, wanted: &DebVersion) -> bool {
        match self {
            Operator::Less => candidate < wanted,
            Operator::LessOrEqual => candidate <= wanted,
            Operator::Equal => candidate == wanted,
            Operator::GreaterOrEqual => candidate >= wanted,
            Operator::Greater => candidate > wanted,
        }
    }
}

/// One alternative of a relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    /// `any`, `native`, or an architecture name.
    pub arch_qualifier: Option<String>,
    pub constraint: Option<(Operator, DebVersion)>,
    pub arch_restrictions: Vec<String>,
}

impl Relation {
    /// Whether `version` meets the relation's constraint (always, without one).
    pub fn allows(&self, version: &DebVersion) -> bool {
        self.constraint
            .as_ref()
            .is_none_or(|(op, wanted)| op.allows(version, wanted))
    }
}

/// `a | b, c` -> [[a, b], [c]].
pub fn parse_relations(text: &str, context: &str) -> Result<Vec<Vec<Relation>>, PackagesError> {
    let mut groups = Vec::new();
    for group in text.split(',') {
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        for alternative in group.split('|') {
            alternatives.push(parse_relation(alternative.trim(), context)?);
        }
        groups.push(alternatives);
    }
    Ok(groups)
}

fn parse_relation(text: &str, context: &str) -> Result<Relation, PackagesError> {
    let error = |why: &str| PackagesError::Relation {
        context: context.to_string(),
        text: text.to_string(),
        why: why.to_string(),
    };
    let name_end = text
        .find(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '<'))
        .unwrap_or(text.len());
    let (name_part, mut rest) = text.split_at(name_end);
    let (name, arch_qualifier) = match name_part.split_once(':') {
        Some((name, arch)) => (name, Some(arch.to_string())),
        None => (name_part, None),
    };
    let valid_name = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if !valid_name {
        return Err(error("not a package name"));
    }
    let mut constraint = None;
    let mut arch_restrictions = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(inner) = rest.strip_prefix('(') {
            let end = inner.find(')').ok_or_else(|| error("unclosed `(`"))?;
            let spec = inner[..end].trim();
            let op_len = spec
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .unwrap_or(spec.len());
            let operator = match &spec[..op_len] {
                "<<" | "<" => Operator::Less,
                "<=" => Operator::LessOrEqual,
                "=" => Operator::Equal,
                ">=" => Operator::GreaterOrEqual,
                ">>" | ">" => Operator::Greater,
                _ => return Err(error("unknown version operator")),
            };
            let version =
                DebVersion::from_str(spec[op_len..].trim()).map_err(|e| error(&e.to_string()))?;
            constraint = Some((operator, version));
            rest = &inner[end + 1..];
        } else if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').ok_or_else(|| error("unclosed `[`"))?;
            arch_restrictions.extend(inner[..end].split_whitespace().map(str::to_string));
            rest = &inner[end + 1..];
        } else if let Some(inner) = rest.strip_prefix('<') {
            // Build profiles: kept out of binary resolution.
            let end = inner.find('>').ok_or_else(|| error("unclosed `<`"))?;
            rest = &inner[end + 1..];
        } else if rest.is_empty() {
            break;
        } else {
            return Err(error("unexpected text after the package name"));
        }
    }
    Ok(Relation {
        name: name.to_string(),
        arch_qualifier,
        constraint,
        arch_restrictions,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
}

/// The `Multi-Arch` field's value; absent or unknown means `no`.
pub fn multi_arch(value: Option<&str>) -> MultiArch {
    match value.map(str::to_ascii_lowercase).as_deref() {
        Some("same") => MultiArch::Same,
        Some("foreign") => MultiArch::Foreign,
        Some("allowed") => MultiArch::Allowed,
        _ => MultiArch::No,
    }
}

/// One stanza of a `Packages` index.
#[derive(Debug, Clone)]
pub struct BinaryPackage {
    pub name: String,
    pub version: DebVersion,
    pub multi_arch: MultiArch,
    pub essential: bool,
    /// `Architecture`, `Priority`, `Source` (as written: `name` or `name (version)`; absent
    /// when it equals the package), `Filename` and `SHA256`, as places in the control text:
    /// a suite has 60k packages, and a string of its own for each of these fields cost tens
    /// of megabytes for the few hundred a closure uses.
    /// The relationship fields are places too: parsed when the closure first visits the
    /// package (it visits a few hundred, and the parsed relations of all 60k were most of the
    /// memory of a resolve).
    spans: [Span; TEXT_FIELDS.len() + RELATION_FIELDS.len()],
    relations: std::sync::OnceLock<std::sync::Arc<Relations>>,
    /// Provided virtual packages, with the version a versioned Provides gives them.
    pub provides: Box<[(String, Option<DebVersion>)]>,
    pub size: u64,
    /// The stanza as the index wrote it (a local repository republishes it).
    pub control: ControlText,
}

/// A field value's place in a control text; [`Span::ABSENT`] for a field the stanza lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    const ABSENT: Span = Span {
        start: u32::MAX,
        end: u32::MAX,
    };
}

/// The fields [`BinaryPackage`] keeps as places in its text, in `fields`' order.
const TEXT_FIELDS: [&str; 5] = ["Architecture", "Priority", "Source", "Filename", "SHA256"];
const ARCHITECTURE: usize = 0;
const PRIORITY: usize = 1;
const SOURCE: usize = 2;
const FILENAME: usize = 3;
const SHA256: usize = 4;

/// The relationship fields the closure follows, in [`Relations`]' order.
const RELATION_FIELDS: [&str; 5] = [
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Breaks",
    "Conflicts",
];

/// A package's relationships (Policy §7.2, §7.4), parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relations {
    pub depends: Vec<Vec<Relation>>,
    pub pre_depends: Vec<Vec<Relation>>,
    pub recommends: Vec<Vec<Relation>>,
    pub breaks: Vec<Vec<Relation>>,
    pub conflicts: Vec<Vec<Relation>>,
}

/// A stanza's text, shared with the index it was parsed from: a suite's 60k packages keep one
/// copy of the index instead of one string each (only the few hundred chosen are written out).
#[derive(Clone)]
pub struct ControlText {
    text: std::sync::Arc<String>,
    span: Span,
}

impl ControlText {
    pub fn as_str(&self) -> &str {
        &self.text[self.span.start as usize..self.span.end as usize]
    }
}

impl From<&str> for ControlText {
    fn from(text: &str) -> Self {
        let text = std::sync::Arc::new(text.to_string());
        ControlText {
            span: span_in(&text, &text),
            text,
        }
    }
}

impl PartialEq for ControlText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ControlText {}

impl std::fmt::Debug for ControlText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Two packages are equal when the index says the same of them, wherever its text lies.
impl PartialEq for BinaryPackage {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.version == other.version
            && self.multi_arch == other.multi_arch
            && self.essential == other.essential
            && (0..self.spans.len()).all(|index| self.field(index) == other.field(index))
            && self.provides == other.provides
            && self.size == other.size
            && self.control == other.control
    }
}

impl Eq for BinaryPackage {}

impl BinaryPackage {
    fn field(&self, index: usize) -> Option<&str> {
        let span = self.spans[index];
        (span != Span::ABSENT).then(|| &self.control.text[span.start as usize..span.end as usize])
    }

    /// `Architecture:` (`amd64`, `all`, ...).
    pub fn architecture(&self) -> &str {
        self.field(ARCHITECTURE)
            .expect("Architecture is required when the index is loaded")
    }

    /// `Priority:`, when given.
    pub fn priority(&self) -> Option<&str> {
        self.field(PRIORITY)
    }

    /// `Source:` as written, when given.
    pub fn source(&self) -> Option<&str> {
        self.field(SOURCE)
    }

    /// `Filename:`, a path inside the repository (checked when the index is loaded).
    pub fn filename(&self) -> &str {
        self.field(FILENAME)
            .expect("Filename is required when the index is loaded")
    }

    /// `SHA256:` (checked when the index is loaded).
    pub fn sha256(&self) -> Sha256Hex {
        Sha256Hex::parse(
            self.field(SHA256)
                .expect("SHA256 is required when the index is loaded"),
        )
        .expect("SHA256 was validated when the index was loaded")
    }

    /// Its Depends, Pre-Depends, Recommends, Breaks and Conflicts, parsed on first use.
    pub fn relations(&self) -> &Relations {
        self.relations.get_or_init(|| {
            let parse = |index: usize| match self.field(TEXT_FIELDS.len() + index) {
                Some(text) => parse_relations(text, &self.name)
                    // Every field was parsed once when the index was loaded, and a load with
                    // an invalid relation failed: the text cannot be invalid here.
                    .expect("relations were validated when the index was loaded"),
                None => Vec::new(),
            };
            let [depends, pre_depends, recommends, breaks, conflicts] = [0, 1, 2, 3, 4].map(parse);
            std::sync::Arc::new(Relations {
                depends,
                pre_depends,
                recommends,
                breaks,
                conflicts,
            })
        })
    }

    /// The source package it was built from and that source's version (Policy §5.6.1: the
    /// binary's own name and version when `Source:` leaves them out).
    pub fn source_package(&self) -> (&str, String) {
        match self.source().map(str::trim) {
            None | Some("") => (&self.name, self.version.to_string()),
            Some(source) => match source.split_once('(') {
                Some((name, version)) => (
                    name.trim(),
                    version.trim_end_matches(')').trim().to_string(),
                ),
                None => (source, self.version.to_string()),
            },
        }
    }
}

/// A `Filename:` must stay inside the repository.
pub fn safe_pool_path(filename: &str) -> bool {
    !filename.is_empty()
        && !filename.starts_with('/')
        && !filename.contains('\\')
        && !filename
            .split('/')
            .any(|part| part == ".." || part.is_empty())
}

/// Where `value` (a slice of `text`) lies in `text`.
fn span_in(text: &str, value: &str) -> Span {
    let start = (value.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    debug_assert!(
        start + value.len() <= text.len(),
        "the value is a slice of the text"
    );
    // A piece of an index is a few megabytes; offsets past 4 GiB would not fit.
    let start = u32::try_from(start).expect("a piece under 4 GiB");
    Span {
        start,
        end: start + value.len() as u32,
    }
}

fn package_from(
    stanza: &Stanza<'_>,
    text: &std::sync::Arc<String>,
    source: &str,
    line_offset: usize,
) -> Result<BinaryPackage, PackagesError> {
    let context = format!("{source}:{}", stanza.line + line_offset);
    let required = |field: &'static str| {
        stanza.get(field).ok_or_else(|| PackagesError::Missing {
            context: context.clone(),
            field,
        })
    };
    let invalid = |field: &'static str, value: &str| PackagesError::Invalid {
        context: context.clone(),
        field,
        value: value.to_string(),
    };
    let name = required("Package")?.to_string();
    let version_text = required("Version")?;
    let version =
        DebVersion::from_str(version_text).map_err(|_| invalid("Version", version_text))?;
    let relations = |field: &'static str| -> Result<Vec<Vec<Relation>>, PackagesError> {
        match stanza.get(field) {
            Some(text) => parse_relations(text, &format!("{context} ({name} {field})")),
            None => Ok(Vec::new()),
        }
    };
    // Each relationship field is checked now (a bad index fails its load, naming the line)
    // and kept as a place in the text; [`BinaryPackage::relations`] parses it again when the
    // closure needs it.
    let mut spans = [Span::ABSENT; TEXT_FIELDS.len() + RELATION_FIELDS.len()];
    for (span, field) in spans[TEXT_FIELDS.len()..].iter_mut().zip(RELATION_FIELDS) {
        if let Some(value) = stanza.get(field) {
            relations(field)?;
            *span = span_in(text, value);
        }
    }
    let filename = required("Filename")?;
    if !safe_pool_path(filename) {
        return Err(PackagesError::UnsafeFilename {
            context,
            filename: filename.to_string(),
        });
    }
    let size_text = required("Size")?;
    let size = size_text.parse().map_err(|_| invalid("Size", size_text))?;
    let sha256_text = required("SHA256")?;
    Sha256Hex::parse(sha256_text).map_err(|_| invalid("SHA256", sha256_text))?;
    required("Architecture")?;
    for (span, field) in spans.iter_mut().zip(TEXT_FIELDS) {
        if let Some(value) = stanza.get(field) {
            *span = span_in(text, value);
        }
    }
    let mut provides = Vec::new();
    for group in relations("Provides")? {
        for relation in group {
            let version = match relation.constraint {
                Some((Operator::Equal, version)) => Some(version),
                _ => None,
            };
            provides.push((relation.name, version));
        }
    }
    let control = ControlText {
        text: text.clone(),
        span: span_in(text, &text[stanza.span.clone()]),
    };
    Ok(BinaryPackage {
        control,
        multi_arch: multi_arch(stanza.get("Multi-Arch")),
        essential: stanza
            .get("Essential")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        spans,
        relations: std::sync::OnceLock::new(),
        provides: provides.into_boxed_slice(),
        size,
        name,
        version,
    })
}

/// Parses a `Packages` index; `source` names it in errors.
pub fn parse_packages(text: &str, source: &str) -> Result<Vec<BinaryPackage>, PackagesError> {
    parse_packages_shared(std::sync::Arc::new(text.to_string()), source, 0)
}

/// Parses a piece of a `Packages` index that starts `line_offset` lines into it (so messages
/// give the line in the whole file); the packages share `text` for their control stanzas.
pub fn parse_packages_shared(
    text: std::sync::Arc<String>,
    source: &str,
    line_offset: usize,
) -> Result<Vec<BinaryPackage>, PackagesError> {
    // Sized up front (a stanza ends at a blank line): growing by doubling left freed
    // buffers of every size behind, kept resident between the packages that outlive them.
    let mut packages = Vec::with_capacity(text.matches("\n\n").count() + 1);
    deb822::visit(&text, |stanza| {
        packages.push(package_from(stanza, &text, source, line_offset)?);
        Ok::<(), PackagesError>(())
    })
    .map_err(|error| match error {
        PackagesError::Deb822(error) => PackagesError::Deb822(error.shifted(line_offset)),
        other => other,
    })?;
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "ab";

    fn stanza(extra: &str) -> String {
        format!(
            "Package: curl\nVersion: 7.88.1-10+deb12u8\nArchitecture: amd64\nMulti-Arch: foreign\nFilename: pool/main/c/curl/curl_7.88.1-10+deb12u8_amd64.deb\nSize: 315000\nSHA256: {}\n{extra}",
            SHA.repeat(32)
        )
    }

    #[test]
    fn parses_relations_with_every_part() {
        let groups = parse_relations("libc6 (>= 2.34), libcurl4 (= 7.88.1-10+deb12u8) | libcurl3, python3:any, gcc [amd64 arm64] <!nocheck>, debconf (>= 0.5) | debconf-2.0", "x").unwrap();
        assert_eq!(groups.len(), 5);
        assert_eq!(groups[0][0].name, "libc6");
        let (op, version) = groups[0][0].constraint.clone().unwrap();
        assert_eq!(
            (op, version.to_string()),
            (Operator::GreaterOrEqual, "2.34".to_string())
        );
        assert_eq!(groups[1].len(), 2);
        assert_eq!(groups[2][0].arch_qualifier.as_deref(), Some("any"));
        assert_eq!(groups[3][0].arch_restrictions, ["amd64", "arm64"]);
        assert!(groups[0][0].allows(&"2.36-9".parse().unwrap()));
        assert!(!groups[0][0].allows(&"2.31-13".parse().unwrap()));
        for bad in ["Libc6", "a (~ 1)", "libc6 (>= 2.34", "libc6 trailing"] {
            assert!(parse_relations(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_a_packages_index() {
        let text = format!(
            "{}Depends: libc6 (>= 2.34), libcurl4 (= 7.88.1-10+deb12u8)\nProvides: curl-virtual (= 1.0), www-browser\n\n{}",
            stanza(""),
            stanza("")
                .replace("Package: curl", "Package: curl-dbg")
                .replace("Multi-Arch: foreign\n", "")
        );
        let packages = parse_packages(&text, "Packages").unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].multi_arch, MultiArch::Foreign);
        assert_eq!(packages[0].relations().depends.len(), 2);
        assert!(packages[0].relations().conflicts.is_empty());
        assert_eq!(
            packages[0].provides[0].1.as_ref().unwrap().to_string(),
            "1.0"
        );
        assert_eq!(packages[0].provides[1], ("www-browser".to_string(), None));
        assert_eq!(packages[1].multi_arch, MultiArch::No);
    }

    #[test]
    fn refuses_filenames_outside_the_repository() {
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "pool//x.deb",
            "pool/../x.deb",
        ] {
            let text = stanza("").replace("pool/main/c/curl/curl_7.88.1-10+deb12u8_amd64.deb", bad);
            let error = parse_packages(&text, "Packages").unwrap_err();
            assert!(
                matches!(error, PackagesError::UnsafeFilename { .. }),
                "{bad}: {error}"
            );
            assert!(
                error.to_string().starts_with("Packages:1: Filename"),
                "{error}"
            );
        }
    }

    #[test]
    fn names_missing_fields_and_the_stanza() {
        let error =
            parse_packages("Package: a\nVersion: 1\n", "main/binary-amd64/Packages").unwrap_err();
        assert_eq!(
            error.to_string(),
            "main/binary-amd64/Packages:1: the `Filename` field is missing"
        );
    }
}
