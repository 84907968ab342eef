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
use std::sync::Arc;

use pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, PackageName, Requirement, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider,
    PackageResolutionStatistics, PubGrubError, Reporter,
};
use version_ranges::Ranges;

use super::metadata::CoreMetadata;
use super::requirements::{RequirementLine, specifier_range};
use super::simple::{DistFile, ProjectFiles};
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

/// Chooses the file whose metadata a prefetch should warm, given the project's files.
pub type Picker = Box<dyn FnOnce(&Arc<ProjectFiles>) -> Option<DistFile> + Send>;

/// Where the resolver gets packages from.
pub trait PackageSource: Send + Sync {
    /// Every file of the project; an unknown project has no files.
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, SourceError>;
    /// The core metadata of one distribution file.
    fn metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError>;
    /// A hint that `name` will be needed soon; sources with latency start fetching now.
    fn prefetch(&self, _name: &PackageName, _picker: Picker) {}
    /// What the source is called in messages ("the index", "the wheelhouse").
    fn describe(&self) -> &'static str {
        "the index"
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

/// A node in the PubGrub graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// The requirements file itself.
    Root(String),
    Package(PackageName),
    /// `name[extra]`: depends on `name` at the same version plus the extra's requirements.
    Extra(PackageName, ExtraName),
}

impl Node {
    fn name(&self) -> Option<&PackageName> {
        match self {
            Node::Root(_) => None,
            Node::Package(name) | Node::Extra(name, _) => Some(name),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Root(label) => write!(f, "{label}"),
            Node::Package(name) => write!(f, "{name}"),
            Node::Extra(name, extra) => write!(f, "{name}[{extra}]"),
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
}

#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    pub prerelease: PrereleaseMode,
    pub binary: BinaryPolicy,
}

/// Why a version of a project is not a candidate for the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rejection {
    /// Only an sdist, and building it is forbidden for this package.
    OnlySdist,
    /// Wheels only, and wheels are forbidden for this package (`--no-binary`).
    OnlyWheels,
    NoCompatibleWheel,
    RequiresPython(String),
    HashMismatch,
}

#[derive(Debug, Clone)]
struct Candidate {
    /// The wheel the target installs, or the sdist it builds.
    dist: DistFile,
    yanked: bool,
}

impl Candidate {
    fn is_sdist(&self) -> bool {
        matches!(self.dist.kind, DistFilename::Sdist(_))
    }
}

#[derive(Debug, Default)]
struct Candidates {
    versions: BTreeMap<Version, Candidate>,
    rejected: BTreeMap<Version, Rejection>,
    files: Arc<ProjectFiles>,
    any_final_release: bool,
}

