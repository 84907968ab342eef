//! `airlock sbom`: CycloneDX 1.6 and SPDX 2.3 documents of a project with wheels, an sdist and
//! Debian packages, validated against the vendored official schemas, with the fields scanners
//! read offline; the bundle carries the same CycloneDX document byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::apt::{DEFAULTS, archive, deb};
use crate::support::{FakeIndex, Project};

fn schema(path: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/schemas")
                .join(path),
        )
        .unwrap(),
    )
    .unwrap()
}

fn assert_valid_spdx(document: &Value) {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema("spdx-2.3/spdx-schema.json"))
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not valid SPDX 2.3: {errors:#?}");
}

/// A project with Python wheels, a Python sdist and .debs, synced.
fn project() -> Option<(Project, FakeIndex, crate::apt::Repository)> {
    if crate::sdist::skip_without_host_python() {
        return None;
    }
    let index = FakeIndex::start(crate::bundle::STACK);
    crate::sdist::publish_tiny(
        &index,
        "statics",
        "1.0",
        "2.2",
        &["corelib"],
        serde_json::json!({}),
    );
    let repository = archive(
        &[
            deb(
                "curl",
                "7.88.1-10+deb12u5",
                "amd64",
                "Depends: libssl3 | libgnutls30, libc6 (>= 2.36), zlib1g\n",
            ),
            deb(
                "libssl3",
                "3.0.11-1~deb12u2",
                "amd64",
                "Source: openssl (3.0.11-1~deb12u2)\nDepends: libc6\n",
            ),
            deb("libc6", "2.36-9+deb12u4", "amd64", "Source: glibc\n"),
            deb(
                "zlib1g",
                "1:1.2.13.dfsg-1",
                "amd64",
                "Source: zlib\nProvides: libz1\n",
            ),
        ],
        &DEFAULTS,
    );
    let project = crate::apt::python_and_curl_project(
        &index.url,
        &repository,
        "webapp\nstatics\n",
        &[
            ("3.12", "x86_64-manylinux_2_36"),
            ("3.11", "aarch64-manylinux_2_28"),
        ],
    );
    let output = project.airlock().arg("sync").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some((project, index, repository))
}

fn property<'a>(component: &'a Value, name: &str) -> Option<&'a str> {
    component["properties"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["value"].as_str())
}

