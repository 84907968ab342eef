//! The install closure of requested Debian packages over an in-memory index, as apt would
//! compute it for a fresh install on top of a base system.
//!
//! Rules (Debian Policy §7, the multiarch spec, and apt's behaviour where they leave a choice):
//! - Depends and Pre-Depends (and Recommends when asked) are followed.
//! - An OR group is satisfied if any alternative already is (chosen or in the base); otherwise
//!   the first alternative that can be installed is taken, as apt does.
//! - A real package wins over a provider of the same name; a virtual package is satisfied by a
//!   Provides: an unversioned dependency by any provider, a versioned one only by a versioned
//!   Provides whose version meets it. Among providers the choice is by name, deterministically.
//! - The highest version meeting the constraint is chosen; candidates that Breaks/Conflicts
//!   with what is already chosen (either way round) are skipped.
//! - Architectures: the first configured architecture is native, the others foreign (as
//!   `dpkg --add-architecture` makes them). `Architecture: all` counts as native. A plain
//!   dependency is satisfied by a package of the depender's own architecture, or of any
//!   architecture when that package is `Multi-Arch: foreign`; `:any` only by `Multi-Arch:
//!   allowed` packages (of any architecture); `:native` and `:<arch>` name the architecture.
//!   Two architectures of one package can be installed together only when both are
//!   `Multi-Arch: same` at the same version. A request without an architecture takes the
//!   native package, or the first foreign architecture that has it, as apt does.
//! - Packages already in the base at a satisfying version are not added, but the base's other
//!   binaries of a chosen package's source are upgraded with it when their candidate is of the
//!   same source version (apt 2.5.2 and later: `APT::Get::Upgrade-By-Source-Package`).
//!
//! Every chosen package records which requested package pulled it in, and an unresolvable
//! relation is reported with the chain that needs it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::packages::{BinaryPackage, MultiArch, Operator, Relation};
use super::version::DebVersion;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClosureError {
    #[error("{}: nothing satisfies `{relation}`{}", .chain.join(" -> "), .why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default())]
    Unsatisfiable {
        chain: Vec<String>,
        relation: String,
        why: Option<String>,
    },
}

/// The native architecture and the foreign ones, in preference order.
#[derive(Debug, Clone, Default)]
struct Architectures {
    list: Vec<String>,
}

impl Architectures {
    fn native(&self) -> &str {
        self.list.first().map_or("", String::as_str)
    }

    /// `all` installs as native.
    fn effective<'a>(&'a self, arch: &'a str) -> &'a str {
        if arch == "all" { self.native() } else { arch }
    }

    fn knows(&self, arch: &str) -> bool {
        arch == "all" || self.list.iter().any(|a| a == arch)
    }

    /// Lower is preferred: native, then configuration order. apt serves an i386 package's
    /// dependency on a `Multi-Arch: foreign` (or `:any` on an allowed) package with the native
    /// build when both exist (checked against apt-get -s).
    fn rank(&self, arch: &str) -> usize {
        let arch = self.effective(arch);
        self.list
            .iter()
            .position(|a| a == arch)
            .unwrap_or(self.list.len())
    }

    /// Whether a package of `arch` with `multi_arch` can satisfy `relation` written by a
    /// package of `depender` architecture (already effective).
    fn satisfies(
        &self,
        relation: &Relation,
        depender: &str,
        arch: &str,
        multi_arch: MultiArch,
    ) -> bool {
        let arch = self.effective(arch);
        match relation.arch_qualifier.as_deref() {
            None => multi_arch == MultiArch::Foreign || arch == depender,
            Some("any") => multi_arch == MultiArch::Allowed,
            Some("native") => arch == self.native(),
            Some(qualifier) => arch == qualifier,
        }
    }

    /// How apt names a package: foreign architectures carry a `:arch` suffix.
    fn display(&self, name: &str, arch: &str) -> String {
        let arch = self.effective(arch);
        if arch == self.native() {
            name.to_string()
        } else {
            format!("{name}:{arch}")
        }
    }
}

/// Names to lists of values, stored flat: one table from a name to its slice, and one vector
/// of all values. A `HashMap<String, Vec<_>>` over a suite's 60k names held a string and a
/// vector of its own per name (most with one value), about 20 MB.
#[derive(Debug, Default)]
struct Grouped<T> {
    slices: HashMap<Box<str>, (u32, u32)>,
    /// Every value, grouped by name in name order.
    values: Vec<T>,
}

impl<T> Grouped<T> {
    /// Groups `pairs` by name (stably: a name's values keep their order), then lets
    /// `finish` sort or trim each group.
    fn build(mut pairs: Vec<(&str, T)>, mut finish: impl FnMut(&mut Vec<T>)) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let mut grouped = Grouped {
            slices: HashMap::new(),
            values: Vec::with_capacity(pairs.len()),
        };
        let mut group: Vec<T> = Vec::new();
        let mut pairs = pairs.into_iter().peekable();
        while let Some((name, value)) = pairs.next() {
            group.push(value);
            if pairs.peek().is_some_and(|(next, _)| *next == name) {
                continue;
            }
            finish(&mut group);
            // Indexes are far below 4 billion entries; a bigger one is no Packages file.
            let start = u32::try_from(grouped.values.len()).expect("fewer than 2^32 values");
            let len = u32::try_from(group.len()).expect("fewer than 2^32 values");
            grouped.slices.insert(name.into(), (start, len));
            grouped.values.append(&mut group);
        }
        grouped.slices.shrink_to_fit();
        grouped.values.shrink_to_fit();
        grouped
    }

    fn get(&self, name: &str) -> &[T] {
        self.slices.get(name).map_or(&[], |&(start, len)| {
            &self.values[start as usize..(start + len) as usize]
        })
    }

    fn contains_key(&self, name: &str) -> bool {
        self.slices.contains_key(name)
    }
}

/// Packages in the pieces they were parsed in, addressed by one position. A suite's index
/// arrives in a few dozen pieces; joining them into one vector copied every package once
/// more, and that copy was a third of a resolve's peak memory.
#[derive(Debug, Default)]
struct Chunks {
    chunks: Vec<Vec<BinaryPackage>>,
    /// Where each chunk starts, in positions.
    starts: Vec<usize>,
    /// Which input list (suite) each chunk came from.
    origins: Vec<usize>,
}

impl Chunks {
    fn chunk_of(&self, position: usize) -> usize {
        self.starts.partition_point(|&start| start <= position) - 1
    }

    fn origin(&self, position: usize) -> usize {
        self.origins[self.chunk_of(position)]
    }

