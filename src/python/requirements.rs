//! pip's requirements file format, read the way pip reads it.
//!
//! Line handling follows pip's `req_file.py`: a trailing backslash joins the next line; a comment
//! line ends a continuation (pip appends it and then strips it); comments start at `#` at the
//! beginning of a line or after whitespace; `${VAR}` (upper case, digits, underscore) expands
//! from the environment. Requirement lines are PEP 508; options after the requirement (`--hash`)
//! belong to it. `-r`/`-c` paths are relative to the file that names them.
//!
//! Everything that cannot be carried across an air gap (editable installs, VCS and local
//! sources, URLs without a hash) is an error naming `file:line`. All diagnostics are collected
//! before returning, so a user fixes a file in one pass.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Operator, Version};
use pep508_rs::{PackageName, Requirement, VersionOrUrl};
use pubgrub::Ranges;

/// Where a line came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RequirementError {
    #[error("cannot read requirements file {}{}", .path.display(), describe_inclusion(.included_from))]
    Read {
        path: PathBuf,
        included_from: Option<Location>,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: including {path} again makes a cycle: {}", .chain.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" -> "))]
    IncludeCycle {
        location: Location,
        path: PathBuf,
        chain: Vec<PathBuf>,
    },
    #[error("{location}: `{text}` is not a valid requirement")]
    InvalidRequirement {
        location: Location,
        text: String,
        #[source]
        source: Box<pep508_rs::Pep508Error>,
    },
    #[error(
        "{location}: `{text}` is {kind}, which cannot be carried across an air gap; pin a released version from the index instead"
    )]
    NotAirGappable {
        location: Location,
        text: String,
        kind: &'static str,
    },
    #[error("{location}: {message}")]
    Unsupported { location: Location, message: String },
    #[error("{location}: {message}")]
    Syntax { location: Location, message: String },
    #[error(
        "{location}: environment variable ${{{name}}} is not set (pip would leave it unexpanded; set it or remove the reference)"
    )]
    UndefinedVariable { location: Location, name: String },
    #[error(
        "{location}: `{name}` has no --hash, but {hashed} pins hashes; pip's hash-checking mode needs a hash on every requirement"
    )]
    MissingHash {
        location: Location,
        name: String,
        hashed: Location,
    },
    #[error(
        "{location}: `{text}` is not pinned with ==, but {hashed} pins hashes; pip's hash-checking mode needs every requirement pinned to one version (write {name}==VERSION)"
    )]
    NotPinned {
        location: Location,
        name: String,
        text: String,
        hashed: Location,
    },
    #[error(
        "{second}: `{name}{second_spec}` conflicts with {first}: `{name}{first_spec}`; no version satisfies both"
    )]
    Conflict {
        name: PackageName,
        first: Location,
        first_spec: String,
        second: Location,
        second_spec: String,
    },
}

fn describe_inclusion(location: &Option<Location>) -> String {
    location
        .as_ref()
        .map(|l| format!(" (included from {l})"))
        .unwrap_or_default()
}

/// Every problem found in one pass over the inputs.
#[derive(Debug, thiserror::Error)]
pub struct RequirementErrors(pub Vec<RequirementError>);

