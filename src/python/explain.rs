//! A failed resolution in the user's words: PubGrub's derivation, with the requirements file
//! named as such (never "requirements.in 0"), ranges written as specifiers (`==1.0` for what
//! is internally `[1.0, 1.0.post0.dev0)`), Python shown as the target's, and the reason a
//! version cannot be used given as the sentence that says why.

use std::ops::Bound;

use pep440_rs::Version;
use pubgrub::{Derived, External, Map, Ranges, ReportFormatter, Term};

use super::resolver::Node;

/// A version as the user wrote it: without the internal `min`/`max` markers that encode
/// `<V` and `>V`.
fn public(version: &Version) -> String {
    let mut version = version.clone();
    if Version::min(&version).is_some() {
        version = version.with_min(None);
    }
    if Version::max(&version).is_some() {
        version = version.with_max(None);
    }
    version.to_string()
}

/// `==V` as a range: V alone, or V with its local variants (`[V, V.post0.dev0)`).
fn pinned(range: &Ranges<Version>) -> Option<&Version> {
    let mut segments = range.iter();
    let segment = segments.next()?;
    if segments.next().is_some() {
        return None;
    }
    match segment {
        (Bound::Included(low), Bound::Included(high)) if low == high => Some(low),
        (Bound::Included(low), Bound::Excluded(high))
            if low.local().is_empty()
                && low.post().is_none()
                && low.dev().is_none()
                && *high == low.clone().with_post(Some(0)).with_dev(Some(0)) =>
        {
            Some(low)
        }
        _ => None,
    }
}

/// The version `<=V` was written with, when `bound` is where `<=V` ends: the dev release of
/// V's next post-release (`<=V` admits V's local variants, so it ends just above them).
fn last_before(bound: &Version) -> Option<Version> {
    if bound.dev() != Some(0) || !bound.local().is_empty() || bound.pre().is_some() {
        return None;
    }
    let written = match bound.post()? {
        0 => bound.clone().with_post(None),
        post => bound.clone().with_post(Some(post - 1)),
    };
    Some(written.with_dev(None))
}

