//! Dependency resolution for one target with PubGrub.
//!
//! The resolver asks a [`PackageSource`] for project files and core metadata and nothing else,
//! so the same code resolves against a remote index (`airlock resolve`) and against the
//! wheelhouse on disk (`airlock verify`). Markers are evaluated for the target's environment.
//!
//! Candidate rules, as pip and uv apply them: a version is a candidate when it has a wheel
//! whose tags the target accepts, or else a source distribution the target's installer can
//! build (unless `--only-binary`/`--no-build` forbids it), and its `requires-python` admits the
//! target's interpreter; the highest candidate wins (with `--prefer-binary`, the highest that
//! has a wheel); yanked files (PEP 592) only satisfy an exact `==` pin;
//! pre-releases (PEP 440) only when a first-party specifier names one, `--pre`/`prerelease =
//! "allow"` is set, or the project has no final releases at all.
//! Extras are modelled as their own PubGrub packages that pin the base package to the same
//! version, the usual encoding (uv, poetry).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, MarkerTree, PackageName, Requirement, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics, Ranges,
    Reporter,
};

use super::metadata::CoreMetadata;
use super::requirements::{RequirementLine, specifier_range};
use super::simple::{DistFile, ProjectFiles};
use super::solver;
use super::target::{Tags, Target};
use super::wheel::DistFilename;

/// An error from a package source, shareable between the resolver and prefetch tasks.
#[derive(Debug, Clone)]
pub struct SourceError {
    error: Arc<dyn std::error::Error + Send + Sync>,
    /// The distribution itself is unusable (its sdist does not build here, its archive is
    /// refused): the resolver rules that version out and goes on, as uv does, rather than
    /// giving up. Network and disk errors are never unusable: they stop the resolution.
    pub unusable: bool,
}

impl SourceError {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        SourceError {
            error: Arc::new(error),
            unusable: false,
        }
    }

    /// An error that rules out one distribution, not the resolution.
    pub fn unusable(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        SourceError {
            error: Arc::new(error),
            unusable: true,
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// What a source needs to fetch ahead of the resolver on its own: which file of a project the
/// resolver will most likely read, and what that file's metadata will make it ask for next.
/// Shared by every prefetch task of one resolution.
pub trait Speculation: Send + Sync {
    /// Whether `name` is new (each project is prefetched once).
    fn claim(&self, name: &PackageName) -> bool;
    /// The file whose metadata the resolver will likely read for `name` in `range`.
    fn pick(
        &self,
        name: &PackageName,
        files: &Arc<ProjectFiles>,
        range: &Ranges<Version>,
    ) -> Option<DistFile>;
    /// The requirements in `metadata` that apply on the target, with their ranges.
    fn follow(&self, metadata: &CoreMetadata) -> Vec<(PackageName, Ranges<Version>)>;
}

/// Where the resolver gets packages from.
pub trait PackageSource: Send + Sync {
    /// Every file of the project; an unknown project has no files.
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, SourceError>;
    /// The core metadata of one distribution file.
    fn metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError>;
    /// A hint that `name` in `range` will be needed soon; sources with latency start fetching
    /// now (and may follow the picked file's requirements, `depth` levels down).
    fn prefetch(
        &self,
        _name: &PackageName,
        _range: Ranges<Version>,
        _speculation: Arc<dyn Speculation>,
        _depth: u8,
    ) {
    }
    /// A hint that the metadata of the files at these places of a page will likely be asked for soon.
    fn prefetch_metadata(&self, _files: Arc<ProjectFiles>, _places: Vec<u32>) {}
    /// What the source is called in messages ("the index", "the wheelhouse").
    fn describe(&self) -> &'static str {
        "the index"
    }
    /// Whether a file needs a digest from the source to be a candidate. An index's files do:
    /// a file listed without one could be neither pinned nor verified. A wheelhouse's are on
    /// disk, checked against the lock by verify's integrity pass.
    fn requires_digests(&self) -> bool {
        true
    }
    /// What building an sdist needs and what it declares: its build requirements
    /// (`[build-system] requires` plus the backend's `get_requires_for_build_wheel`) and its
    /// metadata (static PKG-INFO or the backend's `prepare_metadata_for_build_wheel`).
    fn sdist_info(&self, file: &DistFile) -> Result<Arc<SdistInfo>, SourceError> {
        Err(SourceError::new(CannotBuild(file.filename.to_string())))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}: this source cannot read source distributions")]
struct CannotBuild(String);

/// How an sdist's metadata was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetadataOrigin {
    /// PKG-INFO with Metadata-Version 2.2+ and nothing resolution reads marked Dynamic.
    Static,
    /// The build backend's hook, run on this machine: markers its code evaluated are the
    /// host's, which may not be the target's.
    Built,
}

/// An sdist's metadata and build requirements.
#[derive(Debug, Clone)]
pub struct SdistInfo {
    pub metadata: Arc<CoreMetadata>,
    pub build_requires: Vec<Requirement>,
    pub origin: MetadataOrigin,
    /// The machine whose Python ran the hooks, as a target (for built metadata).
    pub built_on: Option<Target>,
}

/// Which packages may be installed from wheels and which built from sdists: pip's
/// `--only-binary`/`--no-binary` (`:all:`, `:none:`, names; a name beats `:all:`), uv's
/// `--no-build`/`--no-build-package`, and `--prefer-binary`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryPolicy {
    only_binary_all: bool,
    no_binary_all: bool,
    only_binary: BTreeSet<PackageName>,
    no_binary: BTreeSet<PackageName>,
    pub prefer_binary: bool,
}

/// One switch of a [`BinaryPolicy`], as written in airlock.toml, a requirements file or a
/// flag (uv's `--no-build` is `OnlyBinary(":all:")`, `--no-build-package X` is
/// `OnlyBinary("X")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryArg {
    OnlyBinary(String),
    NoBinary(String),
    PreferBinary,
}

/// As pip writes it: `--only-binary=X`, `--no-binary=X`, `--prefer-binary` (a lock records
/// the switches so a project with no airlock.toml reads them back).
impl fmt::Display for BinaryArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BinaryArg::OnlyBinary(value) => write!(f, "--only-binary={value}"),
            BinaryArg::NoBinary(value) => write!(f, "--no-binary={value}"),
            BinaryArg::PreferBinary => f.write_str("--prefer-binary"),
        }
    }
}

impl FromStr for BinaryArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "--prefer-binary" {
            return Ok(BinaryArg::PreferBinary);
        }
        if let Some(value) = text.strip_prefix("--only-binary=") {
            return Ok(BinaryArg::OnlyBinary(value.to_string()));
        }
        if let Some(value) = text.strip_prefix("--no-binary=") {
            return Ok(BinaryArg::NoBinary(value.to_string()));
        }
        Err(format!(
            "`{text}` is not --only-binary=…, --no-binary=… or --prefer-binary"
        ))
    }
}

/// An invalid `--only-binary`/`--no-binary` value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{value}` is not a package name, :all: or :none:")]
pub struct BinaryPolicyError {
    pub value: String,
}

impl BinaryPolicy {
    /// `--only-binary VALUE` (comma-separated, as pip reads it).
    pub fn only_binary(&mut self, value: &str) -> Result<(), BinaryPolicyError> {
        self.apply_value(value, true)
    }

    /// `--no-binary VALUE`.
    pub fn no_binary(&mut self, value: &str) -> Result<(), BinaryPolicyError> {
        self.apply_value(value, false)
    }

    fn apply_value(&mut self, value: &str, binary: bool) -> Result<(), BinaryPolicyError> {
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                ":all:" => {
                    self.only_binary.clear();
                    self.no_binary.clear();
                    self.only_binary_all = binary;
                    self.no_binary_all = !binary;
                }
                ":none:" => {
                    if binary {
                        self.only_binary.clear();
                        self.only_binary_all = false;
                    } else {
                        self.no_binary.clear();
                        self.no_binary_all = false;
                    }
                }
                name => {
                    let name = PackageName::from_str(name).map_err(|_| BinaryPolicyError {
                        value: name.to_string(),
                    })?;
                    let (target, other) = if binary {
                        (&mut self.only_binary, &mut self.no_binary)
                    } else {
                        (&mut self.no_binary, &mut self.only_binary)
                    };
                    other.remove(&name);
                    target.insert(name);
                }
            }
        }
        Ok(())
    }

    /// (wheels allowed, sdists allowed) for `name`, in pip's order of precedence.
    pub fn allows(&self, name: &PackageName) -> (bool, bool) {
        if self.only_binary.contains(name) {
            (true, false)
        } else if self.no_binary.contains(name) {
            (false, true)
        } else if self.only_binary_all {
            (true, false)
        } else if self.no_binary_all {
            (false, true)
        } else {
            (true, true)
        }
    }

    /// Applies one switch.
    pub fn apply(&mut self, arg: &BinaryArg) -> Result<(), BinaryPolicyError> {
        match arg {
            BinaryArg::OnlyBinary(value) => self.only_binary(value),
            BinaryArg::NoBinary(value) => self.no_binary(value),
            BinaryArg::PreferBinary => {
                self.prefer_binary = true;
                Ok(())
            }
        }
    }

    /// The policy after `args`, in order.
    pub fn from_args<'a>(
        args: impl IntoIterator<Item = &'a BinaryArg>,
    ) -> Result<Self, BinaryPolicyError> {
        let mut policy = BinaryPolicy::default();
        for arg in args {
            policy.apply(arg)?;
        }
        Ok(policy)
    }

    /// A stable description (for fingerprints and messages).
    pub fn describe(&self) -> String {
        let names = |set: &BTreeSet<PackageName>| {
            set.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "only-binary={}{}|no-binary={}{}|prefer-binary={}",
            if self.only_binary_all { ":all:," } else { "" },
            names(&self.only_binary),
            if self.no_binary_all { ":all:," } else { "" },
            names(&self.no_binary),
            self.prefer_binary
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrereleaseMode {
    Disallow,
    Allow,
    #[default]
    IfNecessaryOrExplicit,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no resolution for {target}:\n{report}")]
    NoSolution { target: String, report: String },
    #[error("{action} for {target}")]
    Source {
        action: String,
        target: String,
        #[source]
        source: SourceError,
    },
    #[error(
        "{file}: its metadata says {found_name} {found_version}, not what the filename says; the index serves inconsistent files"
    )]
    MetadataMismatch {
        file: String,
        found_name: String,
        found_version: String,
    },
}