impl fmt::Display for RequirementErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(
            f,
            "{count} problem{} in the requirements:",
            if count == 1 { "" } else { "s" }
        )?;
        for (index, error) in self.0.iter().enumerate() {
            write!(f, "  {error}")?;
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
            if index + 1 < count {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// A requirement line with what pip attaches to it.
#[derive(Debug, Clone)]
pub struct RequirementLine {
    pub requirement: Requirement,
    /// Lowercase hex sha256 digests from `--hash=sha256:` options.
    pub hashes: Vec<String>,
    pub location: Location,
}

/// Everything read from one top-level requirements file and its includes.
#[derive(Debug, Clone, Default)]
pub struct RequirementsInput {
    pub requirements: Vec<RequirementLine>,
    pub constraints: Vec<RequirementLine>,
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    /// The lines that set `index_url` and each of `extra_index_urls`, for messages.
    pub index_url_at: Option<Location>,
    pub extra_index_urls_at: Vec<Location>,
    pub no_index: bool,
    pub pre: bool,
    /// `--only-binary`, `--no-binary` and `--prefer-binary` lines, in order.
    pub binary: Vec<crate::python::resolver::BinaryArg>,
    /// Every file read, in order, with its bytes: what the lock's input fingerprint covers.
    pub files: Vec<(PathBuf, String)>,
}

/// Where requirements files come from: the disk, or memory in tests.
pub trait FileLoader {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// The identity used for cycle detection.
    fn canonical(&self, path: &Path) -> PathBuf;
}

pub struct DiskLoader;

impl FileLoader for DiskLoader {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads `path` and everything it includes.
pub fn parse_requirements(
    path: &Path,
    loader: &dyn FileLoader,
    env: Env<'_>,
) -> Result<RequirementsInput, RequirementErrors> {
    let mut parser = Parser {
        loader,
        env,
        input: RequirementsInput::default(),
        errors: Vec::new(),
        stack: Vec::new(),
        require_hashes: None,
    };
    parser.parse_file(path, false, None);
    parser.check_hashes();
    parser.check_conflicts();
    if parser.errors.is_empty() {
        Ok(parser.input)
    } else {
        Err(RequirementErrors(parser.errors))
    }
}

struct Parser<'a> {
    loader: &'a dyn FileLoader,
    env: Env<'a>,
    input: RequirementsInput,
    errors: Vec<RequirementError>,
    stack: Vec<PathBuf>,
    /// Set by `--require-hashes`: the line that asked for it.
    require_hashes: Option<Location>,
}

/// Joins physical lines into logical ones as pip's `join_lines` does: (first line number, text,
/// whether a comment line cut the continuation short).
fn logical_lines(text: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let is_comment = is_comment_line(line);
        if !line.ends_with('\\') || is_comment {
            let line = if is_comment {
                format!(" {line}")
            } else {
                line.to_string()
            };
            match pending.take() {
                Some((first, mut joined)) => {
                    joined.push_str(&line);
                    out.push((first, joined, is_comment));
                }
                None => out.push((number, line, false)),
            }
        } else {
            let stripped = line.trim_end_matches('\\');
            match &mut pending {
                Some((_, joined)) => joined.push_str(stripped),
                None => pending = Some((number, stripped.to_string())),
            }
        }
    }
    if let Some((first, joined)) = pending {
        out.push((first, joined, false));
    }
    out
}

fn is_comment_line(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a comment: `#` at the start or after whitespace (so URL fragments survive).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'#' && (index == 0 || bytes[index - 1].is_ascii_whitespace()) {
            return &line[..index];
        }
    }
    line
}

/// pip's `shlex.split` of option strings: whitespace separates, quotes group.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut has_word = false;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                has_word = true;
            }
            None if c.is_whitespace() => {
                if has_word {
                    words.push(std::mem::take(&mut current));
                    has_word = false;
                }
            }
            None => {
                current.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        words.push(current);
    }
    words
}

/// Options whose value is the next word (or follows `=`, or directly a short flag).
const VALUE_OPTIONS: &[(&str, &str)] = &[
    ("-r", "--requirement"),
    ("-c", "--constraint"),
    ("-i", "--index-url"),
    ("", "--extra-index-url"),
    ("-f", "--find-links"),
    ("-e", "--editable"),
    ("", "--hash"),
    ("", "--trusted-host"),
    ("", "--only-binary"),
    ("", "--no-binary"),
    ("", "--config-settings"),
    ("", "--global-option"),
    ("", "--use-feature"),
];
const FLAG_OPTIONS: &[&str] = &["--no-index", "--pre", "--prefer-binary", "--require-hashes"];

/// Turns option words into (long name, value) pairs.
fn parse_options(words: &[String]) -> Result<Vec<(&'static str, Option<String>)>, String> {
    let mut options = Vec::new();
    let mut index = 0;
    while index < words.len() {
        let word = &words[index];
        index += 1;
        if let Some(flag) = FLAG_OPTIONS.iter().find(|f| **f == word) {
            options.push((*flag, None));
            continue;
        }
        let matched = VALUE_OPTIONS.iter().find_map(|(short, long)| {
            if word == long || (!short.is_empty() && word == short) {
                Some((*long, None))
            } else if let Some(value) = word.strip_prefix(long).and_then(|v| v.strip_prefix('=')) {
                Some((*long, Some(value.to_string())))
            } else if !short.is_empty() && word.starts_with(short) && word.len() > 2 {
                Some((*long, Some(word[2..].to_string())))
            } else {
                None
            }
        });
        match matched {
            Some((long, Some(value))) => options.push((long, Some(value))),
            Some((long, None)) => {
                let value = words
                    .get(index)
                    .ok_or_else(|| format!("`{word}` needs a value"))?;
                index += 1;
                options.push((long, Some(value.clone())));
            }
            None => return Err(format!("unknown option `{word}`")),
        }
    }
    Ok(options)
}

