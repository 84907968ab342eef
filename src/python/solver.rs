//! The PubGrub solve loop, driven here rather than by `pubgrub::resolve`, so that the decision
//! order and the conflict handling are uv's: that is what makes airlock's pins the ones
//! `uv pip compile` gives.
//!
//! What uv does, and so what this does:
//! - **Priorities** belong to package *names*: the root first, then names pinned to one version
//!   (`==1.0` counts, local variants and all), then names that conflicted often, then the rest
//!   in the order they were discovered (requirements-file order, then each decided package's
//!   Requires-Dist order). A name's priority only goes up, except through conflicts. Virtual
//!   packages of one name (`name[extra]`) are ordered by their own discovery.
//! - **Conflicts** are counted: each time a decision is rejected, the package decided last is
//!   "affected" and every other package in the root cause is a "culprit". At five, an affected
//!   name is decided earlier; a culprit is decided later and its decision is undone, so the
//!   solver stops circling around it.
//! - **Versions**: the highest in range is tried. If none of its files suits the target, that
//!   version (widened to the gap between its neighbours, so a run of such versions becomes one
//!   range) is marked unavailable and the choice is made again. A version whose
//!   Requires-Python excludes the target is decided with a dependency on a Python that has no
//!   versions, so the rejection is a conflict and counts like one.
//! - Dependencies of a decided version are added for the same widened range.
//!
//! The solver knows nothing of indexes: an [`Oracle`] selects versions and lists dependencies.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pep440_rs::Version;
use pep508_rs::PackageName;
use pubgrub::{
    ConflictId, DependencyProvider, DerivationTree, Id, PackageResolutionStatistics, Ranges, State,
    Term,
};

use super::requirements::is_singleton_constraint;
use super::resolver::{Node, ResolveError};

/// Conflicts a package may be part of before it is decided earlier (affected) or later
/// (culprit), as uv counts them.
const CONFLICT_THRESHOLD: usize = 5;

/// The decision priority of a name; later variants win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// In discovery order: earlier discovered, higher priority.
    Unspecified(Reverse<usize>),
    /// Often the culprit of another package's rejection: decided after the conflicting ones.
    ConflictLate(Reverse<usize>),
    /// Often rejected: decided before the packages that rejected it.
    ConflictEarly(Reverse<usize>),
    /// Pinned to one version by some requirement.
    Singleton(Reverse<usize>),
    /// The requirements file, and the target's Python.
    Root,
}

impl Rank {
    fn index(self) -> Option<usize> {
        match self {
            Rank::Unspecified(Reverse(i))
            | Rank::ConflictLate(Reverse(i))
            | Rank::ConflictEarly(Reverse(i))
            | Rank::Singleton(Reverse(i)) => Some(i),
            Rank::Root => None,
        }
    }
}

/// A node's priority: its name's rank, then its own discovery order.
pub type Priority = (Rank, Reverse<u32>);

/// The priorities of every node seen so far.
#[derive(Debug, Default)]
pub struct Priorities {
    by_name: HashMap<PackageName, Rank>,
    tiebreak: HashMap<Node, u32>,
}

impl Priorities {
    /// Registers `node` as a dependency with `range`: a new name ranks by discovery, and a
    /// name pinned to one version anywhere ranks as a singleton from then on.
    pub fn insert(&mut self, node: &Node, range: &Ranges<Version>) {
        let next_tiebreak = u32::try_from(self.tiebreak.len()).unwrap_or(u32::MAX);
        self.tiebreak.entry(node.clone()).or_insert(next_tiebreak);
        let Some(name) = node.name() else {
            return;
        };
        let next_index = self.by_name.len();
        let singleton = is_singleton_constraint(range);
        match self.by_name.get_mut(name) {
            Some(rank) => {
                let index = rank.index().unwrap_or(next_index);
                let candidate = if singleton {
                    Rank::Singleton(Reverse(index))
                } else if matches!(rank, Rank::ConflictEarly(_) | Rank::ConflictLate(_)) {
                    // A conflict-driven rank stays until a pin outranks it; going back to
                    // discovery order would undo what the conflicts taught.
                    return;
                } else {
                    Rank::Unspecified(Reverse(index))
                };
                if candidate > *rank {
                    *rank = candidate;
                }
            }
            None => {
                let rank = if singleton {
                    Rank::Singleton(Reverse(next_index))
                } else {
                    Rank::Unspecified(Reverse(next_index))
                };
                self.by_name.insert(name.clone(), rank);
            }
        }
    }