    /// Every position with its package.
    fn iter(&self) -> impl Iterator<Item = (usize, &BinaryPackage)> {
        self.chunks
            .iter()
            .zip(&self.starts)
            .flat_map(|(chunk, &start)| chunk.iter().enumerate().map(move |(i, p)| (start + i, p)))
    }
}

impl std::ops::Index<usize> for Chunks {
    type Output = BinaryPackage;

    fn index(&self, position: usize) -> &BinaryPackage {
        let chunk = self.chunk_of(position);
        &self.chunks[chunk][position - self.starts[chunk]]
    }
}

/// The packages of one index (every configured architecture plus `all`).
#[derive(Debug, Default)]
pub struct AptIndex {
    architectures: Architectures,
    /// Every package read, including architectures not configured (which no lookup reaches).
    packages: Chunks,
    /// name -> packages, newest version first.
    by_name: Grouped<usize>,
    /// virtual name -> (provider, provided version), by provider name then newest first.
    providers: HashMap<String, Vec<(usize, Option<DebVersion>)>>,
    /// source package name -> its binaries (every version).
    by_source: Grouped<usize>,
}

impl AptIndex {
    /// Builds the index for `architectures` (the first is native); other architectures are
    /// dropped, and duplicates (an `all` package listed in every architecture's index) merged.
    pub fn new<A: AsRef<str>>(
        packages: impl IntoIterator<Item = BinaryPackage>,
        architectures: &[A],
    ) -> Self {
        Self::from_lists([packages.into_iter().collect()], architectures)
    }

    /// Like [`AptIndex::from_lists`] over lists given in pieces: `(list, packages)`.
    pub fn from_chunks<A: AsRef<str>>(
        chunks: impl IntoIterator<Item = (usize, Vec<BinaryPackage>)>,
        architectures: &[A],
    ) -> Self {
        let architectures = Architectures {
            list: architectures
                .iter()
                .map(|a| a.as_ref().to_string())
                .collect(),
        };
        let mut packages = Chunks::default();
        let mut next = 0;
        for (origin, chunk) in chunks {
            packages.starts.push(next);
            packages.origins.push(origin);
            next += chunk.len();
            packages.chunks.push(chunk);
        }
        Self::index(packages, architectures)
    }

    /// Like [`AptIndex::new`] over several lists (one per suite, in priority order), taking
    /// ownership: a suite's index is large, so it is moved, never copied. Where two lists hold
    /// the same package, version and architecture, the earlier list's copy is kept.
    pub fn from_lists<A: AsRef<str>>(
        lists: impl IntoIterator<Item = Vec<BinaryPackage>>,
        architectures: &[A],
    ) -> Self {
        Self::from_chunks(lists.into_iter().enumerate(), architectures)
    }

    fn index(packages: Chunks, architectures: Architectures) -> Self {
        // Positions are sorted per name, not the packages themselves: moving 60k large
        // structs around cost more than the rest of building the index. Architectures that
        // are not configured get no position.
        let same = |a: &BinaryPackage, b: &BinaryPackage| {
            a.version == b.version && a.architecture() == b.architecture()
        };
        let by_name = Grouped::build(
            packages
                .iter()
                .filter(|(_, package)| architectures.knows(package.architecture()))
                .map(|(position, package)| (package.name.as_str(), position))
                .collect(),
            |positions| {
                // Stable: among equal packages the earlier list's stays first, and dedup
                // keeps it.
                positions.sort_by(|&a, &b| {
                    let (a, b) = (&packages[a], &packages[b]);
                    b.version
                        .cmp(&a.version)
                        .then_with(|| a.architecture().cmp(b.architecture()))
                });
                positions.dedup_by(|a, b| same(&packages[*a], &packages[*b]));
            },
        );
        // Providers by provider name, then newest first (the order the closure relies on).
        let mut providers: HashMap<String, Vec<(usize, Option<DebVersion>)>> = HashMap::new();
        let mut sources: Vec<(&str, usize)> = Vec::with_capacity(by_name.values.len());
        for &position in &by_name.values {
            let (source, _) = packages[position].source_package();
            sources.push((source, position));
            for (provided, version) in &packages[position].provides {
                providers
                    .entry(provided.clone())
                    .or_default()
                    .push((position, version.clone()));
            }
        }
        let by_source = Grouped::build(sources, |_| {});
        AptIndex {
            architectures,
            packages,
            by_name,
            providers,
            by_source,
        }
    }

    /// Every package (duplicates merged), with the list it came from.
    pub fn packages(&self) -> impl Iterator<Item = (&BinaryPackage, usize)> {
        self.by_name
            .values
            .iter()
            .map(|&i| (&self.packages[i], self.packages.origin(i)))
    }

    /// Positions of every version of `name`, newest first.
    fn positions(&self, name: &str) -> &[usize] {
        self.by_name.get(name)
    }

    /// Every version of `name`, in every architecture, newest first.
    pub fn versions<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a BinaryPackage> + 'a {
        self.by_name.get(name).iter().map(|&i| &self.packages[i])
    }

    /// The newest version of `name` for `arch` (`all` counts as native).
    pub fn newest(&self, name: &str, arch: &str) -> Option<&BinaryPackage> {
        let arch = self.architectures.effective(arch);
        self.versions(name)
            .find(|p| self.architectures.effective(p.architecture()) == arch)
    }

    pub fn native(&self) -> &str {
        self.architectures.native()
    }

    /// The exact relations that upgrade the base's binaries built from `package`'s source, as
    /// apt does: each installed at another version, and whose candidate (newest) is of the
    /// same source version.
    fn siblings_to_upgrade(
        &self,
        base: &Base,
        package: &BinaryPackage,
        chosen: &BTreeMap<String, Chosen>,
    ) -> Vec<Relation> {
        let archs = &self.architectures;
        let (source, source_version) = package.source_package();
        let mut upgrades = Vec::new();
        for &position in self.by_source.get(source) {
            let other = &self.packages[position];
            let arch = archs.effective(other.architecture());
            if other.name == package.name && arch == archs.effective(package.architecture()) {
                continue;
            }
            let installed_elsewhere = base.installed(&other.name).any(|installed| {
                archs.effective(&installed.architecture) == arch
                    && installed.version != other.version
            });
            let candidate = self
                .newest(&other.name, arch)
                .is_some_and(|newest| std::ptr::eq(newest, other));
            let planned = chosen
                .get(&archs.display(&other.name, arch))
                .is_some_and(|c| c.package.version == other.version);
            if installed_elsewhere
                && candidate
                && !planned
                && other.source_package().1 == source_version
            {
                upgrades.push(Relation {
                    name: other.name.clone(),
                    arch_qualifier: Some(arch.to_string()),
                    constraint: Some((Operator::Equal, other.version.clone())),
                    arch_restrictions: Vec::new(),
                });
            }
        }
        upgrades
    }

    fn knows_name(&self, name: &str) -> bool {
        self.by_name.contains_key(name) || self.providers.contains_key(name)
    }
}