impl Parser<'_> {
    fn parse_file(&mut self, path: &Path, constraint: bool, included_from: Option<Location>) {
        let canonical = self.loader.canonical(path);
        if let Some(location) = &included_from
            && self.stack.contains(&canonical)
        {
            let mut chain = self.stack.clone();
            chain.push(canonical);
            self.errors.push(RequirementError::IncludeCycle {
                location: location.clone(),
                path: path.to_path_buf(),
                chain,
            });
            return;
        }
        let text = match self.loader.read(path) {
            Ok(text) => text,
            Err(source) => {
                self.errors.push(RequirementError::Read {
                    path: path.to_path_buf(),
                    included_from,
                    source,
                });
                return;
            }
        };
        self.stack.push(canonical);
        self.input.files.push((path.to_path_buf(), text.clone()));
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut after_cut_continuation = false;
        for (line, raw, cut_by_comment) in logical_lines(text) {
            let location = Location {
                file: path.to_path_buf(),
                line,
            };
            let stripped = strip_comment(&raw).trim();
            // pip ends a continuation at a comment line; a `--hash` line right after it has
            // lost its requirement, and the error should say why.
            let after_comment = std::mem::replace(&mut after_cut_continuation, cut_by_comment);
            if stripped.is_empty() {
                continue;
            }
            let Some(expanded) = self.expand_variables(stripped, &location) else {
                continue;
            };
            if expanded.starts_with('-') {
                self.option_line(&expanded, &location, after_comment);
            } else {
                self.requirement_line(&expanded, &location, constraint);
            }
        }
        self.stack.pop();
    }

    fn expand_variables(&mut self, line: &str, location: &Location) -> Option<String> {
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            out.push_str(&rest[..start]);
            if valid {
                match (self.env)(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        self.errors.push(RequirementError::UndefinedVariable {
                            location: location.clone(),
                            name: name.to_string(),
                        });
                        return None;
                    }
                }
            } else {
                out.push_str(&rest[start..start + end + 1]);
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    fn option_line(&mut self, line: &str, location: &Location, after_comment: bool) {
        let options = match parse_options(&split_words(line)) {
            Ok(options) => options,
            Err(message) => {
                self.errors.push(RequirementError::Syntax {
                    location: location.clone(),
                    message,
                });
                return;
            }
        };
        for (option, value) in options {
            let value = value.unwrap_or_default();
            match option {
                "--requirement" | "--constraint" => {
                    if value.contains("://") {
                        self.errors.push(RequirementError::Unsupported {
                            location: location.clone(),
                            message: format!(
                                "remote requirements file `{value}` cannot be read offline; download it into the project"
                            ),
                        });
                        continue;
                    }
                    let base = location.file.parent().unwrap_or(Path::new(""));
                    let included = base.join(&value);
                    // pip: -r inside a constraints file still reads requirements.
                    let nested_constraint = option == "--constraint";
                    self.parse_file(&included, nested_constraint, Some(location.clone()));
                }
                "--index-url" => {
                    self.input.index_url = Some(value);
                    self.input.index_url_at = Some(location.clone());
                }
                "--extra-index-url" => {
                    self.input.extra_index_urls.push(value);
                    self.input.extra_index_urls_at.push(location.clone());
                }
                "--no-index" => self.input.no_index = true,
                "--pre" => self.input.pre = true,
                "--require-hashes" => self.require_hashes = Some(location.clone()),
                "--trusted-host" | "--use-feature" => {}
                "--prefer-binary" | "--only-binary" | "--no-binary" => {
                    use crate::python::resolver::{BinaryArg, BinaryPolicy};
                    let arg = match option {
                        "--prefer-binary" => BinaryArg::PreferBinary,
                        "--only-binary" => BinaryArg::OnlyBinary(value),
                        _ => BinaryArg::NoBinary(value),
                    };
                    match BinaryPolicy::default().apply(&arg) {
                        Ok(()) => self.input.binary.push(arg),
                        Err(error) => self.errors.push(RequirementError::Syntax {
                            location: location.clone(),
                            message: format!("`{option}`: {error}"),
                        }),
                    }
                }
                "--find-links" => self.errors.push(RequirementError::Unsupported {
                    location: location.clone(),
                    message: format!(
                        "`--find-links {value}` is not supported as a resolution source yet; serve the files as an index and use --extra-index-url"
                    ),
                }),
                "--editable" => self.errors.push(RequirementError::NotAirGappable {
                    location: location.clone(),
                    text: format!("-e {value}"),
                    kind: "an editable install",
                }),
                "--hash" => self.errors.push(RequirementError::Syntax {
                    location: location.clone(),
                    message: if after_comment {
                        "`--hash` without a requirement: a comment line inside a backslash continuation ends it (as pip reads the file), so this hash lost its requirement; move the comment after the last --hash".to_string()
                    } else {
                        "`--hash` must follow a requirement on the same logical line".to_string()
                    },
                }),
                _ => self.errors.push(RequirementError::Unsupported {
                    location: location.clone(),
                    message: format!("`{option}` is not supported on its own line"),
                }),
            }
        }
    }

    fn requirement_line(&mut self, line: &str, location: &Location, constraint: bool) {
        // pip's break_args_options: the requirement ends at the first word starting with `-`.
        let words: Vec<&str> = line.split(' ').collect();
        let split = words
            .iter()
            .position(|w| w.starts_with('-'))
            .unwrap_or(words.len());
        let text = words[..split].join(" ").trim().to_string();
        let option_words: Vec<String> = split_words(&words[split..].join(" "));
        let mut hashes = Vec::new();
        match parse_options(&option_words) {
            Ok(options) => {
                for (option, value) in options {
                    let value = value.unwrap_or_default();
                    match option {
                        "--hash" => match value.split_once(':') {
                            Some(("sha256", hex))
                                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
                            {
                                hashes.push(hex.to_ascii_lowercase())
                            }
                            Some(("sha256", _)) => self.errors.push(RequirementError::Syntax {
                                location: location.clone(),
                                message: format!("`--hash={value}` is not a 64-digit hex sha256"),
                            }),
                            Some((algorithm, _)) => self.errors.push(RequirementError::Unsupported {
                                location: location.clone(),
                                message: format!(
                                    "`--hash={algorithm}:…`: indexes publish sha256, so airlock checks sha256 hashes only"
                                ),
                            }),
                            None => self.errors.push(RequirementError::Syntax {
                                location: location.clone(),
                                message: format!("`--hash={value}` must be written algorithm:hex"),
                            }),
                        },
                        "--config-settings" | "--global-option" => {}
                        other => self.errors.push(RequirementError::Syntax {
                            location: location.clone(),
                            message: format!("`{other}` cannot follow a requirement"),
                        }),
                    }
                }
            }
            Err(message) => self.errors.push(RequirementError::Syntax {
                location: location.clone(),
                message,
            }),
        }
        if let Some(kind) = classify_source(&text) {
            self.errors.push(RequirementError::NotAirGappable {
                location: location.clone(),
                text,
                kind,
            });
            return;
        }
        let requirement = match Requirement::from_str(&text) {
            Ok(requirement) => requirement,
            Err(source) => {
                self.errors.push(RequirementError::InvalidRequirement {
                    location: location.clone(),
                    text,
                    source: Box::new(source),
                });
                return;
            }
        };
        if let Some(VersionOrUrl::Url(url)) = &requirement.version_or_url {
            let url_text = url.to_string();
            let kind = match classify_source(&format!("x @ {url_text}")) {
                Some(kind) => kind,
                None if hashes.is_empty() && !url_text.contains("#sha256=") => {
                    "a URL without a hash"
                }
                None => "a direct URL",
            };
            if kind == "a direct URL" {
                self.errors.push(RequirementError::Unsupported {
                    location: location.clone(),
                    message: format!(
                        "`{text}`: direct URL requirements are not supported yet; publish the wheel on an index and pin `{}==<version>`",
                        requirement.name
                    ),
                });
            } else {
                self.errors.push(RequirementError::NotAirGappable {
                    location: location.clone(),
                    text,
                    kind,
                });
            }
            return;
        }
        let line = RequirementLine {
            requirement,
            hashes,
            location: location.clone(),
        };
        if constraint {
            self.input.constraints.push(line);
        } else {
            self.input.requirements.push(line);
        }
    }

    /// pip's hash-checking mode is all or nothing: once any requirement has a hash (or
    /// `--require-hashes` is given), every requirement needs one.
    fn check_hashes(&mut self) {
        let hashed = self
            .input
            .requirements
            .iter()
            .find(|line| !line.hashes.is_empty())
            .map(|line| line.location.clone())
            .or_else(|| self.require_hashes.clone());
        let Some(hashed) = hashed else {
            return;
        };
        for line in &self.input.requirements {
            if !is_pinned(&line.requirement) {
                self.errors.push(RequirementError::NotPinned {
                    location: line.location.clone(),
                    name: line.requirement.name.to_string(),
                    text: line.requirement.to_string(),
                    hashed: hashed.clone(),
                });
            }
            if line.hashes.is_empty() {
                self.errors.push(RequirementError::MissingHash {
                    location: line.location.clone(),
                    name: line.requirement.name.to_string(),
                    hashed: hashed.clone(),
                });
            }
        }
    }

    /// Unconditional requirements on the same project must have a version in common.
    fn check_conflicts(&mut self) {
        let mut seen: BTreeMap<PackageName, (Ranges<Version>, &RequirementLine)> = BTreeMap::new();
        let mut conflicts = Vec::new();
        for line in self
            .input
            .requirements
            .iter()
            .chain(&self.input.constraints)
        {
            if !line.requirement.marker.is_true() {
                continue;
            }
            let range = specifier_range(&line.requirement);
            match seen.get_mut(&line.requirement.name) {
                Some((accumulated, first)) => {
                    let intersection = accumulated.intersection(&range);
                    if intersection.is_empty() {
                        conflicts.push(RequirementError::Conflict {
                            name: line.requirement.name.clone(),
                            first: first.location.clone(),
                            first_spec: specifier_text(&first.requirement),
                            second: line.location.clone(),
                            second_spec: specifier_text(&line.requirement),
                        });
                    } else {
                        *accumulated = intersection;
                    }
                }
                None => {
                    seen.insert(line.requirement.name.clone(), (range, line));
                }
            }
        }
        self.errors.extend(conflicts);
    }
}