    pub fn get(&self, node: &Node) -> Priority {
        match node {
            Node::Root(_) => (Rank::Root, Reverse(0)),
            Node::Python => (Rank::Root, Reverse(2)),
            _ => {
                let name = node.name().expect("package nodes have a name");
                let rank = self
                    .by_name
                    .get(name)
                    .copied()
                    .unwrap_or(Rank::Unspecified(Reverse(usize::MAX)));
                let tiebreak = self.tiebreak.get(node).copied().unwrap_or(u32::MAX);
                (rank, Reverse(tiebreak))
            }
        }
    }

    /// Ranks `node`'s name as often rejected; `false` when it already was (or has no name).
    fn mark_conflict_early(&mut self, node: &Node) -> bool {
        let Some(name) = node.name() else {
            return false;
        };
        let next_index = self.by_name.len();
        match self.by_name.get_mut(name) {
            None => {
                self.by_name
                    .insert(name.clone(), Rank::ConflictEarly(Reverse(next_index)));
                true
            }
            Some(Rank::ConflictEarly(_)) => false,
            Some(rank) => {
                let index = rank.index().unwrap_or(next_index);
                *rank = Rank::ConflictEarly(Reverse(index));
                true
            }
        }
    }

    /// Ranks `node`'s name as often the culprit; `false` when it already was ranked by
    /// conflicts (or has no name).
    fn mark_conflict_late(&mut self, node: &Node) -> bool {
        let Some(name) = node.name() else {
            return false;
        };
        let next_index = self.by_name.len();
        match self.by_name.get_mut(name) {
            None => {
                self.by_name
                    .insert(name.clone(), Rank::ConflictLate(Reverse(next_index)));
                true
            }
            Some(Rank::ConflictLate(_) | Rank::ConflictEarly(_)) => false,
            Some(rank) => {
                let index = rank.index().unwrap_or(next_index);
                *rank = Rank::ConflictLate(Reverse(index));
                true
            }
        }
    }
}

/// What the oracle picks for a node and range.
#[derive(Debug, Clone)]
pub enum Selection {
    /// No version in range: the range is unsatisfiable.
    None,
    /// This version: decide it.
    Version(Version),
    /// The highest version in range cannot be used for this target (no file fits, yanked, a
    /// build that failed), for this reason.
    Unavailable(Version, String),
    /// The highest version in range needs another Python: `versions` of Python, which the
    /// target is not.
    RequiresPython(Version, Ranges<Version>),
}

/// What a decided version depends on.
#[derive(Debug, Clone)]
pub enum NodeDependencies {
    /// In the order they are declared.
    Available(Vec<(Node, Ranges<Version>)>),
    /// The version cannot be used after all (its metadata says another Python, or cannot be
    /// read), for this reason.
    Unavailable(String),
}