/// A node in the PubGrub graph: uv's package model, so that decisions and conflicts line up
/// with uv's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    /// The requirements file itself.
    Root(String),
    /// The target's Python. Only a version whose Requires-Python excludes the target depends
    /// on it, and it has no versions: the rejection is then a conflict, as in uv.
    Python,
    Package(PackageName),
    /// A requirement on `name` under a marker (`foo; python_version >= '3.8'`): needs `name`
    /// in the same range, and once decided, `name` and its marker variant at its version.
    Marker(PackageName, MarkerTree),
    /// `name[extra]` as a requirement names it (under a marker, or the always-true one):
    /// needs `name` in the same range, and once decided, `name` and the extra's variant at
    /// its own version.
    Extra(PackageName, ExtraName, MarkerTree),
    /// `name` with an extra active, under a marker, or both: what that variant requires.
    Variant(PackageName, Option<ExtraName>, MarkerTree),
}

impl Node {
    pub fn name(&self) -> Option<&PackageName> {
        match self {
            Node::Root(_) | Node::Python => None,
            Node::Package(name)
            | Node::Marker(name, _)
            | Node::Extra(name, _, _)
            | Node::Variant(name, _, _) => Some(name),
        }
    }

    /// The package a proxy node stands for (`name` for `name[extra]` and marked `name`).
    pub fn base(&self) -> Option<Node> {
        match self {
            Node::Marker(name, _) | Node::Extra(name, _, _) => Some(Node::Package(name.clone())),
            _ => None,
        }
    }

    /// `name` with `extra` under `marker`: the plain package when neither applies.
    fn variant(name: &PackageName, extra: Option<&ExtraName>, marker: &MarkerTree) -> Node {
        if extra.is_none() && marker.is_true() {
            Node::Package(name.clone())
        } else {
            Node::Variant(name.clone(), extra.cloned(), marker.clone())
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Root(label) => write!(f, "{label}"),
            Node::Python => write!(f, "Python"),
            // Markers are the target's and hold: naming them would only add noise.
            Node::Package(name) | Node::Marker(name, _) | Node::Variant(name, None, _) => {
                write!(f, "{name}")
            }
            Node::Extra(name, extra, _) | Node::Variant(name, Some(extra), _) => {
                write!(f, "{name}[{extra}]")
            }
        }
    }
}

/// One package in a resolution.
#[derive(Debug, Clone)]
pub struct ResolvedPackage {
    pub name: PackageName,
    pub version: Version,
    pub extras: BTreeSet<ExtraName>,
    /// Names this package needs on this target (extras included).
    pub dependencies: BTreeSet<PackageName>,
    /// The file the target's installer would pick: a wheel, or the sdist it builds.
    pub dist: DistFile,
    /// Every file of this version on the index (the lock lists them).
    pub files: Vec<DistFile>,
    pub requires_python: Option<VersionSpecifiers>,
}

#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub packages: BTreeMap<PackageName, ResolvedPackage>,
    /// Names the requirements file asks for directly.
    pub roots: BTreeSet<PackageName>,
    /// Versions ruled out because their distribution was unusable (an sdist that does not
    /// build), with the reason: the caller says so, since another version was chosen.
    pub unusable: BTreeMap<(PackageName, Version), String>,
    /// Extras asked for that the chosen version does not declare (pip and uv ignore them,
    /// with a warning): the caller says so.
    pub missing_extras: Vec<(PackageName, Version, ExtraName)>,
}

#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    pub prerelease: PrereleaseMode,
    pub binary: BinaryPolicy,
}

/// Why a version of a project cannot be used for the target (more telling last).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rejection {
    /// Only an sdist, and building it is forbidden for this package.
    OnlySdist,
    /// Wheels only, and wheels are forbidden for this package (`--no-binary`).
    OnlyWheels,
    /// Only an sdist in a legacy archive format (`.tar.bz2`, `.tgz`, ...): uv does not build
    /// those (PEP 625 names `.tar.gz`), so neither does airlock.
    LegacySdist,
    NoCompatibleWheel,
    /// Yanked (PEP 592), and not pinned with `==`.
    Yanked,
    HashMismatch,
    /// Listed without a sha256 (or a sha384/sha512) digest: it could not be pinned.
    NoDigest,
}

impl Rejection {
    fn describe(&self, target: &Target) -> String {
        match self {
            Rejection::OnlySdist => {
                "only a source distribution, and --only-binary/--no-build forbids building it"
                    .to_string()
            }
            Rejection::OnlyWheels => {
                "only wheels, and --no-binary asks for a source build".to_string()
            }
            Rejection::LegacySdist => {
                "only a legacy sdist (not .tar.gz or .zip), which installers no longer build"
                    .to_string()
            }
            Rejection::NoCompatibleWheel => format!("no wheel for {target}"),
            Rejection::Yanked => "only yanked files (pin it with == to accept them)".to_string(),
            Rejection::HashMismatch => {
                "no file with a --hash given in the requirements".to_string()
            }
            Rejection::NoDigest => {
                "only files the index lists without a sha256 (or sha384/sha512) digest, which cannot be pinned"
                    .to_string()
            }
        }
    }
}