/// The version range a requirement allows (everything for a bare name).
///
/// PEP 440: `==1.0` (without a local label) also matches `1.0+cpu`, and `!=1.0` excludes it.
/// Local versions sort after `1.0` and before `1.0.post0.dev0`, the next version that is not a
/// local variant, so `[1.0, 1.0.post0.dev0)` is exactly `1.0` and its local variants.
pub fn specifier_range(requirement: &Requirement) -> Ranges<Version> {
    let Some(VersionOrUrl::VersionSpecifier(specifiers)) = &requirement.version_or_url else {
        return Ranges::full();
    };
    let mut range = Ranges::full();
    for specifier in specifiers.iter() {
        let version = specifier.version();
        let widens =
            version.local().is_empty() && version.post().is_none() && version.dev().is_none();
        let part = match specifier.operator() {
            Operator::Equal if widens => local_variants(version),
            Operator::NotEqual if widens => local_variants(version).complement(),
            _ => operator_range(specifier),
        };
        range = range.intersection(&part);
    }
    range
}

/// Whether `requirement` names exactly one version, as pip's hash-checking mode demands: a
/// single `==` (without a wildcard) or `===` specifier.
fn is_pinned(requirement: &Requirement) -> bool {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => {
            specifiers.len() == 1
                && matches!(
                    specifiers.iter().next().map(|s| s.operator()),
                    Some(Operator::Equal | Operator::ExactEqual)
                )
        }
        _ => false,
    }
}

