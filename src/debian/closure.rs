//! The install closure of requested Debian packages over an in-memory index, as apt would
//! compute it for a fresh install on top of a base system.
//!
//! Rules (Debian Policy §7, and apt's behaviour where Policy leaves a choice):
//! - Depends and Pre-Depends (and Recommends when asked) are followed.
//! - An OR group is satisfied if any alternative already is (chosen or in the base); otherwise
//!   the first alternative that can be installed is taken, as apt does.
//! - A real package wins over a provider of the same name; a virtual package is satisfied by a
//!   Provides: an unversioned dependency by any provider, a versioned one only by a versioned
//!   Provides whose version meets it. Among providers the choice is by name, deterministically.
//! - The highest version meeting the constraint is chosen; candidates that Breaks/Conflicts
//!   with what is already chosen (either way round) are skipped.
//! - `Architecture: all` packages count as native; `:any` accepts any architecture; only the
//!   native architecture is resolved (foreign architectures are a later step).
//! - Packages already in the base at a satisfying version are not added.
//!
//! Every chosen package records which requested package pulled it in, and an unresolvable
//! relation is reported with the chain that needs it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::packages::{BinaryPackage, Relation};
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

/// The packages of one index, by name, newest version first.
#[derive(Debug, Default)]
pub struct AptIndex {
    by_name: HashMap<String, Vec<BinaryPackage>>,
    /// virtual name -> (provider name, provided version)
    providers: HashMap<String, Vec<(String, Option<DebVersion>)>>,
}

impl AptIndex {
    /// Builds the index for `native_arch` (plus `all`).
    pub fn new(packages: impl IntoIterator<Item = BinaryPackage>, native_arch: &str) -> Self {
        let mut index = AptIndex::default();
        for package in packages {
            if package.architecture != native_arch && package.architecture != "all" {
                continue;
            }
            for (name, version) in &package.provides {
                index
                    .providers
                    .entry(name.clone())
                    .or_default()
                    .push((package.name.clone(), version.clone()));
            }
            index
                .by_name
                .entry(package.name.clone())
                .or_default()
                .push(package);
        }
        for versions in index.by_name.values_mut() {
            versions.sort_by(|a, b| b.version.cmp(&a.version));
            versions.dedup_by(|a, b| a.version == b.version);
        }
        for providers in index.providers.values_mut() {
            providers.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
            providers.dedup();
        }
        index
    }

    pub fn versions(&self, name: &str) -> &[BinaryPackage] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }
}

/// What the target image already has: name -> version, with what those packages provide.
#[derive(Debug, Clone, Default)]
pub struct Base {
    pub installed: HashMap<String, DebVersion>,
    pub provides: HashMap<String, Vec<Option<DebVersion>>>,
}

impl Base {
    /// The installed packages of a dpkg status file (`Status: install ok installed`).
    pub fn from_dpkg_status(text: &str) -> Result<Self, super::deb822::Deb822Error> {
        let mut base = Base::default();
        for stanza in super::deb822::parse(text)? {
            let installed = stanza
                .get("Status")
                .is_some_and(|status| status.split_whitespace().last() == Some("installed"));
            let (Some(name), Some(version)) = (stanza.get("Package"), stanza.get("Version")) else {
                continue;
            };
            let Ok(version) = version.parse::<DebVersion>() else {
                continue;
            };
            if !installed {
                continue;
            }
            base.installed.insert(name.to_string(), version);
            if let Some(provides) = stanza.get("Provides")
                && let Ok(groups) = super::packages::parse_relations(provides, name)
            {
                for relation in groups.into_iter().flatten() {
                    let version = match relation.constraint {
                        Some((super::packages::Operator::Equal, version)) => Some(version),
                        _ => None,
                    };
                    base.provides
                        .entry(relation.name)
                        .or_default()
                        .push(version);
                }
            }
        }
        Ok(base)
    }