/// What the solver asks of the index (or the wheelhouse).
pub trait Oracle:
    DependencyProvider<
        P = Node,
        V = Version,
        VS = Ranges<Version>,
        M = String,
        Priority = Priority,
        Err = ResolveError,
    >
{
    fn select(&self, node: &Node, range: &Ranges<Version>) -> Result<Selection, ResolveError>;
    fn dependencies(
        &self,
        node: &Node,
        version: &Version,
    ) -> Result<NodeDependencies, ResolveError>;
    /// Every version the project has (sorted, all files counted), for widening.
    fn known_versions(&self, node: &Node) -> Option<Arc<[Version]>>;
    /// The node priorities, which [`DependencyProvider::prioritize`] reads.
    fn priorities(&self) -> &std::cell::RefCell<Priorities>;
    /// Called with each decided version's dependencies: a chance to start fetching them.
    fn discovered(&self, dependencies: &[(Node, Ranges<Version>)]);
    /// Called when `version` is chosen from `range`; `settled` is what the constraints that
    /// cannot change allow. A chance to fetch ahead for the versions tried next.
    fn decided(
        &self,
        node: &Node,
        version: &Version,
        range: &Ranges<Version>,
        settled: Option<&Ranges<Version>>,
    );
}

/// Why the solve stopped without a solution.
pub enum SolveFailure {
    NoSolution(Box<DerivationTree<Node, Ranges<Version>, String>>),
    Error(ResolveError),
}

impl From<ResolveError> for SolveFailure {
    fn from(error: ResolveError) -> Self {
        SolveFailure::Error(error)
    }
}

#[derive(Default)]
struct ConflictTracker {
    culprit: HashMap<Id<Node>, usize>,
    affected: HashMap<Id<Node>, usize>,
    prioritize: Vec<Id<Node>>,
    deprioritize: Vec<Id<Node>>,
}

struct Solver<'o, O: Oracle> {
    oracle: &'o O,
    /// `AIRLOCK_TRACE_SOLVER=1`: every decision and conflict on stderr, in the shape of
    /// `uv -v`'s, so the two can be compared line by line.
    trace: bool,
    state: State<O>,
    conflicts: ConflictTracker,
    /// Versions whose dependencies are already incompatibilities.
    added: HashMap<Id<Node>, HashSet<Version>>,
    /// The last version chosen per node and the range it was chosen from: the same range
    /// after backtracking gives the same version without asking again.
    selected: HashMap<Id<Node>, (Ranges<Version>, Version)>,
    /// The package decided last: unit propagation starts from it, and conflicts count it as
    /// affected.
    next: Id<Node>,
}