/// One specifier as a range, by PEP 440's rules (`==`/`!=` without a local label are widened
/// to local variants by the caller).
fn operator_range(specifier: &pep440_rs::VersionSpecifier) -> Ranges<Version> {
    let version = specifier.version().clone();
    match specifier.operator() {
        Operator::Equal | Operator::ExactEqual => Ranges::singleton(version),
        Operator::NotEqual => Ranges::singleton(version).complement(),
        Operator::TildeEqual => {
            // `~=2.2.1` is `>=2.2.1, ==2.2.*`: the next release of the second-to-last segment,
            // before any of its pre-releases, is the end.
            let release = version.release();
            let upper = match release {
                [rest @ .., last, _] => Version::new(rest.iter().copied().chain([last + 1]))
                    .with_epoch(version.epoch())
                    .with_dev(Some(0)),
                // PEP 440 forbids `~=` with one segment; pep440_rs refuses to parse it.
                _ => return Ranges::higher_than(version),
            };
            Ranges::from_range_bounds(version..upper)
        }
        // `<V` excludes V's pre-releases unless V is one; `>V` excludes V's post-releases
        // (and local variants) unless V is one.
        Operator::LessThan if version.any_prerelease() => Ranges::strictly_lower_than(version),
        Operator::LessThan => Ranges::strictly_lower_than(version.with_min(Some(0))),
        // `<=V` admits V's local variants (`torch<=2.1.0` takes `2.1.0+cu118`: pip's
        // `packaging` compares the public version), so it ends before the first version
        // above them.
        Operator::LessThanEqual if version.local().is_empty() => {
            Ranges::strictly_lower_than(after_local_variants(&version))
        }
        Operator::LessThanEqual => Ranges::lower_than(version),
        Operator::GreaterThan => {
            if let Some(dev) = version.dev() {
                Ranges::higher_than(version.with_dev(Some(dev.saturating_add(1))))
            } else if let Some(post) = version.post() {
                Ranges::higher_than(version.with_post(Some(post.saturating_add(1))))
            } else {
                Ranges::strictly_higher_than(version.with_max(Some(0)))
            }
        }
        Operator::GreaterThanEqual => Ranges::higher_than(version),
        Operator::EqualStar | Operator::NotEqualStar => {
            // `==1.2.*` is every version whose release starts with 1.2, pre- and
            // post-releases included: [1.2.dev0, 1.3.dev0).
            let low = version.with_dev(Some(0));
            let high = if let Some(post) = low.post() {
                low.clone().with_post(Some(post.saturating_add(1)))
            } else if let Some(pre) = low.pre() {
                low.clone().with_pre(Some(pep440_rs::Prerelease {
                    kind: pre.kind,
                    number: pre.number.saturating_add(1),
                }))
            } else {
                let mut release = low.release().to_vec();
                if let Some(last) = release.last_mut() {
                    *last = last.saturating_add(1);
                }
                low.clone().with_release(release)
            };
            let prefix = Ranges::from_range_bounds(low..high);
            if specifier.operator() == &Operator::EqualStar {
                prefix
            } else {
                prefix.complement()
            }
        }
    }
}