/// What the wheels of the versions in `range` are built for, as uv says it ("only has wheels
/// for: …"), and the nearest target that would take one: the same architecture with a newer
/// manylinux, or another Python version.
fn wheels_on_offer(files: &[DistFile], range: &Ranges<Version>, target: &Target) -> String {
    let mut tags: BTreeSet<String> = BTreeSet::new();
    let mut newer_glibc: Option<(u32, u32)> = None;
    let mut pythons: BTreeSet<String> = BTreeSet::new();
    let arch = target.platform.arch.linux_name();
    for file in files {
        let DistFilename::Wheel(wheel) = &file.kind else {
            continue;
        };
        if !range.contains(&wheel.version) {
            continue;
        }
        for (python, _, platform) in wheel.tags() {
            tags.insert(format!("{python}-{platform}"));
            if let Some(rest) = python.strip_prefix("cp")
                && rest.len() >= 2
            {
                pythons.insert(format!("{}.{}", &rest[..1], &rest[1..]));
            }
            let glibc = platform
                .strip_prefix("manylinux_")
                .and_then(|rest| rest.strip_suffix(&format!("_{arch}")))
                .and_then(|rest| rest.split_once('_'))
                .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
            if let Some(glibc) = glibc {
                newer_glibc = Some(newer_glibc.map_or(glibc, |known: (u32, u32)| known.min(glibc)));
            }
        }
    }
    if tags.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = tags.iter().take(6).map(String::as_str).collect();
    let more = tags.len().saturating_sub(shown.len());
    let mut said = format!(
        " (among its wheels: {}{})",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    let current = target.python_version.to_string();
    if let crate::python::target::Os::Manylinux { major, minor } = target.platform.os
        && let Some(glibc) = newer_glibc
        && glibc > (major, minor)
    {
        said.push_str(&format!(
            "; a target of {arch}-manylinux_{}_{} would take them",
            glibc.0, glibc.1
        ));
    } else if !pythons.is_empty() && !pythons.iter().any(|p| current.starts_with(p.as_str())) {
        said.push_str(&format!(
            "; they are built for Python {}",
            pythons.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    said
}

/// One version of a project, for the target.
#[derive(Debug, Clone)]
enum Candidate {
    /// The wheel the target installs, or the sdist it builds: its place in the project's
    /// files (candidates for two targets share the page, never copy it).
    Usable(u32),
    Unusable(Rejection),
}

/// The versions in `range`, highest first, found segment by segment: a range narrowed by many
/// conflicts has hundreds of segments, and testing every version against all of them made
/// picking the slowest part of a resolution.
fn descending<'c, 'r>(
    versions: &'c BTreeMap<Version, Candidate>,
    range: &'r Ranges<Version>,
) -> impl Iterator<Item = (&'c Version, &'c Candidate)> + use<'c, 'r> {
    use std::ops::Bound;
    range
        .iter()
        .rev()
        .filter(|(low, high)| match (low, high) {
            (Bound::Included(a), Bound::Included(b)) => a <= b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a < b
            }
            _ => true,
        })
        .flat_map(move |bounds| versions.range::<Version, _>(bounds).rev())
}

fn is_sdist(file: &DistFile) -> bool {
    matches!(file.kind, DistFilename::Sdist(_))
}

#[derive(Debug, Default)]
struct Candidates {
    /// Every version that has a wheel or an sdist, usable or not.
    versions: BTreeMap<Version, Candidate>,
    /// The same versions, sorted: what a widened range may span.
    known: Arc<[Version]>,
    files: Arc<ProjectFiles>,
}

impl Candidates {
    fn dist(&self, candidate: &Candidate) -> Option<&DistFile> {
        match candidate {
            Candidate::Usable(at) => self.files.files.get(*at as usize),
            Candidate::Unusable(_) => None,
        }
    }
}

/// Sorts a project's files into versions for a target, as uv's version map does: per version
/// the best wheel for the target (by tag rank), else its sdist (`.tar.gz` or `.zip`), else
/// why neither can be used. Requires-Python is not checked here: the chosen file's is, when
/// the version is chosen.
fn candidates_for(
    files: Arc<ProjectFiles>,
    tags: &Tags,
    hashes: Option<&HashSet<String>>,
    (allow_wheel, allow_sdist): (bool, bool),
    allowed_yanks: Option<&HashSet<Version>>,
    requires_digests: bool,
) -> Candidates {
    // Per version: the best wheel's (rank, place) and the sdist's place in `files`.
    let mut wheels: BTreeMap<Version, (u32, usize)> = BTreeMap::new();
    let mut sdists: BTreeMap<Version, usize> = BTreeMap::new();
    let mut rejected: BTreeMap<Version, Rejection> = BTreeMap::new();
    let mut seen: BTreeSet<Version> = BTreeSet::new();
    let hash_refused = |file: &DistFile| {
        hashes.is_some_and(|allowed| {
            !file
                .sha256
                .as_ref()
                .is_some_and(|h| allowed.contains(h.as_str()))
        })
    };
    let name_of = |at: usize| files.files[at].filename.as_str();
    for (at, file) in files.files.iter().enumerate() {
        let version = file.kind.version().clone();
        seen.insert(version.clone());
        let yanked =
            file.yanked && !allowed_yanks.is_some_and(|allowed| allowed.contains(&version));
        let rejection = match &file.kind {
            _ if requires_digests && !file.is_hashed() => Some(Rejection::NoDigest),
            DistFilename::Sdist(_) if !allow_sdist => Some(Rejection::OnlySdist),
            DistFilename::Sdist(_) => {
                let name = file.filename.as_str();
                if yanked {
                    Some(Rejection::Yanked)
                } else if !(name.ends_with(".tar.gz") || name.ends_with(".zip")) {
                    Some(Rejection::LegacySdist)
                } else if hash_refused(file) {
                    Some(Rejection::HashMismatch)
                } else {
                    // One sdist per version: .tar.gz (PEP 625) before .zip, then by name.
                    let key = |name: &str| (!name.ends_with(".tar.gz"), name.to_string());
                    if sdists
                        .get(&version)
                        .is_none_or(|&current| key(name) < key(name_of(current)))
                    {
                        sdists.insert(version.clone(), at);
                    }
                    None
                }
            }
            DistFilename::Wheel(_) if !allow_wheel => Some(Rejection::OnlyWheels),
            DistFilename::Wheel(wheel) => match tags.rank(wheel) {
                None => Some(Rejection::NoCompatibleWheel),
                Some(_) if yanked => Some(Rejection::Yanked),
                Some(_) if hash_refused(file) => Some(Rejection::HashMismatch),
                Some(rank) => {
                    // Lower rank wins; ties go to the file name, for determinism.
                    if wheels.get(&version).is_none_or(|&(r, current)| {
                        (rank, file.filename.as_str()) < (r, name_of(current))
                    }) {
                        wheels.insert(version.clone(), (rank, at));
                    }
                    None
                }
            },
        };
        if let Some(rejection) = rejection {
            // Keep the most telling reason: a wheel that exists but fails beats "only sdist".
            let entry = rejected.entry(version).or_insert(rejection.clone());
            if rejection > *entry {
                *entry = rejection;
            }
        }
    }
    let versions: BTreeMap<Version, Candidate> = seen
        .into_iter()
        .map(|version| {
            let candidate = match (wheels.remove(&version), sdists.remove(&version)) {
                (Some((_, wheel)), _) => Candidate::Usable(wheel as u32),
                (None, Some(sdist)) => Candidate::Usable(sdist as u32),
                (None, None) => Candidate::Unusable(
                    rejected
                        .remove(&version)
                        .expect("a version without a usable file has a rejected one"),
                ),
            };
            (version, candidate)
        })
        .collect();
    let known: Arc<[Version]> = versions.keys().cloned().collect();
    Candidates {
        versions,
        known,
        files,
    }
}

/// What prefetching knows of the target: enough to guess the resolver's next reads.
struct TargetSpeculation {
    tags: Arc<Tags>,
    python: Version,
    env: MarkerEnvironment,
    binary: BinaryPolicy,
    hashes: HashMap<PackageName, HashSet<String>>,
    allowed_yanks: HashMap<PackageName, HashSet<Version>>,
    requires_digests: bool,
    claimed: Mutex<HashSet<PackageName>>,
}

impl Speculation for TargetSpeculation {
    fn claim(&self, name: &PackageName) -> bool {
        self.claimed
            .lock()
            .expect("prefetch claims lock")
            .insert(name.clone())
    }

    fn pick(
        &self,
        name: &PackageName,
        files: &Arc<ProjectFiles>,
        range: &Ranges<Version>,
    ) -> Option<DistFile> {
        let candidates = candidates_for(
            files.clone(),
            &self.tags,
            self.hashes.get(name),
            self.binary.allows(name),
            self.allowed_yanks.get(name),
            self.requires_digests,
        );
        // An sdist's metadata may need a build: the source runs it in the background (as uv
        // does), bounded, while the resolver goes on.
        descending(&candidates.versions, range)
            .filter(|(v, _)| !v.any_prerelease())
            .find_map(|(_, c)| candidates.dist(c))
            .filter(|dist| {
                dist.requires_python
                    .as_ref()
                    .is_none_or(|r| r.contains(&self.python))
            })
            .cloned()
    }

    fn follow(&self, metadata: &CoreMetadata) -> Vec<(PackageName, Ranges<Version>)> {
        metadata
            .requires_dist
            .iter()
            .filter(|r| r.name != metadata.name && r.evaluate_markers(&self.env, &[]))
            .map(|r| (r.name.clone(), specifier_range(r)))
            .collect()
    }
}

/// The `Requires-Dist` entries, declared extras and Requires-Python of one version: the
/// source's own record, shared rather than copied (a backtracking resolution reads thousands).
type VersionMetadata = CoreMetadata;

struct Provider<'a> {
    source: &'a dyn PackageSource,
    target: &'a Target,
    tags: Arc<Tags>,
    env: MarkerEnvironment,
    python: Version,
    options: &'a ResolveOptions,
    root: Node,
    root_dependencies: Vec<(Node, Ranges<Version>)>,
    constraints: HashMap<PackageName, Ranges<Version>>,
    hashes: HashMap<PackageName, HashSet<String>>,
    /// Versions pinned with `==`: their yanked files are usable (PEP 592).
    allowed_yanks: HashMap<PackageName, HashSet<Version>>,
    candidates: RefCell<HashMap<PackageName, Arc<Candidates>>>,
    metadata: RefCell<HashMap<(PackageName, Version), Arc<VersionMetadata>>>,
    priorities: RefCell<solver::Priorities>,
    speculation: Arc<TargetSpeculation>,
    /// Per name, the versions decided so far and how many had been when metadata was last
    /// fetched ahead in a batch.
    tried: RefCell<HashMap<PackageName, (HashSet<Version>, usize)>>,
    reasons: RefCell<BTreeMap<PackageName, String>>,
    unusable: RefCell<BTreeMap<(PackageName, Version), String>>,
}

/// The versions `==` (or `===`) pins name: their yanked files are usable (PEP 592).
fn exact_pins(requirement: &Requirement) -> Vec<Version> {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers
            .iter()
            .filter(|s| matches!(s.operator(), Operator::Equal | Operator::ExactEqual))
            .map(|s| s.version().clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// A package's dependencies in the order its metadata (or the requirements file) lists them,
/// each node once with its ranges intersected. The order is the discovery order the decision
/// priority uses, as uv does: requirements-file order, then Requires-Dist order.
#[derive(Debug, Clone, Default)]
struct DependencyMap {
    entries: Vec<(Node, Ranges<Version>)>,
    index: HashMap<Node, usize>,
}

impl DependencyMap {
    /// Adds `node` with `range`, or narrows the range it already has.
    fn merge(&mut self, node: Node, range: Ranges<Version>) {
        match self.index.get(&node) {
            Some(&at) => {
                let existing = &mut self.entries[at].1;
                *existing = existing.intersection(&range);
            }
            None => {
                self.index.insert(node.clone(), self.entries.len());
                self.entries.push((node, range));
            }
        }
    }
}

/// Adds `requirement` (already known to apply) to a dependency map as uv models it: one
/// extra node per extra (each brings the package itself), a marker node for a requirement
/// under a marker, else the package. Extra clauses are taken out of the marker first.
fn add_dependency(
    map: &mut DependencyMap,
    requirement: &Requirement,
    constraints: &HashMap<PackageName, Ranges<Version>>,
) {
    let mut range = specifier_range(requirement);
    if let Some(constraint) = constraints.get(&requirement.name) {
        range = range.intersection(constraint);
    }
    let marker = requirement.marker.clone().simplify_extras_with(|_| true);
    let name = &requirement.name;
    if requirement.extras.is_empty() {
        let node = if marker.is_true() {
            Node::Package(name.clone())
        } else {
            Node::Marker(name.clone(), marker)
        };
        map.merge(node, range);
        return;
    }
    for extra in &requirement.extras {
        map.merge(
            Node::Extra(name.clone(), extra.clone(), marker.clone()),
            range.clone(),
        );
    }
}

impl Provider<'_> {
    fn candidates(&self, name: &PackageName) -> Result<Arc<Candidates>, SourceError> {
        if let Some(found) = self.candidates.borrow().get(name) {
            return Ok(found.clone());
        }
        let files = self.source.project(name)?;
        let candidates = Arc::new(candidates_for(
            files,
            &self.tags,
            self.hashes.get(name),
            self.options.binary.allows(name),
            self.allowed_yanks.get(name),
            self.source.requires_digests(),
        ));
        self.candidates
            .borrow_mut()
            .insert(name.clone(), candidates.clone());
        Ok(candidates)
    }

    /// The version to try for `name` in `range`, uv's way: the highest in range, stable
    /// versions first unless pre-releases are allowed (then pre-releases only when no stable
    /// version is left in range), whether or not it can be used (the solver then rules it
    /// out and asks again). With pip's `--prefer-binary`, the highest version with a wheel
    /// comes before a newer sdist.
    fn pick<'c>(
        &self,
        candidates: &'c Candidates,
        range: &Ranges<Version>,
    ) -> Option<(&'c Version, &'c Candidate)> {
        let stable_passes: &[Option<bool>] = match self.options.prerelease {
            PrereleaseMode::Allow => &[None],
            PrereleaseMode::Disallow => &[Some(true)],
            PrereleaseMode::IfNecessaryOrExplicit => &[Some(true), Some(false)],
        };
        // With pip's --prefer-binary, versions that have a wheel come first.
        let wheel_passes: &[bool] = if self.options.binary.prefer_binary {
            &[true, false]
        } else {
            &[false]
        };
        for &wheel_only in wheel_passes {
            for &stable in stable_passes {
                let found = descending(&candidates.versions, range).find(|(version, candidate)| {
                    stable.is_none_or(|stable| stable != version.any_prerelease())
                        && (!wheel_only || candidates.dist(candidate).is_some_and(|d| !is_sdist(d)))
                });
                if found.is_some() {
                    return found;
                }
            }
        }
        None
    }

    fn select_version(
        &self,
        name: &PackageName,
        range: &Ranges<Version>,
    ) -> Result<solver::Selection, ResolveError> {
        let candidates = self
            .candidates(name)
            .map_err(|source| self.source_error(name, source))?;
        let Some((version, candidate)) = self.pick(&candidates, range) else {
            let reason = self.explain(name, &candidates, range);
            self.reasons.borrow_mut().insert(name.clone(), reason);
            return Ok(solver::Selection::None);
        };
        Ok(match candidate {
            Candidate::Unusable(rejection) => {
                let offer = if *rejection == Rejection::NoCompatibleWheel {
                    wheels_on_offer(
                        &candidates.files.files,
                        &Ranges::singleton(version.clone()),
                        self.target,
                    )
                } else {
                    String::new()
                };
                solver::Selection::Unavailable(
                    version.clone(),
                    format!(
                        "{name} {version} has {}{offer}",
                        rejection.describe(self.target)
                    ),
                )
            }
            Candidate::Usable(_) => match &candidates
                .dist(candidate)
                .expect("a usable candidate names a file")
                .requires_python
            {
                Some(requires) if !requires.contains(&self.python) => {
                    solver::Selection::RequiresPython(
                        version.clone(),
                        super::requirements::specifiers_range(requires),
                    )
                }
                _ => solver::Selection::Version(version.clone()),
            },
        })
    }

    /// Explains why no version of `name` in `range` was acceptable.
    fn explain(
        &self,
        name: &PackageName,
        candidates: &Candidates,
        range: &Ranges<Version>,
    ) -> String {
        if candidates.files.files.is_empty() {
            let files = &candidates.files;
            if files.rejected_count > 0 {
                // The page is there; what it lists was refused. Say so, with the reasons.
                let shown: Vec<String> = files
                    .rejected
                    .iter()
                    .take(3)
                    .map(|refused| format!("\n    {} ({})", refused.file, refused.reason))
                    .collect();
                let more = files.rejected_count.saturating_sub(shown.len());
                return format!(
                    "{name} was found in {}, but all {} of its file(s) were refused:{}{}",
                    self.source.describe(),
                    files.rejected_count,
                    shown.concat(),
                    if more > 0 {
                        format!("\n    and {more} more")
                    } else {
                        String::new()
                    }
                );
            }
            return format!("{name} was not found in {}", self.source.describe());
        }
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (version, candidate) in &candidates.versions {
            if !range.contains(version) {
                continue;
            }
            let reason = match candidate {
                Candidate::Unusable(Rejection::NoCompatibleWheel) => format!(
                    "{}{}",
                    Rejection::NoCompatibleWheel.describe(self.target),
                    wheels_on_offer(&candidates.files.files, range, self.target)
                ),
                Candidate::Unusable(rejection) => rejection.describe(self.target),
                Candidate::Usable(_) => match candidates
                    .dist(candidate)
                    .and_then(|dist| dist.requires_python.as_ref())
                {
                    Some(requires) if !requires.contains(&self.python) => {
                        format!("files that need Python {requires}, not {}", self.python)
                    }
                    _ if version.any_prerelease() => "pre-releases (allow with --prerelease allow, or name a pre-release in a specifier)".to_string(),
                    _ => continue,
                },
            };
            groups.entry(reason).or_default().push(version.to_string());
        }
        if groups.is_empty() {
            return format!(
                "{name} has no version in {range} in {}",
                self.source.describe()
            );
        }
        let parts: Vec<String> = groups
            .into_iter()
            .map(|(reason, mut versions)| {
                versions.reverse();
                let shown = versions.len().min(5);
                let more = if versions.len() > shown {
                    format!(" and {} more", versions.len() - shown)
                } else {
                    String::new()
                };
                format!("{}{more} have {reason}", versions[..shown].join(", "))
            })
            .collect();
        format!("{name} {range}: {}", parts.join("; "))
    }

    fn metadata_of(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<VersionMetadata>, ResolveError> {
        let key = (name.clone(), version.clone());
        if let Some(found) = self.metadata.borrow().get(&key) {
            return Ok(found.clone());
        }
        let candidates = self
            .candidates(name)
            .map_err(|source| self.source_error(name, source))?;
        let dist = candidates
            .versions
            .get(version)
            .and_then(|candidate| candidates.dist(candidate))
            .expect("only usable versions are decided");
        let metadata = if is_sdist(dist) {
            self.source
                .sdist_info(dist)
                .map(|info| info.metadata.clone())
        } else {
            self.source.metadata(dist)
        }
        .map_err(|source| ResolveError::Source {
            action: format!("reading the metadata of {}", dist.filename),
            target: self.target.to_string(),
            source,
        })?;
        if metadata.name != *name || metadata.version != *version {
            return Err(ResolveError::MetadataMismatch {
                file: dist.filename.to_string(),
                found_name: metadata.name.to_string(),
                found_version: metadata.version.to_string(),
            });
        }
        self.metadata.borrow_mut().insert(key, metadata.clone());
        Ok(metadata)
    }

    fn source_error(&self, name: &PackageName, source: SourceError) -> ResolveError {
        ResolveError::Source {
            action: format!("listing the files of {name}"),
            target: self.target.to_string(),
            source,
        }
    }

    /// Starts fetching what the resolver will most likely ask for next: the project page of
    /// each new name, the metadata of the file it would pick, and so on down that file's own
    /// requirements (a resolution otherwise waits a round trip or two per level of the tree).
    fn prefetch(&self, dependencies: &[(Node, Ranges<Version>)]) {
        for (node, range) in dependencies {
            let Some(name) = node.name() else {
                continue;
            };
            if self.speculation.claim(name) {
                self.source
                    .prefetch(name, range.clone(), self.speculation.clone(), 3);
            }
        }
    }

    /// The metadata's dependencies of `name` `version` that apply on the target (with
    /// `extra` active, only those the extra adds), constraints applied.
    fn dependencies_of(
        &self,
        name: &PackageName,
        version: &Version,
        extra: Option<&ExtraName>,
    ) -> Result<solver::NodeDependencies, ResolveError> {
        let metadata = match self.metadata_of(name, version) {
            Ok(metadata) => metadata,
            Err(ResolveError::Source { action, source, .. }) if source.unusable => {
                let reason = format!("{action}: {}", error_summary(&source));
                self.unusable
                    .borrow_mut()
                    .insert((name.clone(), version.clone()), reason.clone());
                return Ok(solver::NodeDependencies::Unavailable(reason));
            }
            Err(error) => return Err(error),
        };
        // Requires-Python from the metadata counts like the index page's, for pages that do
        // not carry it.
        if let Some(requires) = &metadata.requires_python
            && !requires.contains(&self.python)
        {
            return Ok(solver::NodeDependencies::Unavailable(format!(
                "{name} {version} needs Python {requires} (its metadata says), not {}",
                self.python
            )));
        }
        let mut map = DependencyMap::default();
        let Some(extra) = extra else {
            for requirement in &metadata.requires_dist {
                if requirement.name != *name && requirement.evaluate_markers(&self.env, &[]) {
                    add_dependency(&mut map, requirement, &self.constraints);
                }
            }
            return Ok(solver::NodeDependencies::Available(map.entries));
        };
        // pip and uv ignore an extra the metadata does not declare (with a warning);
        // resolving its marker-gated requirements anyway would lock what they skip.
        if !metadata.provides_extra.contains(extra) {
            return Ok(solver::NodeDependencies::Available(Vec::new()));
        }
        // The extra's own requirements, and those of the extras it pulls in of the same
        // package (`foo[all]` requiring `foo[a,b]`), flattened as uv flattens them.
        let mut queue = vec![extra.clone()];
        let mut seen = HashSet::new();
        while let Some(current) = queue.pop() {
            if !seen.insert(current.clone()) {
                continue;
            }
            for requirement in &metadata.requires_dist {
                let applies =
                    requirement.evaluate_markers(&self.env, std::slice::from_ref(&current));
                if !applies || requirement.evaluate_markers(&self.env, &[]) {
                    continue;
                }
                if requirement.name == *name {
                    queue.extend(requirement.extras.iter().cloned());
                    let range = specifier_range(requirement);
                    if range != Ranges::full() {
                        map.merge(Node::Package(name.clone()), range);
                    }
                } else {
                    add_dependency(&mut map, requirement, &self.constraints);
                }
            }
        }
        Ok(solver::NodeDependencies::Available(map.entries))
    }
}

impl solver::Oracle for Provider<'_> {
    fn select(
        &self,
        node: &Node,
        range: &Ranges<Version>,
    ) -> Result<solver::Selection, ResolveError> {
        match node {
            Node::Root(_) => Ok(solver::Selection::Version(Version::new([0]))),
            // Only versions that exclude the target depend on it: there is no version.
            Node::Python => Ok(solver::Selection::None),
            Node::Package(name)
            | Node::Marker(name, _)
            | Node::Extra(name, _, _)
            | Node::Variant(name, _, _) => self.select_version(name, range),
        }
    }

    fn dependencies(
        &self,
        node: &Node,
        version: &Version,
    ) -> Result<solver::NodeDependencies, ResolveError> {
        match node {
            Node::Root(_) => Ok(solver::NodeDependencies::Available(
                self.root_dependencies.clone(),
            )),
            Node::Python => Ok(solver::NodeDependencies::Available(Vec::new())),
            Node::Package(name) => self.dependencies_of(name, version, None),
            Node::Variant(name, extra, _) => self.dependencies_of(name, version, extra.as_ref()),
            // A proxy pins the package and its variant to its own version.
            Node::Marker(name, marker) => {
                let exact = Ranges::singleton(version.clone());
                Ok(solver::NodeDependencies::Available(vec![
                    (Node::Package(name.clone()), exact.clone()),
                    (Node::variant(name, None, marker), exact),
                ]))
            }
            Node::Extra(name, extra, marker) => {
                let exact = Ranges::singleton(version.clone());
                let mut dependencies = Vec::new();
                for under in [MarkerTree::TRUE, marker.clone()] {
                    for with in [None, Some(extra)] {
                        let node = Node::variant(name, with, &under);
                        if !dependencies.iter().any(|(n, _)| *n == node) {
                            dependencies.push((node, exact.clone()));
                        }
                    }
                }
                Ok(solver::NodeDependencies::Available(dependencies))
            }
        }
    }

    fn known_versions(&self, node: &Node) -> Option<Arc<[Version]>> {
        let name = node.name()?;
        self.candidates
            .borrow()
            .get(name)
            .map(|candidates| candidates.known.clone())
    }

    fn priorities(&self) -> &RefCell<solver::Priorities> {
        &self.priorities
    }

    fn discovered(&self, dependencies: &[(Node, Ranges<Version>)]) {
        self.prefetch(dependencies);
    }

    /// After 5, 10 and 20 versions of one package were decided, and every 20 more, fetch the
    /// metadata of the next versions the solver will likely try (as many as were tried, at
    /// most 50), as uv does: a package with hundreds of releases (botocore) otherwise waits
    /// for one metadata file at a time.
    fn decided(
        &self,
        node: &Node,
        version: &Version,
        range: &Ranges<Version>,
        settled: Option<&Ranges<Version>>,
    ) {
        let Node::Package(name) = node else {
            return;
        };
        let (tried, batch) = {
            let mut all = self.tried.borrow_mut();
            let (versions, last) = all.entry(name.clone()).or_default();
            let tried = versions.len();
            let due = (tried >= 3 && *last < 3)
                || (tried >= 10 && *last < 10)
                || (tried >= 10 && tried - *last >= 10);
            versions.insert(version.clone());
            if due {
                *last = tried;
            }
            (tried, due)
        };
        if !batch {
            return;
        }
        let Some(candidates) = self.candidates.borrow().get(name).cloned() else {
            return;
        };
        // First the versions still in range below this one, then, when those run out, every
        // lower version that the constraints that cannot change still allow.
        let lower = {
            let below = Ranges::strictly_lower_than(version.clone());
            let below = match settled {
                Some(settled) => below.intersection(settled),
                None => below,
            };
            below.difference(range)
        };
        let wanted = (tried * 8).clamp(50, 400);
        let files = &candidates.files.files;
        let places: Vec<u32> = descending(&candidates.versions, range)
            .chain(descending(&candidates.versions, &lower))
            .filter(|(v, _)| !v.any_prerelease())
            .take(wanted)
            .filter_map(|(_, candidate)| match candidate {
                Candidate::Usable(at) => Some(*at),
                Candidate::Unusable(_) => None,
            })
            // Wheels only (an sdist's metadata may need a build), and only for this Python.
            .filter(|&at| {
                let dist = &files[at as usize];
                !is_sdist(dist)
                    && dist
                        .requires_python
                        .as_ref()
                        .is_none_or(|r| r.contains(&self.python))
            })
            .collect();
        self.source
            .prefetch_metadata(candidates.files.clone(), places);
    }
}

/// The same answers through pubgrub's own interface (its stock `resolve` loop runs on it
/// too, though airlock drives the state itself to decide in uv's order).
impl DependencyProvider for Provider<'_> {
    type P = Node;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Priority = solver::Priority;
    type Err = ResolveError;

    fn prioritize(
        &self,
        package: &Node,
        _range: &Ranges<Version>,
        _statistics: &PackageResolutionStatistics,
    ) -> Self::Priority {
        self.priorities.borrow().get(package)
    }

    fn choose_version(
        &self,
        package: &Node,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, ResolveError> {
        use solver::Oracle;
        Ok(match self.select(package, range)? {
            solver::Selection::Version(version) => Some(version),
            _ => None,
        })
    }

    fn get_dependencies(
        &self,
        package: &Node,
        version: &Version,
    ) -> Result<Dependencies<Node, Ranges<Version>, String>, ResolveError> {
        use solver::Oracle;
        Ok(match self.dependencies(package, version)? {
            solver::NodeDependencies::Available(dependencies) => {
                Dependencies::Available(dependencies.into_iter().collect())
            }
            solver::NodeDependencies::Unavailable(reason) => Dependencies::Unavailable(reason),
        })
    }
}

/// An error on one line: the first line of each message in its chain, and the last line of
/// the innermost one (where a build log ends with the exception), enough to say why a
/// distribution was ruled out without the whole log.
fn error_summary(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    let mut innermost = error.to_string();
    while let Some(e) = current {
        let text = e.to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .trim_end_matches(':')
            .to_string();
        if !first.is_empty() && parts.last() != Some(&first) {
            parts.push(first);
        }
        innermost = text;
        current = e.source();
    }
    let last = innermost
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if innermost.lines().count() > 1 && !last.is_empty() {
        parts.push(last.to_string());
    }
    parts.join(": ")
}

/// Resolves `requirements` (with `constraints`) for one target.
pub fn resolve(
    source: &dyn PackageSource,
    label: &str,
    requirements: &[RequirementLine],
    constraints: &[RequirementLine],
    target: &Target,
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let env = target.marker_environment();
    let applies = |line: &&RequirementLine| line.requirement.evaluate_markers(&env, &[]);
    let mut constraint_ranges: HashMap<PackageName, Ranges<Version>> = HashMap::new();
    for line in constraints.iter().filter(applies) {
        let range = specifier_range(&line.requirement);
        constraint_ranges
            .entry(line.requirement.name.clone())
            .and_modify(|existing| *existing = existing.intersection(&range))
            .or_insert(range);
    }
    let mut root_map = DependencyMap::default();
    let mut hashes: HashMap<PackageName, HashSet<String>> = HashMap::new();
    let mut allowed_yanks: HashMap<PackageName, HashSet<Version>> = HashMap::new();
    let mut roots = BTreeSet::new();
    for line in requirements.iter().chain(constraints).filter(applies) {
        let name = &line.requirement.name;
        for version in exact_pins(&line.requirement) {
            allowed_yanks
                .entry(name.clone())
                .or_default()
                .insert(version);
        }
        if !line.hashes.is_empty() {
            hashes
                .entry(name.clone())
                .or_default()
                .extend(line.hashes.iter().cloned());
        }
    }
    for line in requirements.iter().filter(applies) {
        roots.insert(line.requirement.name.clone());
        add_dependency(&mut root_map, &line.requirement, &constraint_ranges);
    }
    let provider = Provider {
        source,
        target,
        tags: Arc::new(target.tags()),
        python: target.python_version.full_version(),
        env,
        options,
        root: Node::Root(label.to_string()),
        root_dependencies: root_map.entries.clone(),
        constraints: constraint_ranges,
        hashes: hashes.clone(),
        allowed_yanks: allowed_yanks.clone(),
        candidates: RefCell::default(),
        metadata: RefCell::default(),
        priorities: RefCell::default(),
        speculation: Arc::new(TargetSpeculation {
            tags: Arc::new(target.tags()),
            python: target.python_version.full_version(),
            env: target.marker_environment(),
            binary: options.binary.clone(),
            hashes: hashes.clone(),
            allowed_yanks: allowed_yanks.clone(),
            requires_digests: source.requires_digests(),
            claimed: Mutex::default(),
        }),
        tried: RefCell::default(),
        reasons: RefCell::default(),
        unusable: RefCell::default(),
    };
    provider.prefetch(&root_map.entries);
    let selected = match solver::solve(&provider, provider.root.clone()) {
        Ok(selected) => selected,
        Err(solver::SolveFailure::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            let explainer = super::explain::Explainer {
                python: target.python_version.to_string(),
            };
            let mut report = DefaultStringReporter::report_with_formatter(&tree, &explainer);
            let involved: BTreeSet<PackageName> = tree
                .packages()
                .into_iter()
                .filter_map(|node| node.name().cloned())
                .collect();
            for (name, reason) in provider.reasons.borrow().iter() {
                if involved.contains(name) {
                    report.push_str(&format!("\nhint: {reason}"));
                }
            }
            let lines: Vec<String> = requirements
                .iter()
                .chain(constraints)
                .filter(|line| involved.contains(&line.requirement.name))
                .map(|line| format!("\n  {}: {}", line.location, line.requirement))
                .collect();
            if !lines.is_empty() {
                report.push_str("\nrequirement lines involved:");
                report.extend(lines);
            }
            return Err(ResolveError::NoSolution {
                target: target.to_string(),
                report,
            });
        }
        Err(solver::SolveFailure::Error(error)) => return Err(error),
    };
    let mut resolution = Resolution {
        roots,
        unusable: provider.unusable.take(),
        ..Resolution::default()
    };
    let mut extras: HashMap<PackageName, BTreeSet<ExtraName>> = HashMap::new();
    for (node, _) in &selected {
        if let Node::Extra(name, extra, _) | Node::Variant(name, Some(extra), _) = node {
            extras
                .entry(name.clone())
                .or_default()
                .insert(extra.clone());
        }
    }
    for (node, version) in &selected {
        let Node::Package(name) = node else {
            continue;
        };
        let package_extras = extras.remove(name).unwrap_or_default();
        if !package_extras.is_empty() {
            let metadata = provider.metadata_of(name, version)?;
            for extra in &package_extras {
                if !metadata.provides_extra.contains(extra) {
                    resolution
                        .missing_extras
                        .push((name.clone(), version.clone(), extra.clone()));
                }
            }
        }
        let mut dependencies = BTreeSet::new();
        let active = std::iter::once(None).chain(package_extras.iter().map(Some));
        for extra in active {
            let solver::NodeDependencies::Available(found) =
                provider.dependencies_of(name, version, extra)?
            else {
                unreachable!("a decided version's dependencies were available");
            };
            for (dependency, _) in &found {
                if let Some(dependency_name) = dependency.name()
                    && dependency_name != name
                {
                    dependencies.insert(dependency_name.clone());
                }
            }
        }
        let candidates = provider
            .candidates(name)
            .map_err(|source| provider.source_error(name, source))?;
        let dist = candidates
            .dist(&candidates.versions[version])
            .expect("a decided version is usable")
            .clone();
        let files = candidates
            .files
            .files
            .iter()
            .filter(|file| file.kind.version() == version)
            .cloned()
            .collect();
        resolution.packages.insert(
            name.clone(),
            ResolvedPackage {
                name: name.clone(),
                version: version.clone(),
                extras: package_extras,
                dependencies,
                requires_python: dist.requires_python.as_deref().cloned(),
                dist,
                files,
            },
        );
    }
    Ok(resolution)
}

/// What building one sdist needs on one target.
#[derive(Debug, Clone)]
pub struct BuildResolution {
    pub sdist: DistFile,
    pub origin: MetadataOrigin,
    pub built_on: Option<Target>,
    pub metadata: Arc<CoreMetadata>,
    /// `[build-system] requires` plus what the backend asked for.
    pub requires: Vec<Requirement>,
    /// Those requirements resolved for the target: the build environment's contents.
    pub resolution: Resolution,
}

/// Resolves, for `target`, the build environment of every sdist `resolution` builds, and of
/// every sdist those environments build in turn (a build requirement published only as an
/// sdist, as flit_core once was). Keyed by sdist file name.
pub fn resolve_builds(
    source: &dyn PackageSource,
    resolution: &Resolution,
    target: &Target,
    options: &ResolveOptions,
) -> Result<BTreeMap<String, BuildResolution>, ResolveError> {
    let is_sdist = |file: &DistFile| matches!(file.kind, DistFilename::Sdist(_));
    let mut queue: Vec<DistFile> = resolution
        .packages
        .values()
        .map(|p| p.dist.clone())
        .filter(is_sdist)
        .collect();
    let mut builds = BTreeMap::new();
    // Most sdists ask for the same backend (setuptools and wheel): one resolution serves all
    // that ask for the same requirements.
    let mut by_requirements: HashMap<Vec<String>, Resolution> = HashMap::new();
    while let Some(sdist) = queue.pop() {
        if builds.contains_key(sdist.filename.as_str()) {
            continue;
        }
        let info = source
            .sdist_info(&sdist)
            .map_err(|source| ResolveError::Source {
                action: format!("preparing the build of {}", sdist.filename),
                target: target.to_string(),
                source,
            })?;
        let label = format!("{} [build-system]", sdist.filename);
        let lines: Vec<RequirementLine> = info
            .build_requires
            .iter()
            .enumerate()
            .map(|(index, requirement)| RequirementLine {
                requirement: requirement.clone(),
                hashes: Vec::new(),
                location: super::requirements::Location {
                    file: std::path::PathBuf::from(&label),
                    line: index + 1,
                },
            })
            .collect();
        let key: Vec<String> = info
            .build_requires
            .iter()
            .map(ToString::to_string)
            .collect();
        let build = match by_requirements.get(&key) {
            Some(found) => found.clone(),
            None => {
                let build = resolve(source, &label, &lines, &[], target, options)?;
                by_requirements.insert(key, build.clone());
                build
            }
        };
        queue.extend(
            build
                .packages
                .values()
                .map(|p| p.dist.clone())
                .filter(is_sdist),
        );
        builds.insert(
            sdist.filename.to_string(),
            BuildResolution {
                sdist,
                origin: info.origin,
                built_on: info.built_on.clone(),
                metadata: info.metadata.clone(),
                requires: info.build_requires.clone(),
                resolution: build,
            },
        );
    }
    Ok(builds)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::python::simple::CoreMetadataFile;
    use std::path::PathBuf;
    use std::str::FromStr;
    use url::Url;

    /// An in-memory index: project -> [(filename, requires-python, yanked, Requires-Dist lines)].
    #[derive(Default)]
    pub(crate) struct MemorySource {
        projects: HashMap<PackageName, Vec<(DistFile, Vec<String>)>>,
        /// sdist file name -> its build requirements.
        build_requires: HashMap<String, Vec<String>>,
        /// sdists whose build fails.
        broken: HashSet<String>,
    }

    impl MemorySource {
        /// Makes building `sdist` fail.
        pub(crate) fn fails_to_build(&mut self, sdist: &str) -> &mut Self {
            self.broken.insert(sdist.to_string());
            self
        }

        /// Sets what building `sdist` needs (default: nothing).
        pub(crate) fn builds_with(&mut self, sdist: &str, requires: &[&str]) -> &mut Self {
            self.build_requires.insert(
                sdist.to_string(),
                requires.iter().map(|r| r.to_string()).collect(),
            );
            self
        }

        pub(crate) fn add(&mut self, filename: &str, requires_dist: &[&str]) -> &mut Self {
            self.add_file(filename, None, false, requires_dist)
        }

        pub(crate) fn add_file(
            &mut self,
            filename: &str,
            requires_python: Option<&str>,
            yanked: bool,
            requires_dist: &[&str],
        ) -> &mut Self {
            let kind = DistFilename::parse(filename).expect("test filenames parse");
            let file = DistFile {
                filename: filename.parse().unwrap(),
                url: Url::parse(&format!("http://127.0.0.1:9/files/{filename}")).unwrap(),
                sha256: Some(format!("{:0>64}", filename.len()).parse().unwrap()),
                other_hash: None,
                requires_python: requires_python
                    .map(|r| Arc::new(VersionSpecifiers::from_str(r).unwrap())),
                yanked,
                yanked_reason: None,
                size: Some(1),
                upload_time: None,
                core_metadata: CoreMetadataFile::Present { sha256: None },
                kind: kind.clone(),
                index: Some("http://127.0.0.1:9/simple/".into()),
            };
            self.projects
                .entry(kind.name().clone())
                .or_default()
                .push((file, requires_dist.iter().map(|s| s.to_string()).collect()));
            self
        }
    }

    impl PackageSource for MemorySource {
        fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, SourceError> {
            Ok(Arc::new(ProjectFiles {
                files: self
                    .projects
                    .get(name)
                    .map(|files| files.iter().map(|(f, _)| f.clone()).collect())
                    .unwrap_or_default(),
                ..ProjectFiles::default()
            }))
        }

        fn metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError> {
            let (_, requires) = self.projects[file.kind.name()]
                .iter()
                .find(|(f, _)| f.filename == file.filename)
                .unwrap();
            let mut text = format!(
                "Name: {}\nVersion: {}\n",
                file.kind.name(),
                file.kind.version()
            );
            for requirement in requires {
                text.push_str(&format!("Requires-Dist: {requirement}\n"));
                // Declare the extras the markers use, as real metadata does; projects named
                // `undeclared*` leave them out, to test what installers do then.
                if let Some((_, rest)) = requirement.split_once("extra == '")
                    && let Some((extra, _)) = rest.split_once('\'')
                    && !file.kind.name().as_ref().starts_with("undeclared")
                {
                    text.push_str(&format!("Provides-Extra: {extra}\n"));
                }
            }
            Ok(Arc::new(CoreMetadata::parse(text.as_bytes()).unwrap()))
        }

        fn sdist_info(&self, file: &DistFile) -> Result<Arc<SdistInfo>, SourceError> {
            if self.broken.contains(file.filename.as_str()) {
                return Err(SourceError::unusable(std::io::Error::other(
                    "the backend failed",
                )));
            }
            Ok(Arc::new(SdistInfo {
                metadata: self.metadata(file)?,
                build_requires: self
                    .build_requires
                    .get(file.filename.as_str())
                    .into_iter()
                    .flatten()
                    .map(|r| Requirement::from_str(r).unwrap())
                    .collect(),
                origin: MetadataOrigin::Static,
                built_on: None,
            }))
        }
    }

    fn lines(text: &[&str]) -> Vec<RequirementLine> {
        text.iter()
            .enumerate()
            .map(|(index, line)| RequirementLine {
                requirement: Requirement::from_str(line).unwrap(),
                hashes: Vec::new(),
                location: super::super::requirements::Location {
                    file: PathBuf::from("requirements.in"),
                    line: index + 1,
                },
            })
            .collect()
    }

    fn target() -> Target {
        Target::new("3.12", "x86_64-manylinux_2_36").unwrap()
    }

    fn name(text: &str) -> PackageName {
        PackageName::from_str(text).unwrap()
    }

    fn pins(source: &MemorySource, requirements: &[&str]) -> Vec<String> {
        pins_with(source, requirements, &[])
    }

    fn policy(args: &[BinaryArg]) -> ResolveOptions {
        ResolveOptions {
            binary: BinaryPolicy::from_args(args).unwrap(),
            ..ResolveOptions::default()
        }
    }

    fn resolution_of(
        source: &MemorySource,
        requirements: &[&str],
        args: &[BinaryArg],
    ) -> Resolution {
        resolve(
            source,
            "requirements.in",
            &lines(requirements),
            &[],
            &target(),
            &policy(args),
        )
        .unwrap()
    }

    fn pins_with(source: &MemorySource, requirements: &[&str], args: &[BinaryArg]) -> Vec<String> {
        let resolution = resolution_of(source, requirements, args);
        resolution
            .packages
            .values()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect()
    }

    fn failure(source: &MemorySource, requirements: &[&str]) -> String {
        failure_with(source, requirements, &[])
    }

    fn failure_with(source: &MemorySource, requirements: &[&str], args: &[BinaryArg]) -> String {
        resolve(
            source,
            "requirements.in",
            &lines(requirements),
            &[],
            &target(),
            &policy(args),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn picks_highest_compatible_versions_and_evaluates_markers_for_the_target() {
        let mut source = MemorySource::default();
        source
            .add(
                "app-1.0-py3-none-any.whl",
                &[
                    "lib>=1",
                    "winonly ; sys_platform == 'win32'",
                    "old ; python_version < '3.9'",
                ],
            )
            .add("lib-1.0-py3-none-any.whl", &[])
            .add("lib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", &[])
            .add("lib-3.0-cp312-cp312-manylinux_2_39_x86_64.whl", &[])
            .add("lib-4.0.tar.gz", &[]);
        // As uv and pip do by default: the newest version, built from its sdist.
        assert_eq!(pins(&source, &["app"]), ["app==1.0", "lib==4.0"]);
        let only_binary = [BinaryArg::OnlyBinary(":all:".into())];
        assert_eq!(
            pins_with(&source, &["app"], &only_binary),
            ["app==1.0", "lib==2.0"]
        );
    }

    #[test]
    fn binary_switches_follow_pip() {
        let mut source = MemorySource::default();
        source
            .add("lib-1.0-py3-none-any.whl", &[])
            .add("lib-1.0.tar.gz", &[])
            .add("lib-2.0.tar.gz", &["dep"])
            .add("dep-1.0-py3-none-any.whl", &[])
            .add("wheelonly-1.0-py3-none-any.whl", &[]);
        let resolve_lib = |args: &[BinaryArg]| {
            let resolution = resolution_of(&source, &["lib"], args);
            let lib = &resolution.packages[&PackageName::from_str("lib").unwrap()];
            format!("{} {}", lib.version, lib.dist.filename)
        };
        assert_eq!(resolve_lib(&[]), "2.0 lib-2.0.tar.gz");
        assert_eq!(
            resolve_lib(&[BinaryArg::PreferBinary]),
            "1.0 lib-1.0-py3-none-any.whl"
        );
        assert_eq!(
            resolve_lib(&[BinaryArg::OnlyBinary("lib".into())]),
            "1.0 lib-1.0-py3-none-any.whl"
        );
        // A name beats :all:, whichever came first.
        assert_eq!(
            resolve_lib(&[
                BinaryArg::NoBinary("lib".into()),
                BinaryArg::OnlyBinary(":all:".into())
            ]),
            "1.0 lib-1.0-py3-none-any.whl",
            ":all: clears the names given before it, as pip does"
        );
        assert_eq!(
            resolve_lib(&[
                BinaryArg::OnlyBinary(":all:".into()),
                BinaryArg::NoBinary("lib".into()),
                BinaryArg::PreferBinary
            ]),
            "2.0 lib-2.0.tar.gz"
        );
        let message = failure_with(
            &source,
            &["wheelonly"],
            &[BinaryArg::NoBinary(":all:".into())],
        );
        assert!(
            message.contains("only wheels, and --no-binary asks for a source build"),
            "{message}"
        );
        let error = BinaryPolicy::from_args(&[BinaryArg::OnlyBinary("not a name!".into())])
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a name!"), "{error}");
    }

    #[test]
    fn a_version_whose_build_fails_is_ruled_out_and_remembered() {
        let mut source = MemorySource::default();
        source
            .add("lib-1.0-py3-none-any.whl", &[])
            .add("lib-2.0.tar.gz", &[])
            .fails_to_build("lib-2.0.tar.gz");
        let resolution = resolution_of(&source, &["lib"], &[]);
        let lib = &resolution.packages[&PackageName::from_str("lib").unwrap()];
        assert_eq!(lib.version.to_string(), "1.0");
        let reasons: Vec<String> = resolution
            .unusable
            .iter()
            .map(|((name, version), reason)| format!("{name} {version}: {reason}"))
            .collect();
        assert_eq!(
            reasons,
            ["lib 2.0: reading the metadata of lib-2.0.tar.gz: the backend failed"]
        );
        let message = failure(&source, &["lib==2.0"]);
        assert!(message.contains("the backend failed"), "{message}");
    }

    #[test]
    fn builds_resolve_recursively_for_the_target() {
        let mut source = MemorySource::default();
        source
            .add("app-1.0.tar.gz", &["six"])
            .add("six-1.0-py3-none-any.whl", &[])
            .add("backend-2.0-py3-none-any.whl", &["helper"])
            .add("helper-1.0.tar.gz", &[])
            .add("flit_core-3.9.tar.gz", &[])
            .builds_with(
                "app-1.0.tar.gz",
                &["backend>=2", "winonly ; sys_platform == 'win32'"],
            )
            .builds_with("helper-1.0.tar.gz", &["flit-core"]);
        let resolution = resolution_of(&source, &["app"], &[]);
        let builds =
            resolve_builds(&source, &resolution, &target(), &ResolveOptions::default()).unwrap();
        let summary: Vec<String> = builds
            .values()
            .map(|b| {
                let pins: Vec<String> = b
                    .resolution
                    .packages
                    .values()
                    .map(|p| format!("{}=={}", p.name, p.version))
                    .collect();
                format!("{}: {}", b.sdist.filename, pins.join(" "))
            })
            .collect();
        assert_eq!(
            summary,
            [
                "app-1.0.tar.gz: backend==2.0 helper==1.0",
                "flit_core-3.9.tar.gz: ",
                "helper-1.0.tar.gz: flit-core==3.9",
            ]
        );
    }

    #[test]
    fn extras_pull_their_requirements_and_pin_the_base() {
        let mut source = MemorySource::default();
        source
            .add(
                "web-2.0-py3-none-any.whl",
                &["core", "fast ; extra == 'speed'"],
            )
            .add("web-1.0-py3-none-any.whl", &["core"])
            .add("core-1.0-py3-none-any.whl", &[])
            .add("fast-0.5-py3-none-any.whl", &[]);
        assert_eq!(
            pins(&source, &["web[speed]"]),
            ["core==1.0", "fast==0.5", "web==2.0"]
        );
        assert_eq!(pins(&source, &["web"]), ["core==1.0", "web==2.0"]);
        let resolution = resolution_of(&source, &["web[speed]"], &[]);
        let web = &resolution.packages[&PackageName::from_str("web").unwrap()];
        assert_eq!(web.extras.len(), 1);
        assert_eq!(web.dependencies.len(), 2);
    }

    #[test]
    fn undeclared_extras_are_ignored_as_pip_does() {
        let mut source = MemorySource::default();
        source
            .add(
                "undeclared_web-1.0-py3-none-any.whl",
                &["fast ; extra == 'speed'"],
            )
            .add("web-1.0-py3-none-any.whl", &["fast ; extra == 'speed'"])
            .add("fast-0.5-py3-none-any.whl", &[]);
        assert_eq!(
            pins(&source, &["undeclared-web[speed]"]),
            ["undeclared-web==1.0"]
        );
        assert_eq!(pins(&source, &["web[speed]"]), ["fast==0.5", "web==1.0"]);
    }

    #[test]
    fn backtracks_to_satisfy_shared_dependencies() {
        let mut source = MemorySource::default();
        source
            .add("a-2.0-py3-none-any.whl", &["shared<2"])
            .add("a-1.0-py3-none-any.whl", &["shared"])
            .add("b-1.0-py3-none-any.whl", &["shared>=2"])
            .add("shared-1.0-py3-none-any.whl", &[])
            .add("shared-2.0-py3-none-any.whl", &[]);
        assert_eq!(
            pins(&source, &["a", "b"]),
            ["a==1.0", "b==1.0", "shared==2.0"]
        );
    }

    #[test]
    fn exact_pins_match_local_versions_as_pep440_says() {
        let mut source = MemorySource::default();
        source
            .add("torch-2.4.0+cpu-cp312-cp312-manylinux_2_17_x86_64.whl", &[])
            .add("torch-2.4.1-cp312-cp312-manylinux_2_17_x86_64.whl", &[])
            .add(
                "torch-2.4.0.post1-cp312-cp312-manylinux_2_17_x86_64.whl",
                &[],
            );
        assert_eq!(pins(&source, &["torch==2.4.0"]), ["torch==2.4.0+cpu"]);
        assert_eq!(pins(&source, &["torch==2.4.0+cpu"]), ["torch==2.4.0+cpu"]);
        assert_eq!(
            pins(&source, &["torch!=2.4.1,<2.4.1"]),
            ["torch==2.4.0.post1"]
        );
        let message = failure(&source, &["torch<2.4.0.post1,!=2.4.0"]);
        assert!(
            message.contains("no resolution"),
            "!= excludes the local variant too: {message}"
        );
    }

    #[test]
    fn cycles_resolve() {
        let mut source = MemorySource::default();
        source
            .add("ping-1.0-py3-none-any.whl", &["pong"])
            .add("pong-1.0-py3-none-any.whl", &["ping"]);
        assert_eq!(pins(&source, &["ping"]), ["ping==1.0", "pong==1.0"]);
    }

    #[test]
    fn prereleases_only_when_no_stable_version_fits_as_uv_does() {
        // uv 0.13 (checked against it on a local index): a pre-release is chosen only when no
        // stable version is in range, even where a specifier names a pre-release.
        let mut source = MemorySource::default();
        source
            .add("lib-1.0-py3-none-any.whl", &[])
            .add("lib-2.0b1-py3-none-any.whl", &[])
            .add("onlypre-1.0a1-py3-none-any.whl", &[])
            .add("app-1.0-py3-none-any.whl", &["lib>=1.5"]);
        assert_eq!(pins(&source, &["lib"]), ["lib==1.0"]);
        assert_eq!(pins(&source, &["lib>=2.0b1"]), ["lib==2.0b1"]);
        assert_eq!(pins(&source, &["onlypre"]), ["onlypre==1.0a1"]);
        assert_eq!(
            pins(&source, &["app"]),
            ["app==1.0", "lib==2.0b1"],
            "a transitive requirement takes a pre-release when nothing else fits"
        );
        source
            .add("lib-2.0-py3-none-any.whl", &[])
            .add("lib-2.1b1-py3-none-any.whl", &[]);
        assert_eq!(pins(&source, &["lib>=2.0b1"]), ["lib==2.0"]);
        let allow = ResolveOptions {
            prerelease: PrereleaseMode::Allow,
            ..ResolveOptions::default()
        };
        let resolution = resolve(
            &source,
            "requirements.in",
            &lines(&["lib"]),
            &[],
            &target(),
            &allow,
        )
        .unwrap();
        assert_eq!(
            resolution.packages[&name("lib")].version.to_string(),
            "2.1b1"
        );
    }

    #[test]
    fn yanked_only_for_exact_pins_and_requires_python_filters() {
        let mut source = MemorySource::default();
        source
            .add_file("lib-2.0-py3-none-any.whl", None, true, &[])
            .add_file("lib-1.5-py3-none-any.whl", Some(">=3.13"), false, &[])
            .add_file("lib-1.0-py3-none-any.whl", Some(">=3.8"), false, &[]);
        assert_eq!(pins(&source, &["lib"]), ["lib==1.0"]);
        assert_eq!(pins(&source, &["lib==2.0"]), ["lib==2.0"]);
    }

    #[test]
    fn explains_failures_with_reasons_and_lines() {
        let mut source = MemorySource::default();
        source
            .add("native-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", &[])
            .add("native-2.0.tar.gz", &[])
            .add("app-1.0-py3-none-any.whl", &["native>=2"]);
        let message = failure_with(
            &source,
            &["app"],
            &[
                BinaryArg::NoBinary(":none:".into()),
                BinaryArg::OnlyBinary("native".into()),
            ],
        );
        assert!(
            message.contains("no resolution for cp3.12 on x86_64-manylinux_2_36"),
            "{message}"
        );
        assert!(
            message.contains(
                "Because native 2.0 has no wheel for cp3.12 on x86_64-manylinux_2_36 (among its wheels: cp311-manylinux_2_17_x86_64); they are built for Python 3.11 and app depends on native >=2, app cannot be used."
            ),
            "{message}"
        );
        assert!(
            message.contains("requirements.in requires app, requirements.in cannot be satisfied"),
            "{message}"
        );
        assert!(message.contains("requirements.in:1: app"), "{message}");
        let message = failure(&source, &["missing-project"]);
        assert!(
            message.contains("missing-project was not found in the index"),
            "{message}"
        );
    }

    #[test]
    fn conflicting_requirements_are_explained() {
        let mut source = MemorySource::default();
        source
            .add("a-1.0-py3-none-any.whl", &["shared<2"])
            .add("shared-1.0-py3-none-any.whl", &[])
            .add("shared-2.0-py3-none-any.whl", &[]);
        let message = failure(&source, &["a", "shared>=2"]);
        assert!(message.contains("requirements.in:1: a"), "{message}");
        assert!(
            message.contains("requirements.in:2: shared>=2"),
            "{message}"
        );
        assert!(message.contains("shared"), "{message}");
    }
}