impl<O: Oracle> Solver<'_, O> {
    fn node(&self, id: Id<Node>) -> &Node {
        &self.state.package_store[id]
    }

    /// `version` widened to the gap between its known neighbours.
    fn widen(&self, id: Id<Node>, version: &Version) -> Ranges<Version> {
        let single = Ranges::singleton(version.clone());
        match self.oracle.known_versions(self.node(id)) {
            Some(known) if !known.is_empty() => single.widen_versions(&known),
            _ => single,
        }
    }

    fn record_conflict(
        &mut self,
        affected: Id<Node>,
        version: Option<&Version>,
        conflict: &ConflictId<O>,
    ) {
        let affected_name = self.node(affected).name().cloned();
        let mut real = false;
        let culprits: Vec<Id<Node>> = self.state.conflict_packages(conflict).collect();
        for culprit in culprits {
            if culprit == affected {
                continue;
            }
            // A virtual package of the same name copies the base's obligations: not a
            // conflict between two packages.
            if affected_name.is_some() && self.node(culprit).name() == affected_name.as_ref() {
                continue;
            }
            real = true;
            let count = self.conflicts.culprit.entry(culprit).or_default();
            *count += 1;
            if *count == CONFLICT_THRESHOLD {
                self.conflicts.deprioritize.push(culprit);
            }
        }
        if real {
            if self.trace {
                let packages: Vec<String> = self
                    .state
                    .conflict_packages(conflict)
                    .map(|id| self.node(id).to_string())
                    .collect();
                match version {
                    Some(version) => eprintln!(
                        "solver: recording dependency conflict of {}=={version} from incompatibility of ({})",
                        self.node(affected),
                        packages.join(", ")
                    ),
                    None => eprintln!(
                        "solver: recording unit propagation conflict of {} from incompatibility of ({})",
                        self.node(affected),
                        packages.join(", ")
                    ),
                }
            }
            let count = self.conflicts.affected.entry(self.next).or_default();
            *count += 1;
            if *count == CONFLICT_THRESHOLD {
                self.conflicts.prioritize.push(self.next);
            }
        }
    }

    fn reprioritize(&mut self) {
        let mut priorities = self.oracle.priorities().borrow_mut();
        for id in std::mem::take(&mut self.conflicts.prioritize) {
            let changed = priorities.mark_conflict_early(&self.state.package_store[id]);
            if self.trace && changed {
                eprintln!(
                    "solver: {} has too many conflicts (affected), prioritizing",
                    self.state.package_store[id]
                );
            }
        }
        for id in std::mem::take(&mut self.conflicts.deprioritize) {
            if priorities.mark_conflict_late(&self.state.package_store[id]) {
                let undone = self.state.backtrack_package(id);
                if self.trace {
                    eprintln!(
                        "solver: {} has too many conflicts (culprit), deprioritizing and backtracking {} decisions",
                        self.state.package_store[id],
                        undone.unwrap_or(0)
                    );
                }
            }
        }
    }

    fn run(mut self) -> Result<Vec<(Node, Version)>, SolveFailure> {
        loop {
            let conflicts: Vec<_> = self
                .state
                .unit_propagation(self.next)
                .map_err(|tree| SolveFailure::NoSolution(Box::new(tree)))?
                .into_iter()
                .collect();
            for (affected, conflict) in conflicts {
                self.record_conflict(affected, None, &conflict);
            }
            self.reprioritize();
            let picked = {
                let (oracle, store) = (self.oracle, &self.state.package_store);
                let statistics = PackageResolutionStatistics::default();
                self.state
                    .partial_solution
                    .pick_highest_priority_pkg(|id, range| {
                        oracle.prioritize(&store[id], range, &statistics)
                    })
                    .map(|(id, range)| (id, range.clone()))
            };
            let Some((id, range)) = picked else {
                return Ok(self
                    .state
                    .partial_solution
                    .extract_solution()
                    .map(|(id, version)| (self.state.package_store[id].clone(), version))
                    .collect());
            };
            self.next = id;
            let node = self.node(id).clone();
            let cached = self
                .selected
                .get(&id)
                .filter(|(chosen_from, _)| *chosen_from == range)
                .map(|(_, version)| version.clone());
            let selection = match cached {
                Some(version) => Selection::Version(version),
                None => {
                    let selection = self.oracle.select(&node, &range)?;
                    if let Selection::Version(version) = &selection {
                        if self.trace {
                            eprintln!("solver: selecting {node}=={version}");
                        }
                        self.selected.insert(id, (range.clone(), version.clone()));
                    }
                    selection
                }
            };
            let version = match selection {
                Selection::None => {
                    self.state.add_no_versions(id, range);
                    continue;
                }
                Selection::Unavailable(version, reason) => {
                    let versions = self.widen(id, &version);
                    self.state.add_unavailable(id, versions, reason);
                    continue;
                }
                Selection::RequiresPython(version, pythons) => {
                    let versions = self.widen(id, &version);
                    let python = self.state.package_store.alloc(Node::Python);
                    self.state.add_dependency(id, versions, (python, pythons));
                    self.state.partial_solution.add_decision(id, version);
                    continue;
                }
                Selection::Version(version) => version,
            };
            let settled = self
                .state
                .partial_solution
                .unchanging_term_for_package(id)
                .map(|term| match term {
                    Term::Positive(range) => range.clone(),
                    Term::Negative(range) => range.complement(),
                });
            self.oracle
                .decided(&node, &version, &range, settled.as_ref());
            if self
                .added
                .get(&id)
                .is_some_and(|versions| versions.contains(&version))
            {
                // Its dependencies are already incompatibilities, none of them violated.
                self.state.partial_solution.add_decision(id, version);
                continue;
            }
            let dependencies = match self.oracle.dependencies(&node, &version)? {
                NodeDependencies::Unavailable(reason) => {
                    let versions = self.widen(id, &version);
                    self.state.add_unavailable(id, versions, reason);
                    continue;
                }
                NodeDependencies::Available(dependencies) => dependencies,
            };
            self.added.entry(id).or_default().insert(version.clone());
            {
                let mut priorities = self.oracle.priorities().borrow_mut();
                for (dependency, range) in &dependencies {
                    priorities.insert(dependency, range);
                    if let Some(base) = dependency.base() {
                        priorities.insert(&base, range);
                    }
                }
            }
            self.oracle.discovered(&dependencies);
            // `name[extra]` in a range needs `name` in the same range.
            for (dependency, range) in &dependencies {
                if let Some(base) = dependency.base() {
                    let proxy = self.state.package_store.alloc(dependency.clone());
                    let base = self.state.package_store.alloc(base);
                    self.state
                        .add_dependency(proxy, range.clone(), (base, range.clone()));
                }
            }
            let versions = self.widen(id, &version);
            if let Some(conflict) = self.state.add_package_version_dependencies(
                id,
                version.clone(),
                versions,
                dependencies,
            ) {
                self.record_conflict(id, Some(&version), &conflict);
            }
        }
    }
}