/// The lowest version above `version` and all its local variants (`1.0+anything`): the dev
/// release of the next post-release (or the next dev release).
fn after_local_variants(version: &Version) -> Version {
    match (version.dev(), version.post()) {
        (Some(dev), _) => version.clone().with_dev(Some(dev.saturating_add(1))),
        (None, Some(post)) => version
            .clone()
            .with_post(Some(post.saturating_add(1)))
            .with_dev(Some(0)),
        (None, None) => version.clone().with_post(Some(0)).with_dev(Some(0)),
    }
}

/// The Python versions `specifiers` (a Requires-Python) admit.
pub fn specifiers_range(specifiers: &pep440_rs::VersionSpecifiers) -> Ranges<Version> {
    specifiers.iter().fold(Ranges::full(), |range, specifier| {
        range.intersection(&operator_range(specifier))
    })
}

/// Whether `range` is one version, counting `==V` with its local variants as one: uv decides
/// such packages early, before those with real choices.
pub fn is_singleton_constraint(range: &Ranges<Version>) -> bool {
    if range.as_singleton().is_some() {
        return true;
    }
    let mut segments = range.iter();
    match (segments.next(), segments.next()) {
        (Some((Bound::Included(low), Bound::Excluded(high))), None) => {
            low.local().is_empty()
                && low.post().is_none()
                && low.dev().is_none()
                && *high == local_variants_end(low)
        }
        _ => false,
    }
}

fn local_variants_end(version: &Version) -> Version {
    version.clone().with_post(Some(0)).with_dev(Some(0))
}

fn local_variants(version: &Version) -> Ranges<Version> {
    Ranges::from_range_bounds(version.clone()..local_variants_end(version))
}

fn specifier_text(requirement: &Requirement) -> String {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers.to_string(),
        _ => String::new(),
    }
}