/// A range as specifiers: `>=1.0, <2`, `==1.4`, `!=1.5`, several segments joined by "or".
pub fn specifiers(range: &Ranges<Version>) -> String {
    if range == &Ranges::full() {
        return "*".into();
    }
    if range.is_empty() {
        return "(no version)".into();
    }
    if let Some(version) = pinned(range) {
        return format!("=={}", public(version));
    }
    if let Some(version) = pinned(&range.complement()) {
        return format!("!={}", public(version));
    }
    let segments: Vec<String> = range
        .iter()
        .map(|segment| match segment {
            (Bound::Included(low), Bound::Included(high)) if low == high => {
                format!("=={}", public(low))
            }
            (low, high) => {
                let low = match low {
                    Bound::Included(v) => Some(format!(">={}", public(v))),
                    Bound::Excluded(v) => Some(format!(">{}", public(v))),
                    Bound::Unbounded => None,
                };
                let high = match high {
                    Bound::Included(v) => Some(format!("<={}", public(v))),
                    Bound::Excluded(v) => Some(match last_before(v) {
                        Some(written) => format!("<={}", public(&written)),
                        None => format!("<{}", public(v)),
                    }),
                    Bound::Unbounded => None,
                };
                [low, high]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        })
        .collect();
    segments.join(" or ")
}

/// A node with the versions a term speaks of.
fn with_versions(node: &Node, range: &Ranges<Version>) -> String {
    match node {
        Node::Root(label) => label.clone(),
        Node::Python => format!("Python {}", specifiers(range)),
        _ if range == &Ranges::full() => node.to_string(),
        _ => format!("{node} {}", specifiers(range)),
    }
}

/// Formats PubGrub's explanation for airlock's nodes.
pub struct Explainer {
    /// The target's Python, for "needs Python >=3.13, not 3.12".
    pub python: String,
}

impl ReportFormatter<Node, Ranges<Version>, String> for Explainer {
    type Output = String;

    fn format_external(&self, external: &External<Node, Ranges<Version>, String>) -> String {
        match external {
            External::NotRoot(node, _) => format!("{node} is what is being resolved"),
            External::NoVersions(Node::Python, _) => {
                format!("the target's Python is {}", self.python)
            }
            External::NoVersions(node, range) if range == &Ranges::full() => {
                format!("no version of {node} can be used")
            }
            External::NoVersions(node, range) => {
                format!("no version of {node} in {} can be used", specifiers(range))
            }
            // The reason is the sentence that says which version and why.
            External::Custom(_, _, reason) => reason.clone(),
            External::FromDependencyOf(node, range, Node::Python, pythons) => format!(
                "{} needs Python {}",
                with_versions(node, range),
                specifiers(pythons)
            ),
            External::FromDependencyOf(Node::Root(label), _, dependency, range) => {
                format!("{label} requires {}", with_versions(dependency, range))
            }
            External::FromDependencyOf(node, range, dependency, dependency_range) => format!(
                "{} depends on {}",
                with_versions(node, range),
                with_versions(dependency, dependency_range)
            ),
        }
    }

    fn format_terms(&self, terms: &Map<Node, Term<Ranges<Version>>>) -> String {
        let terms: Vec<_> = terms.iter().collect();
        match terms.as_slice() {
            [] => "no versions can be chosen".into(),
            [(Node::Root(label), Term::Positive(_))] => {
                format!("{label} cannot be satisfied")
            }
            [(node, Term::Positive(range))] => {
                format!("{} cannot be used", with_versions(node, range))
            }
            [(node, Term::Negative(range))] => {
                format!("{} is needed", with_versions(node, range))
            }
            [
                (depender, Term::Positive(range)),
                (dependency, Term::Negative(needed)),
            ]
            | [
                (dependency, Term::Negative(needed)),
                (depender, Term::Positive(range)),
            ] => self.format_external(&External::FromDependencyOf(
                (*depender).clone(),
                range.clone(),
                (*dependency).clone(),
                needed.clone(),
            )),
            several => {
                let parts: Vec<String> = several
                    .iter()
                    .map(|(node, term)| match term {
                        Term::Positive(range) => with_versions(node, range),
                        Term::Negative(range) => format!("not {}", with_versions(node, range)),
                    })
                    .collect();
                format!("{} cannot be used together", parts.join(", "))
            }
        }
    }

    fn explain_both_external(
        &self,
        external1: &External<Node, Ranges<Version>, String>,
        external2: &External<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(external1),
            self.format_external(external2),
            self.format_terms(current_terms)
        )
    }

    fn explain_both_ref(
        &self,
        ref_id1: usize,
        derived1: &Derived<Node, Ranges<Version>, String>,
        ref_id2: usize,
        derived2: &Derived<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "Because {} ({ref_id1}) and {} ({ref_id2}), {}.",
            self.format_terms(&derived1.terms),
            self.format_terms(&derived2.terms),
            self.format_terms(current_terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Node, Ranges<Version>, String>,
        external: &External<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.format_terms(&derived.terms),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_external(
        &self,
        external: &External<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.format_terms(&derived.terms),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior_external: &External<Node, Ranges<Version>, String>,
        external: &External<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior_external),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn range(text: &str) -> Ranges<Version> {
        let requirement = pep508_rs::Requirement::from_str(&format!("x{text}")).unwrap();
        super::super::requirements::specifier_range(&requirement)
    }

    #[test]
    fn ranges_read_as_the_specifiers_that_made_them() {
        assert_eq!(specifiers(&range("==1.0")), "==1.0");
        assert_eq!(specifiers(&range(">=1.0,<2")), ">=1.0, <2");
        assert_eq!(specifiers(&range(">1.0")), ">1.0");
        assert_eq!(specifiers(&range("<=3")), "<=3");
        assert_eq!(specifiers(&range("")), "*");
        assert_eq!(specifiers(&range("!=1.5")), "!=1.5");
        assert_eq!(
            specifiers(&range(">=1,!=1.5")),
            ">=1, <1.5 or >=1.5.post0.dev0"
        );
        assert_eq!(
            specifiers(&Ranges::singleton(Version::from_str("2.0").unwrap())),
            "==2.0"
        );
    }
}