/// Why a dpkg status file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusError {
    #[error(transparent)]
    Deb822(#[from] super::deb822::Deb822Error),
    #[error("line {line}: {message}")]
    Invalid { line: usize, message: String },
}

/// One installed package of the base.
#[derive(Debug, Clone)]
struct Installed {
    architecture: String,
    version: DebVersion,
    multi_arch: MultiArch,
}

/// What the target image already has, with what those packages provide.
#[derive(Debug, Clone, Default)]
pub struct Base {
    installed: HashMap<String, Vec<Installed>>,
    /// virtual name -> (provider as installed, provided version)
    provides: HashMap<String, Vec<(Installed, Option<DebVersion>)>>,
}

fn provided_version(relation: Relation) -> (String, Option<DebVersion>) {
    let version = match relation.constraint {
        Some((Operator::Equal, version)) => Some(version),
        _ => None,
    };
    (relation.name, version)
}

impl Base {
    /// The installed packages of a dpkg status file (`Status: install ok installed`). An
    /// installed stanza without a name or version, or with a version or Provides dpkg would
    /// not have written, is an error naming its line: the base decides what the lock leaves
    /// out, so a stanza read wrong would drop packages the image does not have.
    pub fn from_dpkg_status(text: &str) -> Result<Self, StatusError> {
        let mut base = Base::default();
        for stanza in super::deb822::parse(text)? {
            let installed = stanza
                .get("Status")
                .is_some_and(|status| status.split_whitespace().last() == Some("installed"));
            if !installed {
                // Removed packages with config files left, half-installed ones: not there.
                continue;
            }
            let invalid = |message: String| StatusError::Invalid {
                line: stanza.line,
                message,
            };
            let name = stanza
                .get("Package")
                .ok_or_else(|| invalid("an installed package without a Package field".into()))?;
            let version = stanza
                .get("Version")
                .ok_or_else(|| invalid(format!("{name} is installed but has no Version")))?;
            let version = version
                .parse::<DebVersion>()
                .map_err(|error| invalid(format!("{name}: {error}")))?;
            let provides = match stanza.get("Provides") {
                Some(text) => super::packages::parse_relations(text, name)
                    .map_err(|error| invalid(error.to_string()))?,
                None => Vec::new(),
            }
            .into_iter()
            .flatten()
            .map(provided_version)
            .collect();
            base.insert(
                name,
                Installed {
                    architecture: stanza.get("Architecture").unwrap_or("all").to_string(),
                    version,
                    multi_arch: super::packages::multi_arch(stanza.get("Multi-Arch")),
                },
                provides,
            );
        }
        Ok(base)
    }

    fn insert(
        &mut self,
        name: &str,
        installed: Installed,
        provides: Vec<(String, Option<DebVersion>)>,
    ) {
        for (virtual_name, version) in provides {
            self.provides
                .entry(virtual_name)
                .or_default()
                .push((installed.clone(), version));
        }
        self.installed
            .entry(name.to_string())
            .or_default()
            .push(installed);
    }

    pub fn add(&mut self, package: &BinaryPackage) {
        self.insert(
            &package.name,
            Installed {
                architecture: package.architecture().to_string(),
                version: package.version.clone(),
                multi_arch: package.multi_arch,
            },
            package.provides.to_vec(),
        );
    }

    /// How many packages the base holds (all architectures).
    pub fn len(&self) -> usize {
        self.installed.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.installed.is_empty()
    }

    fn installed<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Installed> + 'a {
        self.installed.get(name).into_iter().flatten()
    }

    fn satisfies(&self, archs: &Architectures, relation: &Relation, depender: &str) -> bool {
        let real = self.installed(&relation.name).any(|p| {
            relation.allows(&p.version)
                && archs.satisfies(relation, depender, &p.architecture, p.multi_arch)
        });
        real || self
            .provides
            .get(&relation.name)
            .into_iter()
            .flatten()
            .any(|(p, provided)| {
                provides_meet(relation, provided.as_ref())
                    && archs.satisfies(relation, depender, &p.architecture, p.multi_arch)
            })
    }
}

/// Whether a Provides (versioned or not) meets `relation`'s version constraint.
fn provides_meet(relation: &Relation, provided: Option<&DebVersion>) -> bool {
    match (&relation.constraint, provided) {
        (None, _) => true,
        (Some(_), Some(version)) => relation.allows(version),
        (Some(_), None) => false,
    }
}

/// A requested package: `name`, `name=version`, `name:arch` or `name:arch=version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub arch: Option<String>,
    pub version: Option<DebVersion>,
}

impl std::str::FromStr for Request {
    type Err = super::version::VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, version) = match text.split_once('=') {
            Some((name, version)) => (name, Some(version.parse()?)),
            None => (text, None),
        };
        let (name, arch) = match name.split_once(':') {
            Some((name, arch)) => (name, Some(arch.trim().to_string())),
            None => (name, None),
        };
        Ok(Request {
            name: name.trim().to_string(),
            arch,
            version,
        })
    }
}

/// One package of the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub package: BinaryPackage,
    /// The requested package that pulled it in (itself, for a requested package).
    pub pulled_by: String,
    /// Which of the index's lists (suites) it came from.
    pub origin: usize,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ClosureOptions {
    pub recommends: bool,
}

/// Whether `relations` (a Breaks or Conflicts field) hits `package`.
fn hits(relations: &[Vec<Relation>], package: &BinaryPackage) -> bool {
    relations.iter().flatten().any(|relation| {
        (relation.name == package.name && relation.allows(&package.version))
            || (relation.constraint.is_none()
                && package
                    .provides
                    .iter()
                    .any(|(name, _)| *name == relation.name))
    })
}