/// Recognises sources that cannot be resolved from an index.
fn classify_source(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    let url_part = lower
        .split_once(" @ ")
        .map_or(lower.as_str(), |(_, url)| url.trim());
    for vcs in ["git+", "hg+", "svn+", "bzr+"] {
        if url_part.starts_with(vcs) {
            return Some("a version-control source");
        }
    }
    if url_part.starts_with("file:") {
        return Some("a local path");
    }
    if lower.contains(" @ ") {
        return None;
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some("a URL requirement");
    }
    let looks_like_path = lower.starts_with('.')
        || lower.starts_with('/')
        || lower.starts_with('~')
        || lower.contains('\\')
        || (lower.contains('/') && !lower.contains(';'))
        || [".whl", ".tar.gz", ".zip"]
            .iter()
            .any(|suffix| lower.ends_with(suffix));
    looks_like_path.then_some("a local path")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MemoryLoader(HashMap<PathBuf, String>);

    impl FileLoader for MemoryLoader {
        fn read(&self, path: &Path) -> std::io::Result<String> {
            self.0
                .get(&normalize(path))
                .cloned()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not found"))
        }
        fn canonical(&self, path: &Path) -> PathBuf {
            normalize(path)
        }
    }

    fn normalize(path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for component in path.components() {
            match component {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    }

    fn parse(files: &[(&str, &str)]) -> Result<RequirementsInput, RequirementErrors> {
        let loader = MemoryLoader(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), (*t).to_string()))
                .collect(),
        );
        let env = |name: &str| (name == "TORCH_VERSION").then(|| "2.4.0".to_string());
        parse_requirements(Path::new(files[0].0), &loader, &env)
    }

    fn messages(files: &[(&str, &str)]) -> Vec<String> {
        parse(files)
            .unwrap_err()
            .0
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn reads_pep508_lines_continuations_and_includes() {
        let input = parse(&[
            (
                "req/main.in",
                "# top comment\nfastapi[standard] >= 0.110 \\\n  ; python_version >= '3.8'  # why\n-r common.in\n-c ../constraints.txt\ntorch==${TORCH_VERSION}\n--index-url http://127.0.0.1:1/simple\n--extra-index-url=http://127.0.0.1:2/simple\n",
            ),
            ("req/common.in", "Requests_OAuthlib\n"),
            ("constraints.txt", "urllib3<3\n"),
        ])
        .unwrap();
        let names: Vec<_> = input
            .requirements
            .iter()
            .map(|l| (l.requirement.name.to_string(), l.location.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("fastapi".into(), "req/main.in:2".into()),
                ("requests-oauthlib".into(), "req/common.in:1".into()),
                ("torch".into(), "req/main.in:6".into()),
            ]
        );
        assert_eq!(input.requirements[0].requirement.extras.len(), 1);
        assert_eq!(
            input.requirements[2].requirement.to_string(),
            "torch==2.4.0"
        );
        assert_eq!(input.constraints[0].requirement.name.as_ref(), "urllib3");
        assert_eq!(
            input.index_url.as_deref(),
            Some("http://127.0.0.1:1/simple")
        );
        assert_eq!(input.extra_index_urls, ["http://127.0.0.1:2/simple"]);
        assert_eq!(input.files.len(), 3);
    }

    #[test]
    fn hashes_attach_to_their_requirement() {
        let text = format!(
            "six==1.16.0 \\\n    --hash=sha256:{HASH_A} \\\n    --hash sha256:{}\n    # via foo\n",
            HASH_B.to_uppercase()
        );
        let input = parse(&[("r.txt", &text)]).unwrap();
        assert_eq!(input.requirements[0].hashes, [HASH_A, HASH_B]);
    }

    #[test]
    fn hash_mode_is_all_or_nothing() {
        let text = format!("six==1.16.0 --hash=sha256:{HASH_A}\nidna==3.7\n");
        assert_eq!(
            messages(&[("r.txt", &text)]),
            [
                "r.txt:2: `idna` has no --hash, but r.txt:1 pins hashes; pip's hash-checking mode needs a hash on every requirement"
            ]
        );
        // Every line must name one version, hashed or not; each offender is named.
        let text = format!(
            "six>=1.16 --hash=sha256:{HASH_A}\nidna==3.* --hash=sha256:{HASH_B}\ncertifi===2024.1 --hash=sha256:{HASH_B}\n"
        );
        let errors = messages(&[("r.txt", &text)]);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].starts_with("r.txt:1: `six>=1.16` is not pinned with ==")
                && errors[0].contains("write six==VERSION"),
            "{errors:#?}"
        );
        assert!(
            errors[1].starts_with("r.txt:2: `idna==3.*` is not pinned"),
            "{errors:#?}"
        );
    }

    #[test]
    fn less_or_equal_admits_local_variants_as_pip_does() {
        let range =
            |text: &str| specifiers_range(&pep440_rs::VersionSpecifiers::from_str(text).unwrap());
        let version = |text: &str| Version::from_str(text).unwrap();
        let cases = [
            ("<=2.1.0", "2.1.0+cu118", true),
            ("<=2.1.0", "2.1.0", true),
            ("<=2.1.0", "2.1.0.post1", false),
            ("<=2.1.0", "2.1.1.dev0", false),
            ("<=2.1.0.post1", "2.1.0.post1+local", true),
            ("<=2.1.0.post1", "2.1.0.post2.dev0", false),
            ("<=2.1.0.dev1", "2.1.0.dev1+local", true),
            ("<=2.1.0.dev1", "2.1.0.dev2", false),
            ("<=2.1.0rc1", "2.1.0rc1+local", true),
            ("<=2.1.0rc1", "2.1.0rc2", false),
            ("<2.1.0", "2.1.0+cu118", false),
            (">2.1.0", "2.1.0+cu118", false),
            (">=2.1.0", "2.1.0+cu118", true),
        ];
        for (specifier, candidate, admitted) in cases {
            assert_eq!(
                range(specifier).contains(&version(candidate)),
                admitted,
                "{specifier} vs {candidate}"
            );
        }
    }

    #[test]
    fn comment_inside_continuation_is_reported() {
        let text = format!("six==1.16.0 \\\n  # a comment\n  --hash=sha256:{HASH_A}\n");
        let errors = messages(&[("r.txt", &text)]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("r.txt:3: `--hash` without a requirement"),
            "{errors:?}"
        );
    }

    #[test]
    fn include_cycle_shows_the_chain() {
        let errors = messages(&[("a.in", "-r b.in\n"), ("b.in", "x\n-r a.in\n")]);
        assert_eq!(
            errors,
            ["b.in:2: including a.in again makes a cycle: a.in -> b.in -> a.in"]
        );
    }

    #[test]
    fn diamond_includes_are_fine() {
        let input = parse(&[
            ("top.in", "-r left.in\n-r right.in\n"),
            ("left.in", "-r base.in\n"),
            ("right.in", "-r base.in\n"),
            ("base.in", "six>=1\n"),
        ])
        .unwrap();
        assert_eq!(input.requirements.len(), 2);
    }

    #[test]
    fn air_gap_hostile_lines_are_errors_with_locations() {
        let errors = messages(&[(
            "r.in",
            "-e ./src/mypkg\ngit+https://example.invalid/x.git\nfoo @ git+https://example.invalid/foo\n./dist/foo-1.0-py3-none-any.whl\nbar @ https://example.invalid/bar-1.0.tar.gz\nhttps://example.invalid/baz.whl\nqux @ file:///tmp/qux\n",
        )]);
        let expected_kinds = [
            ("r.in:1", "an editable install"),
            ("r.in:2", "a version-control source"),
            ("r.in:3", "a version-control source"),
            ("r.in:4", "a local path"),
            ("r.in:5", "a URL without a hash"),
            ("r.in:6", "a URL requirement"),
            ("r.in:7", "a local path"),
        ];
        assert_eq!(errors.len(), expected_kinds.len(), "{errors:#?}");
        for (error, (location, kind)) in errors.iter().zip(expected_kinds) {
            assert!(error.starts_with(location), "{error}");
            assert!(error.contains(kind), "{error} should say {kind}");
        }
    }

    #[test]
    fn conflicting_duplicates_name_both_lines() {
        let errors = messages(&[("r.in", "Six>=2\nflask\nsix<1.5\n")]);
        assert_eq!(
            errors,
            ["r.in:3: `six<1.5` conflicts with r.in:1: `six>=2`; no version satisfies both"]
        );
        // Compatible duplicates merge quietly; markers keep lines apart.
        assert!(parse(&[("r.in", "six>=1\nsix<2\nsix<1 ; python_version < '3'\n")]).is_ok());
    }

    #[test]
    fn undefined_variables_bad_options_and_requirements() {
        let errors = messages(&[(
            "r.in",
            "foo==${NOPE}\n--frobnicate\nfoo >= = 1\n-r missing.in\n",
        )]);
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors[0].contains("r.in:1: environment variable ${NOPE} is not set"));
        assert!(errors[1].contains("r.in:2: unknown option `--frobnicate`"));
        assert!(errors[2].starts_with("r.in:3: `foo >= = 1` is not a valid requirement"));
        assert!(
            errors[3]
                .starts_with("cannot read requirements file missing.in (included from r.in:4)")
        );
    }

    #[test]
    fn url_fragments_are_not_comments() {
        assert_eq!(
            strip_comment("a @ https://x/y.whl#sha256=00 # note"),
            "a @ https://x/y.whl#sha256=00 "
        );
        assert_eq!(strip_comment("#whole"), "");
    }
}