#[test]
fn cyclonedx_and_spdx_carry_what_offline_scanners_read() {
    let Some((project, _index, _repository)) = project() else {
        return;
    };
    let cdx: Value = serde_json::from_str(&project.stdout_of(&["sbom"], 0)).unwrap();
    crate::bundle::assert_valid_cyclonedx(&cdx);
    let components = cdx["components"].as_array().unwrap();
    // Every package component: a purl and a SHA-256.
    for component in components
        .iter()
        .filter(|c| c["type"] != "operating-system")
    {
        assert!(component["purl"].as_str().is_some(), "{component}");
        assert_eq!(component["hashes"][0]["alg"], "SHA-256", "{component}");
        assert_eq!(
            component["hashes"][0]["content"].as_str().unwrap().len(),
            64
        );
    }
    // Exactly one operating system, the Debian release the suite is.
    let systems: Vec<&Value> = components
        .iter()
        .filter(|c| c["type"] == "operating-system")
        .collect();
    assert_eq!(systems.len(), 1, "{systems:?}");
    assert_eq!(systems[0]["name"], "debian");
    assert_eq!(systems[0]["version"], "12");
    // Every .deb: the distro qualifier and its source package, split as Trivy splits it.
    let by_name = |name: &str| {
        components
            .iter()
            .find(|c| c["name"] == name && c["type"] == "library")
            .unwrap_or_else(|| panic!("no component {name}"))
    };
    let libssl = by_name("libssl3");
    assert_eq!(
        libssl["purl"],
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"
    );
    assert_eq!(
        property(libssl, "aquasecurity:trivy:SrcName"),
        Some("openssl")
    );
    assert_eq!(
        property(libssl, "aquasecurity:trivy:SrcVersion"),
        Some("3.0.11")
    );
    assert_eq!(
        property(libssl, "aquasecurity:trivy:SrcRelease"),
        Some("1~deb12u2")
    );
    assert_eq!(libssl["pedigree"]["ancestors"][0]["name"], "openssl");
    let zlib = by_name("zlib1g");
    assert_eq!(
        zlib["purl"],
        "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12"
    );
    assert_eq!(property(zlib, "aquasecurity:trivy:SrcEpoch"), Some("1"));
    assert_eq!(
        property(by_name("libc6"), "aquasecurity:trivy:SrcName"),
        Some("glibc")
    );
    for component in components.iter().filter(|c| {
        c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:deb/"))
    }) {
        assert!(
            component["purl"]
                .as_str()
                .unwrap()
                .contains("&distro=debian-12")
        );
        assert!(property(component, "aquasecurity:trivy:SrcName").is_some());
    }
    // Python: every wheel and the sdist, by file name, with the targets that use them.
    let purls: BTreeSet<&str> = components
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    assert!(
        purls.contains("pkg:pypi/statics@1.0?file_name=statics-1.0.tar.gz"),
        "{purls:?}"
    );
    assert!(purls.contains("pkg:pypi/webapp@1.0?file_name=webapp-1.0-py3-none-any.whl"));
    let webapp = components
        .iter()
        .find(|c| c["purl"] == "pkg:pypi/webapp@1.0?file_name=webapp-1.0-py3-none-any.whl")
        .unwrap();
    let targets: Vec<&str> = webapp["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "airlock:target")
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "cp3.11 aarch64-manylinux_2_28",
            "cp3.12 x86_64-manylinux_2_36"
        ]
    );

    // The graph holds every edge of the locks.
    let graph: BTreeMap<&str, BTreeSet<&str>> = cdx["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["ref"].as_str().unwrap(),
                d["dependsOn"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    let name_of = |reference: &str| -> String {
        components
            .iter()
            .find(|c| c["bom-ref"] == reference)
            .map(|c| c["name"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let needs = |from: &str| -> BTreeSet<String> {
        graph
            .iter()
            .filter(|(reference, _)| name_of(reference) == from)
            .flat_map(|(_, needs)| needs.iter().map(|r| name_of(r)))
            .collect()
    };
    let lock: toml::Value = toml::from_str(&project.read("lockfiles/pylock.app.toml")).unwrap();
    for package in lock["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        for dependency in package
            .get("dependencies")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
        {
            let dependency = dependency["name"].as_str().unwrap();
            assert!(
                needs(name).contains(dependency),
                "{name} -> {dependency} is missing"
            );
        }
    }
    assert_eq!(
        needs("curl"),
        ["libc6", "libssl3", "zlib1g"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert_eq!(
        needs("libssl3"),
        ["libc6"].map(String::from).into_iter().collect()
    );
    let os_needs = &graph["os:debian-12"];
    assert_eq!(os_needs.len(), 4, "the OS depends on its .debs");
    assert!(graph["project"].contains("os:debian-12"));

    // SPDX: the same packages, checksums, purls and edges.
    let spdx: Value =
        serde_json::from_str(&project.stdout_of(&["sbom", "--format", "spdx-json"], 0)).unwrap();
    assert_valid_spdx(&spdx);
    let packages = spdx["packages"].as_array().unwrap();
    let with_purl: Vec<&Value> = packages
        .iter()
        .filter(|p| p.get("externalRefs").is_some())
        .collect();
    assert_eq!(with_purl.len(), purls.len());
    for package in &with_purl {
        assert_eq!(package["checksums"][0]["algorithm"], "SHA256");
        assert_eq!(
            package["externalRefs"][0]["referenceCategory"],
            "PACKAGE-MANAGER"
        );
    }
    let spdx_edges = spdx["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DEPENDS_ON")
        .count();
    let cdx_edges: usize = graph.values().map(BTreeSet::len).sum();
    assert_eq!(spdx_edges, cdx_edges);

    // The bundle carries the same document, byte for byte, and -o writes it.
    let kit = project.path().join("kit.tar.zst");
    project.stderr_of(&["bundle", "create", "-o", kit.to_str().unwrap()], 0);
    let bytes = zstd::decode_all(std::fs::File::open(&kit).unwrap()).unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut inside = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path_bytes().as_ref() == b".airlock-bundle/sbom.cdx.json" {
            std::io::Read::read_to_end(&mut entry, &mut inside).unwrap();
        }
    }
    project.stdout_of(&["sbom", "-o", "sbom.cdx.json"], 0);
    assert_eq!(
        inside,
        std::fs::read(project.path().join("sbom.cdx.json")).unwrap()
    );
}