/// Ranks the files of a project for a target.
fn candidates_for(
    files: Arc<ProjectFiles>,
    tags: &Tags,
    python: &Version,
    hashes: Option<&HashSet<String>>,
    (allow_wheel, allow_sdist): (bool, bool),
) -> Candidates {
    let mut best: BTreeMap<Version, (u32, DistFile)> = BTreeMap::new();
    let mut rejected: BTreeMap<Version, Rejection> = BTreeMap::new();
    let mut yanked_versions: HashMap<Version, bool> = HashMap::new();
    let mut sdists: BTreeMap<Version, DistFile> = BTreeMap::new();
    // What rules out a wheel or an sdist alike: its requires-python, or a --hash it lacks.
    let refused = |file: &DistFile| {
        if let Some(requires) = &file.requires_python
            && !requires.contains(python)
        {
            Some(Rejection::RequiresPython(requires.to_string()))
        } else if hashes.is_some_and(|allowed| {
            !file
                .sha256
                .as_ref()
                .is_some_and(|h| allowed.contains(h.as_str()))
        }) {
            Some(Rejection::HashMismatch)
        } else {
            None
        }
    };
    for file in &files.files {
        let version = file.kind.version().clone();
        let rejection = match &file.kind {
            DistFilename::Sdist(_) if !allow_sdist => Some(Rejection::OnlySdist),
            DistFilename::Sdist(_) => {
                if let Some(rejection) = refused(file) {
                    Some(rejection)
                } else {
                    // One sdist per version: a non-yanked one, then .tar.gz (PEP 625), then
                    // by name, for determinism.
                    let key = |f: &DistFile| {
                        (
                            f.yanked,
                            !f.filename.ends_with(".tar.gz"),
                            f.filename.clone(),
                        )
                    };
                    let replace = sdists
                        .get(&version)
                        .is_none_or(|current| key(file) < key(current));
                    if replace {
                        sdists.insert(version.clone(), file.clone());
                    }
                    None
                }
            }
            DistFilename::Wheel(_) if !allow_wheel => Some(Rejection::OnlyWheels),
            DistFilename::Wheel(wheel) => match tags.rank(wheel) {
                None => Some(Rejection::NoCompatibleWheel),
                Some(rank) => {
                    if let Some(rejection) = refused(file) {
                        Some(rejection)
                    } else {
                        // Lower rank wins; ties go to the file name for determinism, and a
                        // non-yanked file beats a yanked one.
                        let key = (file.yanked, rank, file.filename.clone());
                        let replace = best.get(&version).is_none_or(|(current_rank, current)| {
                            key < (current.yanked, *current_rank, current.filename.clone())
                        });
                        if replace {
                            best.insert(version.clone(), (rank, file.clone()));
                        }
                        let all_yanked = yanked_versions.entry(version.clone()).or_insert(true);
                        *all_yanked &= file.yanked;
                        None
                    }
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
    let mut versions: BTreeMap<Version, Candidate> = best
        .into_iter()
        .map(|(version, (_, wheel))| {
            let yanked = yanked_versions.get(&version).copied().unwrap_or(false);
            (
                version,
                Candidate {
                    dist: wheel,
                    yanked,
                },
            )
        })
        .collect();
    // A version with no wheel for the target is built from its sdist, as pip and uv do.
    for (version, sdist) in sdists {
        versions.entry(version).or_insert_with(|| Candidate {
            yanked: sdist.yanked,
            dist: sdist,
        });
    }
    for version in versions.keys() {
        rejected.remove(version);
    }
    let any_final_release = versions.keys().any(|v| !v.any_prerelease());
    Candidates {
        versions,
        rejected,
        files,
        any_final_release,
    }
}

/// The `Requires-Dist` entries and declared extras of one version, shared between lookups.
type RequirementList = Arc<(Vec<Requirement>, Vec<ExtraName>)>;

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
    explicit_prerelease: HashSet<PackageName>,
    exact_pins: HashSet<PackageName>,
    candidates: RefCell<HashMap<PackageName, Arc<Candidates>>>,
    requirements: RefCell<HashMap<(PackageName, Version), RequirementList>>,
    discovered: RefCell<HashMap<PackageName, usize>>,
    reasons: RefCell<BTreeMap<PackageName, String>>,
    unusable: RefCell<BTreeMap<(PackageName, Version), String>>,
}

fn specifiers_mention_prerelease(requirement: &Requirement) -> bool {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => {
            specifiers.iter().any(|s| s.version().any_prerelease())
        }
        _ => false,
    }
}

fn is_exact_pin(requirement: &Requirement) -> bool {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers
            .iter()
            .any(|s| matches!(s.operator(), Operator::Equal | Operator::ExactEqual)),
        _ => false,
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

    fn iter(&self) -> impl Iterator<Item = &(Node, Ranges<Version>)> {
        self.entries.iter()
    }
}

/// Adds `requirement` (already known to apply) to a dependency map, extras as extra nodes.
fn add_dependency(
    map: &mut DependencyMap,
    requirement: &Requirement,
    constraints: &HashMap<PackageName, Ranges<Version>>,
) {
    let mut range = specifier_range(requirement);
    if let Some(constraint) = constraints.get(&requirement.name) {
        range = range.intersection(constraint);
    }
    let mut nodes = vec![Node::Package(requirement.name.clone())];
    nodes.extend(
        requirement
            .extras
            .iter()
            .map(|extra| Node::Extra(requirement.name.clone(), extra.clone())),
    );
    for node in nodes {
        map.merge(node, range.clone());
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
            &self.python,
            self.hashes.get(name),
            self.options.binary.allows(name),
        ));
        self.candidates
            .borrow_mut()
            .insert(name.clone(), candidates.clone());
        Ok(candidates)
    }

    fn prerelease_allowed(&self, name: &PackageName, candidates: &Candidates) -> bool {
        match self.options.prerelease {
            PrereleaseMode::Allow => true,
            PrereleaseMode::Disallow => false,
            PrereleaseMode::IfNecessaryOrExplicit => {
                self.explicit_prerelease.contains(name) || !candidates.any_final_release
            }
        }
    }

    /// Picks the highest acceptable version in `range`.
    fn pick(
        &self,
        name: &PackageName,
        candidates: &Candidates,
        range: &Ranges<Version>,
    ) -> Option<Version> {
        let allow_pre = self.prerelease_allowed(name, candidates);
        // The range of an `==` pin also admits local variants, so it is not a singleton; the
        // first-party `==` is what PEP 592 asks for.
        let allow_yanked = self.exact_pins.contains(name);
        let acceptable = |(version, candidate): &(&Version, &Candidate)| {
            range.contains(*version)
                && (allow_pre || !version.any_prerelease())
                && (allow_yanked || !candidate.yanked)
        };
        // pip's --prefer-binary: an older version with a wheel beats a newer sdist.
        let preferred = self.options.binary.prefer_binary.then(|| {
            candidates
                .versions
                .iter()
                .rev()
                .filter(acceptable)
                .find(|(_, candidate)| !candidate.is_sdist())
        });
        preferred
            .flatten()
            .or_else(|| candidates.versions.iter().rev().find(acceptable))
            .map(|(version, _)| version.clone())
    }

    /// Explains why no version of `name` in `range` was acceptable.
    fn explain(
        &self,
        name: &PackageName,
        candidates: &Candidates,
        range: &Ranges<Version>,
    ) -> String {
        if candidates.files.files.is_empty() {
            return format!("{name} was not found in {}", self.source.describe());
        }
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (version, rejection) in &candidates.rejected {
            if !range.contains(version) {
                continue;
            }
            let reason = match rejection {
                Rejection::OnlySdist => {
                    "only a source distribution, and --only-binary/--no-build forbids building it"
                        .to_string()
                }
                Rejection::OnlyWheels => {
                    "only wheels, and --no-binary asks for a source build".to_string()
                }
                Rejection::NoCompatibleWheel => format!("no wheel for {}", self.target),
                Rejection::RequiresPython(spec) => {
                    format!("wheels that need Python {spec}, not {}", self.python)
                }
                Rejection::HashMismatch => {
                    "no wheel with a --hash given in the requirements".to_string()
                }
            };
            groups.entry(reason).or_default().push(version.to_string());
        }
        let allow_pre = self.prerelease_allowed(name, candidates);
        for (version, candidate) in &candidates.versions {
            if !range.contains(version) {
                continue;
            }
            let reason = if candidate.yanked {
                "only yanked files (pin it with == to accept them)"
            } else if !allow_pre && version.any_prerelease() {
                "pre-releases (allow with --prerelease allow, or name a pre-release in a specifier)"
            } else {
                continue;
            };
            groups
                .entry(reason.to_string())
                .or_default()
                .push(version.to_string());
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

    fn requirements_of(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<RequirementList, ResolveError> {
        let key = (name.clone(), version.clone());
        if let Some(found) = self.requirements.borrow().get(&key) {
            return Ok(found.clone());
        }
        let candidates = self
            .candidates(name)
            .map_err(|source| self.source_error(name, source))?;
        let candidate = candidates
            .versions
            .get(version)
            .expect("PubGrub only asks for versions choose_version returned");
        let metadata = if candidate.is_sdist() {
            self.source
                .sdist_info(&candidate.dist)
                .map(|info| info.metadata.clone())
        } else {
            self.source.metadata(&candidate.dist)
        }
        .map_err(|source| ResolveError::Source {
            action: format!("reading the metadata of {}", candidate.dist.filename),
            target: self.target.to_string(),
            source,
        })?;
        if metadata.name != *name || metadata.version != *version {
            return Err(ResolveError::MetadataMismatch {
                file: candidate.dist.filename.to_string(),
                found_name: metadata.name.to_string(),
                found_version: metadata.version.to_string(),
            });
        }
        let requirements = Arc::new((
            metadata.requires_dist.clone(),
            metadata.provides_extra.clone(),
        ));
        self.requirements
            .borrow_mut()
            .insert(key, requirements.clone());
        Ok(requirements)
    }

    fn source_error(&self, name: &PackageName, source: SourceError) -> ResolveError {
        ResolveError::Source {
            action: format!("listing the files of {name}"),
            target: self.target.to_string(),
            source,
        }
    }

    /// Starts fetching what the resolver will most likely ask for next.
    fn prefetch(&self, dependencies: &DependencyMap) {
        for (node, range) in dependencies.iter() {
            let Node::Package(name) = node else {
                continue;
            };
            {
                let mut discovered = self.discovered.borrow_mut();
                let next = discovered.len();
                if discovered.contains_key(name) {
                    continue;
                }
                discovered.insert(name.clone(), next);
            }
            let tags = self.tags.clone();
            let python = self.python.clone();
            let range = range.clone();
            let hashes = self.hashes.get(name).cloned();
            let allows = self.options.binary.allows(name);
            self.source.prefetch(
                name,
                Box::new(move |files: &Arc<ProjectFiles>| {
                    let candidates =
                        candidates_for(files.clone(), &tags, &python, hashes.as_ref(), allows);
                    // Only wheels are warmed: an sdist's metadata may need a build, which the
                    // resolver thread runs when it gets there.
                    candidates
                        .versions
                        .iter()
                        .rev()
                        .find(|(v, c)| range.contains(*v) && !v.any_prerelease() && !c.yanked)
                        .filter(|(_, c)| !c.is_sdist())
                        .map(|(_, c)| c.dist.clone())
                }),
            );
        }
    }

    fn dependencies_for(
        &self,
        node: &Node,
        version: &Version,
    ) -> Result<DependencyMap, ResolveError> {
        let mut map = DependencyMap::default();
        match node {
            Node::Root(_) => {
                for (dependency, range) in &self.root_dependencies {
                    map.merge(dependency.clone(), range.clone());
                }
            }
            Node::Package(name) => {
                for requirement in self.requirements_of(name, version)?.0.iter() {
                    if requirement.name != *name && requirement.evaluate_markers(&self.env, &[]) {
                        add_dependency(&mut map, requirement, &self.constraints);
                    }
                }
            }
            Node::Extra(name, extra) => {
                map.merge(
                    Node::Package(name.clone()),
                    Ranges::singleton(version.clone()),
                );
                let metadata = self.requirements_of(name, version)?;
                // pip and uv ignore an extra the metadata does not declare (with a warning);
                // resolving its marker-gated requirements anyway would lock what they skip.
                if !metadata.1.contains(extra) {
                    return Ok(map);
                }
                for requirement in metadata.0.iter() {
                    let applies =
                        requirement.evaluate_markers(&self.env, std::slice::from_ref(extra));
                    let base = requirement.evaluate_markers(&self.env, &[]);
                    if applies && !base {
                        if requirement.name == *name {
                            // `foo[a]` pulling in `foo[b]`: only the extras matter.
                            for other in &requirement.extras {
                                map.merge(
                                    Node::Extra(name.clone(), other.clone()),
                                    Ranges::singleton(version.clone()),
                                );
                            }
                        } else {
                            add_dependency(&mut map, requirement, &self.constraints);
                        }
                    }
                }
            }
        }
        Ok(map)
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Node;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Priority = (bool, std::cmp::Reverse<usize>);
    type Err = ResolveError;

    fn prioritize(
        &self,
        package: &Node,
        range: &Ranges<Version>,
        _statistics: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // Exact pins first (they cannot branch), then in the order packages were discovered,
        // which resolves the direct requirements before what they pull in.
        let order = package
            .name()
            .and_then(|name| self.discovered.borrow().get(name).copied())
            .unwrap_or(usize::MAX);
        (range.as_singleton().is_some(), std::cmp::Reverse(order))
    }

    fn choose_version(
        &self,
        package: &Node,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, ResolveError> {
        let name = match package {
            Node::Root(_) => return Ok(Some(Version::new([0]))),
            Node::Package(name) | Node::Extra(name, _) => name,
        };
        let candidates = self
            .candidates(name)
            .map_err(|source| self.source_error(name, source))?;
        let chosen = self.pick(name, &candidates, range);
        if chosen.is_none() {
            let reason = self.explain(name, &candidates, range);
            self.reasons.borrow_mut().insert(name.clone(), reason);
        }
        Ok(chosen)
    }

    fn get_dependencies(
        &self,
        package: &Node,
        version: &Version,
    ) -> Result<Dependencies<Node, Ranges<Version>, String>, ResolveError> {
        let map = match self.dependencies_for(package, version) {
            Ok(map) => map,
            Err(ResolveError::Source { action, source, .. }) if source.unusable => {
                let reason = format!("{action}: {}", error_summary(&source));
                if let Some(name) = package.name() {
                    self.unusable
                        .borrow_mut()
                        .insert((name.clone(), version.clone()), reason.clone());
                }
                return Ok(Dependencies::Unavailable(reason));
            }
            Err(error) => return Err(error),
        };
        self.prefetch(&map);
        let constraints: DependencyConstraints<Node, Ranges<Version>> =
            map.entries.into_iter().collect();
        Ok(Dependencies::Available(constraints))
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
    let mut explicit_prerelease = HashSet::new();
    let mut exact_pins = HashSet::new();
    let mut roots = BTreeSet::new();
    for line in requirements.iter().chain(constraints).filter(applies) {
        let name = &line.requirement.name;
        if specifiers_mention_prerelease(&line.requirement) {
            explicit_prerelease.insert(name.clone());
        }
        if is_exact_pin(&line.requirement) {
            exact_pins.insert(name.clone());
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
        hashes,
        explicit_prerelease,
        exact_pins,
        candidates: RefCell::default(),
        requirements: RefCell::default(),
        discovered: RefCell::default(),
        reasons: RefCell::default(),
        unusable: RefCell::default(),
    };
    provider.prefetch(&root_map);
    let selected = match pubgrub::resolve(&provider, provider.root.clone(), Version::new([0])) {
        Ok(selected) => selected,
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            let mut report = DefaultStringReporter::report(&tree);
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
        Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => return Err(source),
    };
    let mut resolution = Resolution {
        roots,
        unusable: provider.unusable.take(),
        ..Resolution::default()
    };
    let mut extras: HashMap<PackageName, BTreeSet<ExtraName>> = HashMap::new();
    for (node, _) in selected.iter() {
        if let Node::Extra(name, extra) = node {
            extras
                .entry(name.clone())
                .or_default()
                .insert(extra.clone());
        }
    }
    for (node, version) in selected.iter() {
        let Node::Package(name) = node else {
            continue;
        };
        let package_extras = extras.remove(name).unwrap_or_default();
        let mut dependencies = BTreeSet::new();
        let mut nodes = vec![node.clone()];
        nodes.extend(
            package_extras
                .iter()
                .map(|extra| Node::Extra(name.clone(), extra.clone())),
        );
        for from in &nodes {
            for (dependency, _) in provider.dependencies_for(from, version)?.iter() {
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
        let candidate = &candidates.versions[version];
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
                requires_python: candidate.dist.requires_python.clone(),
                dist: candidate.dist.clone(),
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
                requires_python: requires_python.map(|r| VersionSpecifiers::from_str(r).unwrap()),
                yanked,
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
    fn prereleases_only_when_explicit_or_necessary() {
        let mut source = MemorySource::default();
        source
            .add("lib-1.0-py3-none-any.whl", &[])
            .add("lib-2.0b1-py3-none-any.whl", &[])
            .add("onlypre-1.0a1-py3-none-any.whl", &[]);
        assert_eq!(pins(&source, &["lib"]), ["lib==1.0"]);
        assert_eq!(pins(&source, &["lib>=2.0b1"]), ["lib==2.0b1"]);
        assert_eq!(pins(&source, &["onlypre"]), ["onlypre==1.0a1"]);
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
                "hint: native >=2: 2.0 have no wheel for cp3.12 on x86_64-manylinux_2_36"
            ),
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