/// Solves from `root` with `oracle`: each node with its version.
pub fn solve<O: Oracle>(oracle: &O, root: Node) -> Result<Vec<(Node, Version)>, SolveFailure> {
    let state = State::init(root, Version::new([0]));
    let next = state.root_package;
    Solver {
        oracle,
        trace: std::env::var_os("AIRLOCK_TRACE_SOLVER").is_some_and(|v| v == "1"),
        state,
        conflicts: ConflictTracker::default(),
        added: HashMap::new(),
        selected: HashMap::new(),
        next,
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn name(text: &str) -> PackageName {
        PackageName::from_str(text).unwrap()
    }

    fn range(text: &str) -> Ranges<Version> {
        let requirement = pep508_rs::Requirement::from_str(&format!("x{text}")).unwrap();
        super::super::requirements::specifier_range(&requirement)
    }

    #[test]
    fn priorities_follow_discovery_pins_and_conflicts() {
        let mut priorities = Priorities::default();
        let (a, b, c) = (
            Node::Package(name("a")),
            Node::Package(name("b")),
            Node::Package(name("c")),
        );
        priorities.insert(&a, &range(">=1"));
        priorities.insert(&b, &range(">=1"));
        priorities.insert(&c, &range(">=1"));
        assert!(
            priorities.get(&a) > priorities.get(&b),
            "discovered first, decided first"
        );
        // `==2` (local variants included) makes c a pin, and it stays one.
        priorities.insert(&c, &range("==2"));
        assert!(priorities.get(&c) > priorities.get(&a));
        priorities.insert(&c, &range(">=1"));
        assert!(priorities.get(&c) > priorities.get(&a), "a pin is sticky");
        // Conflicts move b ahead of a, or behind every conflict-ranked name.
        assert!(priorities.mark_conflict_early(&b));
        assert!(
            !priorities.mark_conflict_early(&b),
            "only the first time changes it"
        );
        assert!(priorities.get(&b) > priorities.get(&a));
        assert!(priorities.mark_conflict_late(&a));
        assert!(!priorities.mark_conflict_late(&a));
        assert!(priorities.get(&b) > priorities.get(&a));
        priorities.insert(&a, &range(">=1"));
        assert_eq!(
            priorities.get(&a).0,
            Rank::ConflictLate(Reverse(0)),
            "discovery again does not undo a conflict rank"
        );
        assert!(priorities.get(&Node::Root("r".into())) > priorities.get(&c));
        assert!(priorities.get(&Node::Python) > priorities.get(&c));
    }
}