/// Why `candidate` cannot join `chosen` on top of `base`, if it cannot.
fn conflicts_with(
    index: &AptIndex,
    candidate: &BinaryPackage,
    chosen: &BTreeMap<String, Chosen>,
    base: &Base,
) -> Option<String> {
    let archs = &index.architectures;
    let label =
        |p: &BinaryPackage| format!("{} {}", archs.display(&p.name, p.architecture()), p.version);
    let arch = archs.effective(candidate.architecture());
    // One package name in two architectures: only `Multi-Arch: same` at one version.
    let coinstallable = |other_arch: &str, other_ma: MultiArch, other_version: &DebVersion| {
        archs.effective(other_arch) == arch
            || (candidate.multi_arch == MultiArch::Same
                && other_ma == MultiArch::Same
                && *other_version == candidate.version)
    };
    for other in chosen.values().map(|c| &c.package) {
        if other.name == candidate.name {
            if !coinstallable(other.architecture(), other.multi_arch, &other.version) {
                return Some(format!(
                    "{} cannot be installed beside {} (only Multi-Arch: same packages of one version can)",
                    label(candidate),
                    label(other)
                ));
            }
            continue;
        }
        let (mine, theirs) = (candidate.relations(), other.relations());
        if hits(&mine.breaks, other) || hits(&mine.conflicts, other) {
            return Some(format!(
                "{} breaks or conflicts with {}",
                label(candidate),
                label(other)
            ));
        }
        if hits(&theirs.breaks, candidate) || hits(&theirs.conflicts, candidate) {
            return Some(format!(
                "{} breaks or conflicts with {}",
                label(other),
                label(candidate)
            ));
        }
    }
    for installed in base.installed(&candidate.name) {
        // An installed `Multi-Arch: same` sibling at another version is not in the way when
        // the index can bring it to this version: apt upgrades it (the same-source rule below
        // queues that upgrade).
        let upgradable = candidate.multi_arch == MultiArch::Same
            && installed.multi_arch == MultiArch::Same
            && index
                .newest(&candidate.name, &installed.architecture)
                .is_some_and(|p| p.version == candidate.version && p.multi_arch == MultiArch::Same);
        if !upgradable
            && !coinstallable(
                &installed.architecture,
                installed.multi_arch,
                &installed.version,
            )
        {
            return Some(format!(
                "{} would replace {}:{} {} of the base",
                label(candidate),
                candidate.name,
                archs.effective(&installed.architecture),
                installed.version
            ));
        }
    }
    None
}