    pub fn add(&mut self, package: &BinaryPackage) {
        self.installed
            .insert(package.name.clone(), package.version.clone());
        for (name, version) in &package.provides {
            self.provides
                .entry(name.clone())
                .or_default()
                .push(version.clone());
        }
    }

    fn satisfies(&self, relation: &Relation) -> bool {
        if self
            .installed
            .get(&relation.name)
            .is_some_and(|v| relation.allows(v))
        {
            return true;
        }
        self.provides.get(&relation.name).is_some_and(|versions| {
            versions
                .iter()
                .any(|provided| match (&relation.constraint, provided) {
                    (None, _) => true,
                    (Some(_), Some(version)) => relation.allows(version),
                    (Some(_), None) => false,
                })
        })
    }
}

/// A requested package: `name`, `name=version` or `name:arch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub version: Option<DebVersion>,
}

impl std::str::FromStr for Request {
    type Err = super::version::VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, version) = match text.split_once('=') {
            Some((name, version)) => (name, Some(version.parse()?)),
            None => (text, None),
        };
        let name = name.split_once(':').map_or(name, |(name, _)| name);
        Ok(Request {
            name: name.trim().to_string(),
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

fn conflicts_with(candidate: &BinaryPackage, chosen: &BTreeMap<String, Chosen>) -> Option<String> {
    for other in chosen.values() {
        let other = &other.package;
        if other.name == candidate.name {
            continue;
        }
        if hits(&candidate.breaks, other) || hits(&candidate.conflicts, other) {
            return Some(format!(
                "{} {} breaks or conflicts with {} {}",
                candidate.name, candidate.version, other.name, other.version
            ));
        }
        if hits(&other.breaks, candidate) || hits(&other.conflicts, candidate) {
            return Some(format!(
                "{} {} breaks or conflicts with {} {}",
                other.name, other.version, candidate.name, candidate.version
            ));
        }
    }
    None
}

fn relation_text(group: &[Relation]) -> String {
    group
        .iter()
        .map(|r| match &r.constraint {
            Some((op, version)) => {
                let op = match op {
                    super::packages::Operator::Less => "<<",
                    super::packages::Operator::LessOrEqual => "<=",
                    super::packages::Operator::Equal => "=",
                    super::packages::Operator::GreaterOrEqual => ">=",
                    super::packages::Operator::Greater => ">>",
                };
                format!("{} ({op} {version})", r.name)
            }
            None => r.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Computes the closure of `requests` over `index`, on top of `base`.
pub fn closure(
    index: &AptIndex,
    base: &Base,
    requests: &[Request],
    options: ClosureOptions,
) -> Result<BTreeMap<String, Chosen>, ClosureError> {
    let mut chosen: BTreeMap<String, Chosen> = BTreeMap::new();
    // (relation group, chain of names that needs it, root request)
    let mut queue: VecDeque<(Vec<Relation>, Vec<String>, String)> = VecDeque::new();
    for request in requests {
        let relation = Relation {
            name: request.name.clone(),
            arch_qualifier: None,
            constraint: request
                .version
                .clone()
                .map(|v| (super::packages::Operator::Equal, v)),
            arch_restrictions: Vec::new(),
        };
        queue.push_back((vec![relation], Vec::new(), request.name.clone()));
    }
    while let Some((group, chain, root)) = queue.pop_front() {
        // apt upgrades an explicitly requested package to its candidate even when the base has
        // an older version; dependencies the base satisfies are left alone.
        let requested = chain.is_empty();
        let base_ok = |relation: &Relation| {
            if !requested {
                return base.satisfies(relation);
            }
            let newest = index
                .versions(&relation.name)
                .iter()
                .find(|p| relation.allows(&p.version));
            match (base.installed.get(&relation.name), newest) {
                (Some(installed), Some(candidate)) => {
                    installed >= &candidate.version && relation.allows(installed)
                }
                (Some(_), None) => base.satisfies(relation),
                (None, _) => false,
            }
        };
        let already = group.iter().any(|relation| {
            base_ok(relation)
                || chosen
                    .get(&relation.name)
                    .is_some_and(|c| relation.allows(&c.package.version))
                || chosen.values().any(|c| {
                    c.package.provides.iter().any(|(name, version)| {
                        *name == relation.name
                            && match (&relation.constraint, version) {
                                (None, _) => true,
                                (Some(_), Some(v)) => relation.allows(v),
                                (Some(_), None) => false,
                            }
                    })
                })
        });
        if already {
            continue;
        }
        let mut picked: Option<BinaryPackage> = None;
        let mut why: Option<String> = None;
        'alternatives: for relation in &group {
            // A real package of that name wins over providers.
            let real: Vec<&BinaryPackage> = index
                .versions(&relation.name)
                .iter()
                .filter(|p| relation.allows(&p.version))
                .collect();
            let candidates: Vec<&BinaryPackage> = if !real.is_empty() {
                real
            } else {
                index
                    .providers
                    .get(&relation.name)
                    .into_iter()
                    .flatten()
                    .filter(|(_, provided)| match (&relation.constraint, provided) {
                        (None, _) => true,
                        (Some(_), Some(version)) => relation.allows(version),
                        (Some(_), None) => false,
                    })
                    .filter_map(|(provider, provided)| {
                        index.versions(provider).iter().find(|p| {
                            p.provides.iter().any(|(name, version)| {
                                *name == relation.name && version == provided
                            })
                        })
                    })
                    .collect()
            };
            for candidate in candidates {
                match conflicts_with(candidate, &chosen) {
                    None => {
                        picked = Some(candidate.clone());
                        break 'alternatives;
                    }
                    Some(reason) => why = Some(reason),
                }
            }
        }
        let Some(package) = picked else {
            let mut full_chain = chain.clone();
            if full_chain.is_empty() {
                full_chain.push("requested".to_string());
            }
            return Err(ClosureError::Unsatisfiable {
                chain: full_chain,
                relation: relation_text(&group),
                why: why.or_else(|| {
                    let names: Vec<&str> = group.iter().map(|r| r.name.as_str()).collect();
                    let known = names
                        .iter()
                        .any(|n| !index.versions(n).is_empty() || index.providers.contains_key(*n));
                    Some(if known {
                        "no version meets the constraint".to_string()
                    } else {
                        "no such package in the index".to_string()
                    })
                }),
            });
        };
        let mut next_chain = chain.clone();
        next_chain.push(format!("{} {}", package.name, package.version));
        let mut fields: Vec<&Vec<Vec<Relation>>> = vec![&package.pre_depends, &package.depends];
        if options.recommends {
            fields.push(&package.recommends);
        }
        for field in fields {
            for group in field {
                queue.push_back((group.clone(), next_chain.clone(), root.clone()));
            }
        }
        chosen.insert(
            package.name.clone(),
            Chosen {
                package,
                pulled_by: root,
            },
        );
    }
    Ok(chosen)
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
            let arch = if rest.contains("Architecture: all") {
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
        let index = AptIndex::new(index(lines), "amd64");
        let mut installed = Base::default();
        for package in index_base(base) {
            installed.add(&package);
        }
        let requests: Vec<Request> = requests.iter().map(|r| r.parse().unwrap()).collect();
        let chosen = closure(&index, &installed, &requests, ClosureOptions::default())?;
        Ok(chosen
            .values()
            .map(|c| format!("{}={}", c.package.name, c.package.version))
            .collect())
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
    fn reads_a_dpkg_status_base() {
        let status = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: mawk\nStatus: install ok installed\nVersion: 1.3\nProvides: awk\n";
        let base = Base::from_dpkg_status(status).unwrap();
        assert_eq!(
            base.installed.len(),
            2,
            "config-files only is not installed"
        );
        let packages = ["app 1 Depends: libc6 (>= 2.34), awk, gone"];
        let index = AptIndex::new(index(&[packages[0], "gone 1"]), "amd64");
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
        let index = AptIndex::new(index(&packages), "amd64");
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
}