fn relation_text(group: &[Relation]) -> String {
    group
        .iter()
        .map(|r| {
            let name = match &r.arch_qualifier {
                Some(arch) => format!("{}:{arch}", r.name),
                None => r.name.clone(),
            };
            match &r.constraint {
                Some((op, version)) => {
                    let op = match op {
                        Operator::Less => "<<",
                        Operator::LessOrEqual => "<=",
                        Operator::Equal => "=",
                        Operator::GreaterOrEqual => ">=",
                        Operator::Greater => ">>",
                    };
                    format!("{name} ({op} {version})")
                }
                None => name,
            }
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// One relation group waiting to be satisfied.
struct Pending {
    group: Vec<Relation>,
    /// The effective architecture of the package that declares it.
    depender: String,
    /// Who needs it, requested package first; empty for a request.
    chain: Vec<String>,
    root: String,
    /// A Recommends: left out, not an error, when it cannot be installed.
    soft: bool,
}

/// The closure, and the Recommends it had to leave out (each with apt-style reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub chosen: BTreeMap<String, Chosen>,
    pub dropped_recommends: Vec<String>,
}

/// Computes the closure of `requests` over `index`, on top of `base`. The keys are apt's
/// names: `name` for native and `all` packages, `name:arch` for foreign ones.
pub fn closure(
    index: &AptIndex,
    base: &Base,
    requests: &[Request],
    options: ClosureOptions,
) -> Result<BTreeMap<String, Chosen>, ClosureError> {
    closure_report(index, base, requests, options).map(|closure| closure.chosen)
}

/// [`closure`], with the Recommends that were left out.
pub fn closure_report(
    index: &AptIndex,
    base: &Base,
    requests: &[Request],
    options: ClosureOptions,
) -> Result<Closure, ClosureError> {
    let archs = &index.architectures;
    let native = archs.native().to_string();
    let mut queue: VecDeque<Pending> = VecDeque::new();
    for request in requests {
        if let Some(arch) = &request.arch
            && !archs.knows(arch)
            && arch != "native"
        {
            return Err(ClosureError::Unsatisfiable {
                chain: vec!["requested".to_string()],
                relation: format!("{}:{arch}", request.name),
                why: Some(format!(
                    "{arch} is not one of the architectures ({}); add it to [apt] architectures",
                    archs.list.join(", ")
                )),
            });
        }
        // apt takes the native package, else the first architecture that has one.
        let arch_qualifier = request.arch.clone().or_else(|| {
            let native_has = index
                .versions(&request.name)
                .any(|p| archs.effective(p.architecture()) == native);
            if native_has {
                return None;
            }
            archs
                .list
                .iter()
                .skip(1)
                .find_map(|arch| index.newest(&request.name, arch).map(|_| arch.clone()))
        });
        let relation = Relation {
            name: request.name.clone(),
            arch_qualifier,
            constraint: request.version.clone().map(|v| (Operator::Equal, v)),
            arch_restrictions: Vec::new(),
        };
        let root = match &request.arch {
            Some(arch) => format!("{}:{arch}", request.name),
            None => request.name.clone(),
        };
        queue.push_back(Pending {
            group: vec![relation],
            depender: native.clone(),
            chain: Vec::new(),
            root,
            soft: false,
        });
    }
    let mut walker = Walker {
        index,
        base,
        options,
        chosen: BTreeMap::new(),
        journal: Vec::new(),
        dropped: Vec::new(),
    };
    walker.drain(queue)?;
    Ok(Closure {
        chosen: walker.chosen,
        dropped_recommends: walker.dropped,
    })
}

/// Walks relation groups breadth first, keeping a journal of what it adds so that a soft
/// group (a Recommends) can be tried and rolled back whole when it cannot be installed.
struct Walker<'a> {
    index: &'a AptIndex,
    base: &'a Base,
    options: ClosureOptions,
    chosen: BTreeMap<String, Chosen>,
    journal: Vec<String>,
    dropped: Vec<String>,
}

impl Walker<'_> {
    fn drain(&mut self, mut queue: VecDeque<Pending>) -> Result<(), ClosureError> {
        while let Some(pending) = queue.pop_front() {
            if !pending.soft {
                self.step(pending, &mut queue)?;
                continue;
            }
            // A Recommends is tried with everything it pulls in; if any of that fails, all
            // of it is taken back and the reason kept for the report.
            let (journal_mark, dropped_mark) = (self.journal.len(), self.dropped.len());
            let trial = Pending {
                soft: false,
                ..pending
            };
            if let Err(error) = self.drain(VecDeque::from([trial])) {
                for key in self.journal.drain(journal_mark..) {
                    self.chosen.remove(&key);
                }
                self.dropped.truncate(dropped_mark);
                self.dropped.push(error.to_string());
            }
        }
        Ok(())
    }

    /// Satisfies one relation group, queueing what the package it picks needs in turn.
    fn step(
        &mut self,
        pending: Pending,
        queue: &mut VecDeque<Pending>,
    ) -> Result<(), ClosureError> {
        let (index, base) = (self.index, self.base);
        let archs = &index.architectures;
        let native = archs.native().to_string();
        let Pending {
            group,
            depender,
            chain,
            root,
            soft: _,
        } = pending;
        let requested = chain.is_empty();
        let fits = |relation: &Relation, p: &BinaryPackage| {
            archs.satisfies(relation, &depender, p.architecture(), p.multi_arch)
        };
        // apt upgrades an explicitly requested package to its candidate even when the base has
        // an older version; dependencies the base satisfies are left alone.
        let base_ok = |relation: &Relation| {
            if !requested {
                return base.satisfies(archs, relation, &depender);
            }
            let newest = index
                .versions(&relation.name)
                .find(|p| relation.allows(&p.version) && fits(relation, p));
            match newest {
                Some(candidate) => base.installed(&relation.name).any(|installed| {
                    archs.effective(&installed.architecture)
                        == archs.effective(candidate.architecture())
                        && installed.version >= candidate.version
                        && relation.allows(&installed.version)
                }),
                None => base.satisfies(archs, relation, &depender),
            }
        };
        let already = group.iter().any(|relation| {
            base_ok(relation)
                || self.chosen.values().any(|c| {
                    let p = &c.package;
                    (p.name == relation.name && relation.allows(&p.version) && fits(relation, p))
                        || p.provides.iter().any(|(name, provided)| {
                            *name == relation.name
                                && provides_meet(relation, provided.as_ref())
                                && fits(relation, p)
                        })
                })
        });
        if already {
            return Ok(());
        }
        let mut picked: Option<usize> = None;
        let mut why: Option<String> = None;
        let at = |i: &usize| &index.packages[*i];
        'alternatives: for relation in &group {
            // A real package of that name wins over providers.
            let mut candidates: Vec<usize> = index
                .positions(&relation.name)
                .iter()
                .copied()
                .filter(|i| relation.allows(&at(i).version) && fits(relation, at(i)))
                .collect();
            if candidates.is_empty() {
                candidates = index
                    .providers
                    .get(&relation.name)
                    .into_iter()
                    .flatten()
                    .filter(|(i, provided)| {
                        provides_meet(relation, provided.as_ref()) && fits(relation, at(i))
                    })
                    .map(|(i, _)| *i)
                    .collect();
                // By provider name, then the preferred architecture, then newest: stable sort.
                candidates.sort_by(|a, b| {
                    let (a, b) = (at(a), at(b));
                    a.name.cmp(&b.name).then_with(|| {
                        archs
                            .rank(a.architecture())
                            .cmp(&archs.rank(b.architecture()))
                    })
                });
            } else {
                candidates.sort_by_key(|i| archs.rank(at(i).architecture()));
            }
            for candidate in candidates {
                match conflicts_with(index, at(&candidate), &self.chosen, base) {
                    None => {
                        picked = Some(candidate);
                        break 'alternatives;
                    }
                    Some(reason) => why = Some(reason),
                }
            }
        }
        let Some(position) = picked else {
            let mut full_chain = chain.clone();
            if full_chain.is_empty() {
                full_chain.push("requested".to_string());
            }
            let known = group.iter().any(|r| index.knows_name(&r.name));
            let other_arch = group.iter().any(|r| {
                index.versions(&r.name).any(|p| r.allows(&p.version))
                    || index
                        .providers
                        .get(&r.name)
                        .into_iter()
                        .flatten()
                        .any(|(_, provided)| provides_meet(r, provided.as_ref()))
            });
            let reason = if other_arch {
                format!(
                    "only packages of the wrong architecture or Multi-Arch match, for a {depender} dependency"
                )
            } else if known {
                "no version meets the constraint".to_string()
            } else {
                "no such package in the index".to_string()
            };
            return Err(ClosureError::Unsatisfiable {
                chain: full_chain,
                relation: relation_text(&group),
                why: Some(why.unwrap_or(reason)),
            });
        };
        let package = index.packages[position].clone();
        let origin = index.packages.origin(position);
        let key = archs.display(&package.name, package.architecture());
        let mut next_chain = chain.clone();
        next_chain.push(format!("{key} {}", package.version));
        let package_arch = archs.effective(package.architecture()).to_string();
        // apt (2.5.2 and later, so Debian 12 on) also upgrades the base's other binaries of
        // the same source package when their candidate is of this same source version
        // (APT::Get::Upgrade-By-Source-Package): a new mesa-va-drivers brings the installed
        // libgbm1 up to its version.
        if !base.is_empty() {
            for sibling in index.siblings_to_upgrade(base, &package, &self.chosen) {
                queue.push_back(Pending {
                    group: vec![sibling],
                    depender: native.clone(),
                    chain: next_chain.clone(),
                    root: root.clone(),
                    soft: false,
                });
            }
        }
        let relations = package.relations();
        let mut fields: Vec<(&Vec<Vec<Relation>>, bool)> =
            vec![(&relations.pre_depends, false), (&relations.depends, false)];
        if self.options.recommends {
            // Recommends are soft: apt installs one when it can and leaves it out when it
            // cannot (nothing satisfies it, or it conflicts), without failing the install.
            fields.push((&relations.recommends, true));
        }
        for (field, soft) in fields {
            for group in field {
                queue.push_back(Pending {
                    group: group.clone(),
                    depender: package_arch.clone(),
                    chain: next_chain.clone(),
                    root: root.clone(),
                    soft,
                });
            }
        }
        self.chosen.insert(
            key.clone(),
            Chosen {
                package,
                pulled_by: root,
                origin,
            },
        );
        self.journal.push(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::packages::parse_packages;

    /// Builds an index from short stanzas: `name version [Field: value]...` per line.
    fn index(lines: &[&str]) -> Vec<BinaryPackage> {
        let mut text = String::new();
        for line in lines {
            let mut parts = line.splitn(3, ' ');
            let name = parts.next().unwrap();
            let version = parts.next().unwrap();
            let rest = parts.next().unwrap_or("");
            let arch = if rest.contains("Architecture:") {
                ""
            } else {
                "Architecture: amd64\n"
            };
            text.push_str(&format!(
                "Package: {name}\nVersion: {version}\n{arch}Filename: pool/{name}_{version}.deb\nSize: 1\nSHA256: {}\n",
                "0".repeat(64)
            ));
            for field in rest.split(';').filter(|f| !f.trim().is_empty()) {
                text.push_str(field.trim());
                text.push('\n');
            }
            text.push('\n');
        }
        parse_packages(&text, "test").unwrap()
    }

    fn resolve(
        lines: &[&str],
        requests: &[&str],
        base: &[&str],
    ) -> Result<Vec<String>, ClosureError> {
        resolve_for(&["amd64"], lines, requests, base)
    }

    /// Resolves for `architectures` (native first); results use apt's names.
    fn resolve_for(
        architectures: &[&str],
        lines: &[&str],
        requests: &[&str],
        base: &[&str],
    ) -> Result<Vec<String>, ClosureError> {
        let index = AptIndex::new(index(lines), architectures);
        let mut installed = Base::default();
        for package in index_base(base) {
            installed.add(&package);
        }
        let requests: Vec<Request> = requests.iter().map(|r| r.parse().unwrap()).collect();
        let chosen = closure(&index, &installed, &requests, ClosureOptions::default())?;
        Ok(chosen
            .iter()
            .map(|(name, c)| format!("{name}={}", c.package.version))
            .collect())
    }

    const I386: &[&str] = &["amd64", "i386"];

    #[test]
    fn multi_arch_foreign_satisfies_any_architecture_and_none_only_its_own() {
        let packages = [
            "game 1 Architecture: i386; Depends: helper, libgl1",
            // M-A foreign: the native build serves the i386 dependency.
            "helper 2 Architecture: amd64; Multi-Arch: foreign",
            "helper 2 Architecture: i386; Multi-Arch: foreign",
            // M-A none: only the dependency's own architecture will do.
            "libgl1 1 Architecture: amd64",
            "libgl1 1 Architecture: i386",
        ];
        assert_eq!(
            resolve_for(I386, &packages, &["game"], &[]).unwrap(),
            ["game:i386=1", "helper=2", "libgl1:i386=1"],
            "a request absent natively takes the foreign architecture"
        );
        let error = resolve_for(&["amd64"], &packages, &["game:i386"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "requested: nothing satisfies `game:i386` (i386 is not one of the architectures (amd64); add it to [apt] architectures)"
        );
        // Without an i386 build of libgl1 nothing can satisfy it.
        let error = resolve_for(I386, &packages[..4], &["game"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "game:i386 1: nothing satisfies `libgl1` (only packages of the wrong architecture or Multi-Arch match, for a i386 dependency)"
        );
        // Foreign architectures not configured are not seen at all.
        let error = resolve_for(&["amd64"], &packages, &["game"], &[]).unwrap_err();
        assert!(error.to_string().contains("no such package"), "{error}");
    }

    #[test]
    fn multi_arch_same_coinstalls_at_one_version_and_others_do_not() {
        let packages = [
            "libssl3 3.0.15 Architecture: amd64; Multi-Arch: same",
            "libssl3 3.0.15 Architecture: i386; Multi-Arch: same",
            "tool 1 Architecture: amd64",
            "tool 1 Architecture: i386",
            "wine 9 Architecture: amd64; Depends: libssl3",
            "wine32 9 Architecture: i386; Depends: libssl3",
        ];
        assert_eq!(
            resolve_for(I386, &packages, &["wine", "wine32:i386"], &[]).unwrap(),
            [
                "libssl3=3.0.15",
                "libssl3:i386=3.0.15",
                "wine=9",
                "wine32:i386=9"
            ]
        );
        // Two architectures of an M-A: no package cannot both be installed.
        let error = resolve_for(I386, &packages, &["tool", "tool:i386"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "requested: nothing satisfies `tool:i386` (tool:i386 1 cannot be installed beside tool 1 (only Multi-Arch: same packages of one version can))"
        );
        // Nor can M-A: same packages at two versions.
        let skewed = [
            "libz 2 Architecture: amd64; Multi-Arch: same",
            "libz 1 Architecture: i386; Multi-Arch: same",
        ];
        assert!(resolve_for(I386, &skewed, &["libz", "libz:i386"], &[]).is_err());
    }

    #[test]
    fn any_needs_multi_arch_allowed_and_all_counts_as_native() {
        let packages = [
            "python3 3.11.2 Architecture: amd64; Multi-Arch: allowed",
            "perl 5.36 Architecture: amd64",
            "script 1 Architecture: all; Depends: python3:any, perl",
            "plugin 1 Architecture: i386; Depends: python3:any",
            "broken 1 Architecture: amd64; Depends: perl:any",
            "native-only 1 Architecture: i386; Depends: perl:native",
        ];
        // An `all` package depends as a native one: M-A none perl:amd64 satisfies it.
        assert_eq!(
            resolve_for(I386, &packages, &["script"], &[]).unwrap(),
            ["perl=5.36", "python3=3.11.2", "script=1"]
        );
        // `:any` accepts the native python3 from an i386 package, since it is M-A allowed.
        assert_eq!(
            resolve_for(I386, &packages, &["plugin"], &[]).unwrap(),
            ["plugin:i386=1", "python3=3.11.2"]
        );
        // `:any` on a package that is not M-A allowed is never satisfied (dpkg and apt agree).
        assert!(resolve_for(I386, &packages, &["broken"], &[]).is_err());
        assert_eq!(
            resolve_for(I386, &packages, &["native-only"], &[]).unwrap(),
            ["native-only:i386=1", "perl=5.36"]
        );
    }

    #[test]
    fn a_foreign_base_package_counts_only_where_multi_arch_allows() {
        let status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.36-9\n\nPackage: coreutils\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: foreign\nVersion: 9.1-1\n";
        let base = Base::from_dpkg_status(status).unwrap();
        let packages = [
            "libc6 2.36-9 Architecture: amd64; Multi-Arch: same",
            "libc6 2.36-9 Architecture: i386; Multi-Arch: same",
            "app 1 Architecture: i386; Depends: libc6 (>= 2.34), coreutils",
        ];
        let app = AptIndex::new(index(&packages), I386);
        let chosen = closure(
            &app,
            &base,
            &["app:i386".parse().unwrap()],
            ClosureOptions::default(),
        )
        .unwrap();
        let names: Vec<&str> = chosen.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["app:i386", "libc6:i386"],
            "the base's libc6:amd64 does not serve i386; its M-A foreign coreutils does"
        );
        assert_eq!(chosen["app:i386"].pulled_by, "app:i386");
        // An M-A: same library installed natively at an older version is upgraded so that
        // the foreign one can join it, as apt-get -s does.
        let packages = [
            "libglx-mesa0 22.3.6-1+deb12u2 Architecture: amd64; Multi-Arch: same; Source: mesa",
            "libglx-mesa0 22.3.6-1+deb12u2 Architecture: i386; Multi-Arch: same; Source: mesa",
        ];
        let status = "Package: libglx-mesa0\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nSource: mesa\nVersion: 22.3.6-1+deb12u1\n";
        let base = Base::from_dpkg_status(status).unwrap();
        let glx = AptIndex::new(index(&packages), I386);
        let chosen = closure(
            &glx,
            &base,
            &["libglx-mesa0:i386".parse().unwrap()],
            ClosureOptions::default(),
        )
        .unwrap();
        let names: Vec<String> = chosen
            .iter()
            .map(|(name, c)| format!("{name}={}", c.package.version))
            .collect();
        assert_eq!(
            names,
            [
                "libglx-mesa0=22.3.6-1+deb12u2",
                "libglx-mesa0:i386=22.3.6-1+deb12u2"
            ]
        );
    }

    fn index_base(lines: &[&str]) -> Vec<BinaryPackage> {
        if lines.is_empty() {
            Vec::new()
        } else {
            index(lines)
        }
    }

    #[test]
    fn follows_depends_and_pre_depends_choosing_the_highest_version() {
        let packages = [
            "curl 7.88.1-10 Depends: libcurl4 (= 7.88.1-10), libc6 (>= 2.34)",
            "libcurl4 7.88.1-10 Pre-Depends: multiarch-support",
            "multiarch-support 2.36-9",
            "libc6 2.36-9",
            "libc6 2.31-13",
        ];
        assert_eq!(
            resolve(&packages, &["curl"], &[]).unwrap(),
            [
                "curl=7.88.1-10",
                "libc6=2.36-9",
                "libcurl4=7.88.1-10",
                "multiarch-support=2.36-9"
            ]
        );
    }

    #[test]
    fn epochs_and_tildes_order_candidates() {
        let packages = [
            "tool 1:1.0",
            "tool 2.0",
            "lib 1.0~rc2",
            "lib 0.9",
            "app 1 Depends: lib (>= 1.0~rc1)",
        ];
        assert_eq!(resolve(&packages, &["tool"], &[]).unwrap(), ["tool=1:1.0"]);
        assert_eq!(
            resolve(&packages, &["app"], &[]).unwrap(),
            ["app=1", "lib=1.0~rc2"]
        );
    }

    #[test]
    fn alternatives_take_the_first_installable_and_respect_what_is_chosen() {
        let packages = [
            "mailer 1 Depends: default-mta | mail-transport-agent",
            "exim4 4.96 Provides: mail-transport-agent",
            "postfix 3.7 Provides: mail-transport-agent",
            "both 1 Depends: postfix, mailer",
        ];
        // default-mta does not exist: the virtual package's first provider by name is taken.
        assert_eq!(
            resolve(&packages, &["mailer"], &[]).unwrap(),
            ["exim4=4.96", "mailer=1"]
        );
        // An alternative already satisfied by a chosen package adds nothing.
        assert_eq!(
            resolve(&packages, &["both"], &[]).unwrap(),
            ["both=1", "mailer=1", "postfix=3.7"]
        );
    }

    #[test]
    fn versioned_provides_satisfies_versioned_dependencies_only() {
        let packages = [
            "app 1 Depends: virtual-lib (>= 2)",
            "old-provider 1 Provides: virtual-lib",
            "new-provider 1 Provides: virtual-lib (= 2.5)",
            "app-unversioned 1 Depends: virtual-lib",
        ];
        assert_eq!(
            resolve(&packages, &["app"], &[]).unwrap(),
            ["app=1", "new-provider=1"]
        );
        assert_eq!(
            resolve(&packages, &["app-unversioned"], &[]).unwrap(),
            ["app-unversioned=1", "new-provider=1"]
        );
        let only_unversioned = [
            "app 1 Depends: virtual-lib (>= 2)",
            "old-provider 1 Provides: virtual-lib",
        ];
        let error = resolve(&only_unversioned, &["app"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "app 1: nothing satisfies `virtual-lib (>= 2)` (no version meets the constraint)"
        );
    }

    #[test]
    fn a_real_package_wins_over_a_provider() {
        let packages = [
            "awk 1:5.2",
            "mawk 1.3 Provides: awk",
            "script 1 Depends: awk",
        ];
        assert_eq!(
            resolve(&packages, &["script"], &[]).unwrap(),
            ["awk=1:5.2", "script=1"]
        );
    }

    #[test]
    fn arch_all_and_any_qualifiers_resolve_natively() {
        let packages = [
            "python3 3.11.2 Multi-Arch: allowed",
            "tzdata 2024a Architecture: all",
            "app 1 Depends: python3:any, tzdata",
        ];
        assert_eq!(
            resolve(&packages, &["app"], &[]).unwrap(),
            ["app=1", "python3=3.11.2", "tzdata=2024a"]
        );
    }

    #[test]
    fn breaks_and_conflicts_steer_version_choice() {
        let packages = [
            "libfoo 2.0 Breaks: app (<< 2)",
            "libfoo 1.0",
            "app 1 Depends: libfoo",
            "other 1 Conflicts: libbar",
            "libbar 1",
            "combo 1 Depends: other, libbar",
        ];
        assert_eq!(
            resolve(&packages, &["app"], &[]).unwrap(),
            ["app=1", "libfoo=1.0"]
        );
        let error = resolve(&packages, &["combo"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "combo 1: nothing satisfies `libbar` (other 1 breaks or conflicts with libbar 1)"
        );
        // Another alternative of a hard dependency, when the first conflicts with what is
        // already chosen (apt takes the next alternative that installs).
        let packages = [
            "server 1 Depends: base-files, mta-a | mta-b",
            "base-files 1",
            "mta-a 1 Conflicts: base-files",
            "mta-b 1",
        ];
        assert_eq!(
            resolve(&packages, &["server"], &[]).unwrap(),
            ["base-files=1", "mta-b=1", "server=1"]
        );
    }

    #[test]
    fn the_base_satisfies_what_it_can() {
        let packages = ["app 1 Depends: libc6 (>= 2.34)", "libc6 2.36-9"];
        assert_eq!(
            resolve(&packages, &["app"], &["libc6 2.36-9"]).unwrap(),
            ["app=1"]
        );
        assert_eq!(
            resolve(&packages, &["app"], &["libc6 2.31-13"]).unwrap(),
            ["app=1", "libc6=2.36-9"]
        );
    }

    #[test]
    fn requested_packages_are_upgraded_like_apt_does() {
        let packages = [
            "ca-certificates 20230311+deb12u2",
            "tool 2 Depends: libx",
            "libx 1.1",
        ];
        // Requested and older in the base: upgraded to the candidate.
        assert_eq!(
            resolve(
                &packages,
                &["ca-certificates"],
                &["ca-certificates 20230311+deb12u1"]
            )
            .unwrap(),
            ["ca-certificates=20230311+deb12u2"]
        );
        // Already current: nothing to do.
        assert!(
            resolve(
                &packages,
                &["ca-certificates"],
                &["ca-certificates 20230311+deb12u2"]
            )
            .unwrap()
            .is_empty()
        );
        // A dependency the base satisfies is left alone even if a newer one exists.
        assert_eq!(
            resolve(&packages, &["tool"], &["libx 1.0"]).unwrap(),
            ["tool=2"]
        );
    }

    #[test]
    fn installed_binaries_of_the_same_source_are_upgraded_with_it() {
        let packages = [
            "mesa-va-drivers 22.3.6-1+deb12u2 Source: mesa",
            "libgbm1 22.3.6-1+deb12u2 Source: mesa",
            "libglapi-mesa 22.3.6-1+deb12u2 Source: mesa",
            // Another source version: not a sibling of this upgrade.
            "libosmesa6 22.3.7-1 Source: mesa (22.3.7-1)",
            // Not installed: not upgraded.
            "libegl-mesa0 22.3.6-1+deb12u2 Source: mesa",
            // A binary whose version differs from its source's (binNMU-style).
            "mesa-tools 22.3.6-1+deb12u2+b1 Source: mesa (22.3.6-1+deb12u2)",
        ];
        let base = [
            "libgbm1 22.3.6-1+deb12u1 Source: mesa",
            "libglapi-mesa 22.3.6-1+deb12u2 Source: mesa",
            "libosmesa6 22.3.6-1+deb12u1 Source: mesa",
            "mesa-tools 22.3.6-1+deb12u1 Source: mesa",
        ];
        assert_eq!(
            resolve(&packages, &["mesa-va-drivers"], &base).unwrap(),
            [
                "libgbm1=22.3.6-1+deb12u2",
                "mesa-tools=22.3.6-1+deb12u2+b1",
                "mesa-va-drivers=22.3.6-1+deb12u2"
            ],
            "apt-get -s agrees (APT::Get::Upgrade-By-Source-Package)"
        );
        assert_eq!(
            resolve(&packages, &["mesa-va-drivers"], &[]).unwrap(),
            ["mesa-va-drivers=22.3.6-1+deb12u2"],
            "nothing to upgrade on an empty base"
        );
    }

    #[test]
    fn reads_a_dpkg_status_base() {
        let status = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: mawk\nStatus: install ok installed\nVersion: 1.3\nProvides: awk\n";
        let base = Base::from_dpkg_status(status).unwrap();
        assert_eq!(
            base.installed.len(),
            2,
            "config-files only is not installed"
        );
        let packages = ["app 1 Depends: libc6 (>= 2.34), awk, gone"];
        let index = AptIndex::new(index(&[packages[0], "gone 1"]), &["amd64"]);
        let chosen = closure(
            &index,
            &base,
            &["app".parse().unwrap()],
            ClosureOptions::default(),
        )
        .unwrap();
        let names: Vec<&str> = chosen.keys().map(String::as_str).collect();
        assert_eq!(names, ["app", "gone"]);
    }

    #[test]
    fn unresolvable_relations_show_the_chain() {
        let packages = [
            "curl 1 Depends: libcurl4",
            "libcurl4 1 Depends: libnghttp2-14 (>= 9)",
            "libnghttp2-14 1.52",
        ];
        let error = resolve(&packages, &["curl"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "curl 1 -> libcurl4 1: nothing satisfies `libnghttp2-14 (>= 9)` (no version meets the constraint)"
        );
        let error = resolve(&packages, &["nonexistent"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "requested: nothing satisfies `nonexistent` (no such package in the index)"
        );
    }

    #[test]
    fn records_which_request_pulled_each_package() {
        let packages = [
            "a 1 Depends: shared",
            "b 1 Depends: shared, only-b",
            "shared 1",
            "only-b 1",
        ];
        let index = AptIndex::new(index(&packages), &["amd64"]);
        let requests: Vec<Request> = ["a", "b"].iter().map(|r| r.parse().unwrap()).collect();
        let chosen = closure(
            &index,
            &Base::default(),
            &requests,
            ClosureOptions::default(),
        )
        .unwrap();
        assert_eq!(chosen["shared"].pulled_by, "a");
        assert_eq!(chosen["only-b"].pulled_by, "b");
        assert!(
            "curl=7.88.1-10:amd64".parse::<Request>().is_err(),
            "a version cannot carry an arch"
        );
        assert_eq!("curl:amd64".parse::<Request>().unwrap().name, "curl");
    }
    #[test]
    fn recommends_are_soft_and_a_failed_one_is_taken_back_whole() {
        let packages = [
            "app 1 Depends: libc; Recommends: docs, missing-thing, helper | other-helper, broken-extra",
            "libc 1",
            "docs 1 Depends: libc",
            // helper conflicts with app: the next alternative is taken.
            "helper 1 Conflicts: app",
            "other-helper 1",
            // broken-extra pulls in a library before it finds its dependency missing: both
            // are taken back.
            "broken-extra 1 Depends: libextra, libgone",
            "libextra 1",
        ];
        let index = AptIndex::new(index(&packages), &["amd64"]);
        let report = closure_report(
            &index,
            &Base::default(),
            &["app".parse().unwrap()],
            ClosureOptions { recommends: true },
        )
        .unwrap();
        let names: Vec<&str> = report.chosen.keys().map(String::as_str).collect();
        assert_eq!(names, ["app", "docs", "libc", "other-helper"]);
        assert_eq!(
            report.dropped_recommends,
            [
                "app 1: nothing satisfies `missing-thing` (no such package in the index)",
                "app 1 -> broken-extra 1: nothing satisfies `libgone` (no such package in the index)",
            ]
        );
        // Without Recommends the same request is just app and libc.
        let plain = closure(
            &index,
            &Base::default(),
            &["app".parse().unwrap()],
            ClosureOptions::default(),
        )
        .unwrap();
        assert_eq!(plain.keys().collect::<Vec<_>>(), ["app", "libc"]);
    }

    #[test]
    fn a_status_file_with_an_unreadable_installed_stanza_is_an_error_naming_the_line() {
        let status = "Package: gone\nStatus: deinstall ok config-files\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: not a version\n";
        let error = Base::from_dpkg_status(status).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 4: libc6: `not a version` is not a Debian version: the upstream version must start with a digit"
        );
        let error =
            Base::from_dpkg_status("Package: x\nStatus: install ok installed\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("x is installed but has no Version"),
            "{error}"
        );
        // A package that is not installed needs no version.
        assert!(
            Base::from_dpkg_status("Package: gone\nStatus: deinstall ok config-files\n").is_ok()
        );
    }
}
