//! A fake apt repository on 127.0.0.1: Packages built in the test, a Release signed by an
//! OpenPGP key generated in the test, and the faults that must be refused.

use std::io::Write;
use std::time::SystemTime;

use airlock::debian::closure::{AptIndex, Base, ClosureOptions, closure};
use airlock::debian::remote::{RemoteError, load_suite};
use airlock::debian::signature::Keyring;
use airlock::debian::sources::parse_sources;
use airlock::net::RetryPolicy;
use airlock::net::cache::HttpCache;
use pgp::composed::{CleartextSignedMessage, KeyType, SecretKeyParamsBuilder, SignedSecretKey};
use pgp::types::Password;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

use crate::support::{FakeIndex, assert_mentions};

pub(crate) fn key(seed: u64) -> SignedSecretKey {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id("airlock test archive".into());
    params.build().unwrap().generate(&mut rng).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) struct Repository {
    pub(crate) server: FakeIndex,
    pub(crate) key: SignedSecretKey,
    dir: tempfile::TempDir,
}

/// A project that locks `requirements` (as `requirements/app.in`) from `index_url` for
/// `targets` (Python version, platform) and Debian's `curl` for amd64 from `repository`,
/// trusting the repository's key (`keys/archive.asc`). Not synced.
pub(crate) fn python_and_curl_project(
    index_url: &str,
    repository: &Repository,
    requirements: &str,
    targets: &[(&str, &str)],
) -> crate::support::Project {
    let project = crate::support::Project::new();
    project.write("requirements/app.in", requirements);
    project.write(
        "keys/archive.asc",
        &repository
            .key
            .to_public_key()
            .to_armored_string(Default::default())
            .unwrap(),
    );
    let targets: Vec<String> = targets
        .iter()
        .map(|(version, platform)| {
            format!("{{ python-version = \"{version}\", python-platform = \"{platform}\" }}")
        })
        .collect();
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements/app.in\"]\nindex-url = \"{index_url}\"\ntargets = [{}]\n\n[apt]\npackages = [\"curl\"]\narchitectures = [\"amd64\"]\nsources = [{{ uris = [\"{}debian\"], suites = [\"stable\"], components = [\"main\"], signed-by = \"keys/archive.asc\" }}]\n",
            targets.join(", "),
            repository.server.root()
        ),
    );
    project
}

/// One package of the fake archive; `fields` are extra stanza lines (`Depends: x\n`).
pub(crate) struct FakeDeb {
    name: String,
    version: String,
    arch: String,
    fields: String,
    /// The file's bytes, when not a well-formed stand-in (for files that are no .deb).
    raw: Option<Vec<u8>>,
}

pub(crate) fn deb(name: &str, version: &str, arch: &str, fields: &str) -> FakeDeb {
    FakeDeb {
        name: name.into(),
        version: version.into(),
        arch: arch.into(),
        fields: fields.into(),
        raw: None,
    }
}

/// A minimal binary package as dpkg's outer format has it: an ar archive whose first member
/// is `debian-binary` (`2.0`), then a member naming the package (a real .deb has its control
/// and data archives there; nothing in the tests unpacks them).
fn deb_bytes(label: &str) -> Vec<u8> {
    let mut bytes = b"!<arch>\n".to_vec();
    for (name, content) in [
        ("debian-binary", "2.0\n".to_string()),
        ("label", format!("{label}\n")),
    ] {
        bytes.extend(
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                100644,
                content.len()
            )
            .as_bytes(),
        );
        bytes.extend(content.as_bytes());
        if content.len() % 2 == 1 {
            bytes.push(b'\n');
        }
    }
    bytes
}

/// How the fake archive publishes itself.
pub(crate) struct ArchiveOptions<'a> {
    architectures: &'a [&'a str],
    valid_until: &'a str,
    filename_override: Option<&'a str>,
    /// `Release` + `Release.gpg` instead of `InRelease`.
    detached: bool,
    /// The Release's `Date`.
    date: &'a str,
}

pub(crate) const DEFAULTS: ArchiveOptions<'static> = ArchiveOptions {
    architectures: &["amd64"],
    valid_until: FUTURE,
    filename_override: None,
    detached: false,
    date: "Sat, 10 Aug 2024 09:12:34 UTC",
};

/// Publishes a one-suite repository whose Packages lists `stanzas` (name, version, depends).
fn repository(
    packages: &[(&str, &str, &str)],
    valid_until: &str,
    filename_override: Option<&str>,
) -> Repository {
    let debs: Vec<FakeDeb> = packages
        .iter()
        .map(|(name, version, depends)| {
            let fields = if depends.is_empty() {
                String::new()
            } else {
                format!("Depends: {depends}\n")
            };
            deb(name, version, "amd64", &fields)
        })
        .collect();
    archive(
        &debs,
        &ArchiveOptions {
            valid_until,
            filename_override,
            ..DEFAULTS
        },
    )
}

/// Publishes `debs` as suite `stable`, component `main`, one index per architecture (an
/// `Architecture: all` package is listed in each), signed by the repository's key.
pub(crate) fn archive(debs: &[FakeDeb], options: &ArchiveOptions) -> Repository {
    let server = FakeIndex::start("[[package]]\nname = \"unused\"\nversion = \"1\"\n");
    let key = key(11);
    publish(&server, &key, debs, options);
    Repository {
        server,
        key,
        dir: tempfile::tempdir().unwrap(),
    }
}

/// Serves `debs` from `server`, signed by `key` (a new snapshot over any earlier one).
fn publish(server: &FakeIndex, key: &SignedSecretKey, debs: &[FakeDeb], options: &ArchiveOptions) {
    let mut release = format!(
        "Origin: Test\nSuite: stable\nCodename: testing-airlock\nVersion: 12.5\nDate: {}\nValid-Until: {}\nArchitectures: {}\nComponents: main\nAcquire-By-Hash: yes\nSHA256:\n",
        options.date,
        options.valid_until,
        options.architectures.join(" ")
    );
    let mut served = Vec::new();
    for arch in options.architectures {
        let mut index = String::new();
        for package in debs.iter().filter(|d| d.arch == *arch || d.arch == "all") {
            let FakeDeb {
                name,
                version,
                arch,
                fields,
                raw,
            } = package;
            let bytes = raw
                .clone()
                .unwrap_or_else(|| deb_bytes(&format!("{name} {version} {arch}")));
            let file = format!("pool/main/{name}_{version}_{arch}.deb");
            let filename = options.filename_override.unwrap_or(&file);
            index.push_str(&format!(
                "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nFilename: {filename}\nSize: {}\nSHA256: {}\n{fields}\n",
                bytes.len(),
                sha256(&bytes)
            ));
            served.push((format!("/debian/{file}"), bytes));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(index.as_bytes()).unwrap();
        let packages_gz = gz.finish().unwrap();
        release.push_str(&format!(
            " {} {} main/binary-{arch}/Packages.gz\n",
            sha256(&packages_gz),
            packages_gz.len()
        ));
        served.push((
            format!(
                "/debian/dists/stable/main/binary-{arch}/by-hash/SHA256/{}",
                sha256(&packages_gz)
            ),
            packages_gz,
        ));
    }
    for (path, bytes) in served {
        server.serve(&path, bytes);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    if options.detached {
        let signature = pgp::composed::DetachedSignature::sign_binary_data(
            &mut rng,
            &**key,
            &Password::empty(),
            pgp::crypto::hash::HashAlgorithm::Sha256,
            release.as_bytes(),
        )
        .unwrap()
        .to_armored_string(Default::default())
        .unwrap();
        server.serve("/debian/dists/stable/Release", release.into_bytes());
        server.serve("/debian/dists/stable/Release.gpg", signature.into_bytes());
    } else {
        let in_release =
            CleartextSignedMessage::sign(&mut rng, &release, &**key, &Password::empty())
                .unwrap()
                .to_armored_string(Default::default())
                .unwrap();
        server.serve("/debian/dists/stable/InRelease", in_release.into_bytes());
    }
}

const FUTURE: &str = "Mon, 01 Jan 2100 00:00:00 UTC";

impl Repository {
    fn load(&self, keyring: &Keyring) -> Result<Vec<String>, RemoteError> {
        let sources = parse_sources(
            &format!(
                "Types: deb\nURIs: {}debian\nSuites: stable\nComponents: main\n",
                self.server.root()
            ),
            "test.sources",
        )
        .unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let cache = HttpCache::new(self.dir.path());
        let client = airlock::net::client().unwrap();
        let suite = runtime.block_on(load_suite(
            &client,
            &cache,
            &RetryPolicy::default(),
            false,
            &sources[0],
            Some(keyring),
            &["amd64".to_string()],
            SystemTime::now(),
            false,
        ))?;
        let index = AptIndex::new(suite.packages.concat(), &["amd64"]);
        let chosen = closure(
            &index,
            &Base::default(),
            &["curl".parse().unwrap()],
            ClosureOptions::default(),
        )
        .unwrap();
        Ok(chosen
            .values()
            .map(|c| format!("{}={}", c.package.name, c.package.version))
            .collect())
    }

    fn keyring(&self) -> Keyring {
        let armour = self
            .key
            .to_public_key()
            .to_armored_string(Default::default())
            .unwrap();
        Keyring::from_bytes(armour.as_bytes(), "test-archive.asc").unwrap()
    }
}

/// A project whose `[apt]` names `packages` from `repository`, with its key as Signed-By.
fn apt_project(repository: &Repository, packages: &str) -> crate::support::Project {
    let project = crate::support::Project::new();
    let armour = repository
        .key
        .to_public_key()
        .to_armored_string(Default::default())
        .unwrap();
    project.write("keys/archive.asc", &armour);
    write_apt_config(&project, repository, packages);
    project
}

fn write_apt_config(project: &crate::support::Project, repository: &Repository, packages: &str) {
    write_apt_config_with(
        project,
        repository,
        packages,
        "architectures = [\"amd64\"]\n",
    );
}

/// `extra` is more `[apt]` lines (they must set `architectures`).
fn write_apt_config_with(
    project: &crate::support::Project,
    repository: &Repository,
    packages: &str,
    extra: &str,
) {
    project.write(
        "airlock.toml",
        &format!(
            "[apt]\npackages = [{packages}]\n{extra}sources = [{{ uris = [\"{}debian\"], suites = [\"stable\"], components = [\"main\"], signed-by = \"keys/archive.asc\" }}]\n",
            repository.server.root()
        ),
    );
}

/// Each `[[packages]]` entry of a parsed apt lock, described by `describe`.
fn locked(lock: &toml::Value, describe: impl Fn(&toml::Value) -> String) -> Vec<String> {
    lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(describe)
        .collect()
}

fn field<'a>(entry: &'a toml::Value, key: &str) -> &'a str {
    entry[key].as_str().unwrap()
}

const PACKAGES: &[(&str, &str, &str)] = &[
    ("curl", "7.88.1-10", "libcurl4 (>= 7.88)"),
    ("libcurl4", "7.88.1-10", ""),
    ("libcurl4", "7.74.0-1", ""),
];

#[test]
fn a_signed_suite_loads_and_resolves() {
    let repository = repository(PACKAGES, FUTURE, None);
    assert_eq!(
        repository.load(&repository.keyring()).unwrap(),
        ["curl=7.88.1-10", "libcurl4=7.88.1-10"]
    );
    let by_hash = repository
        .server
        .requests()
        .iter()
        .any(|p| p.contains("/by-hash/SHA256/"));
    assert!(by_hash, "the index is fetched by hash");
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let repository = repository(PACKAGES, FUTURE, None);
    let stranger = key(99)
        .to_public_key()
        .to_armored_string(Default::default())
        .unwrap();
    let keyring = Keyring::from_bytes(stranger.as_bytes(), "stranger.asc").unwrap();
    let error = repository.load(&keyring).unwrap_err().to_string();
    assert!(
        error.contains("InRelease: the signature does not verify against stranger.asc"),
        "{error}"
    );
}

#[test]
fn an_expired_release_is_refused() {
    let repository = repository(PACKAGES, "Sun, 11 Aug 2024 09:12:34 UTC", None);
    let error = repository
        .load(&repository.keyring())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Valid-Until Sun, 11 Aug 2024 09:12:34 UTC has passed"),
        "{error}"
    );
}

#[test]
fn a_packages_index_that_does_not_match_the_release_is_refused() {
    let repository = repository(PACKAGES, FUTURE, None);
    // Replace the served index with different bytes under the name the signed Release gives.
    let release_hash = {
        let keyring = repository.keyring();
        let text = raw_get::text(&format!(
            "{}debian/dists/stable/InRelease",
            repository.server.root()
        ));
        let signed = keyring
            .verify_clearsigned(&text, "InRelease", SystemTime::now())
            .unwrap();
        signed
            .lines()
            .find(|l| l.contains("Packages.gz"))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    repository.server.serve(
        &format!("/debian/dists/stable/main/binary-amd64/by-hash/SHA256/{release_hash}"),
        b"tampered index".to_vec(),
    );
    let error = repository
        .load(&repository.keyring())
        .unwrap_err()
        .to_string();
    assert!(error.contains("but the signed Release says"), "{error}");
}

#[test]
fn a_filename_outside_the_repository_is_refused() {
    let repository = repository(PACKAGES, FUTURE, Some("../../../etc/shadow"));
    let error = repository
        .load(&repository.keyring())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Filename `../../../etc/shadow` is absolute or contains `..`"),
        "{error}"
    );
}

/// A tiny blocking GET for test setup (std only).
mod raw_get {
    pub fn text(url: &str) -> String {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.split_once("\r\n\r\n").unwrap().1.to_string()
    }
}

#[test]
fn resolve_writes_a_deterministic_apt_lock_and_check_covers_it() {
    let repository = repository(PACKAGES, FUTURE, None);
    let project = apt_project(&repository, "\"curl\"");
    let stderr = project.stderr_of(&["resolve"], 0);
    assert!(
        stderr.contains("Resolved 2 Debian packages for amd64; wrote lockfiles/apt.lock.toml"),
        "{stderr}"
    );
    let lock = project.read("lockfiles/apt.lock.toml");
    let value: toml::Value = toml::from_str(&lock).unwrap();
    let packages = locked(&value, |p| {
        format!(
            "{}={} pulled-by {}",
            field(p, "name"),
            field(p, "version"),
            field(p, "pulled-by")
        )
    });
    assert_eq!(
        packages,
        [
            "curl=7.88.1-10 pulled-by curl",
            "libcurl4=7.88.1-10 pulled-by curl"
        ]
    );
    assert_eq!(
        value["sources"][0]["date"].as_str(),
        Some("Sat, 10 Aug 2024 09:12:34 UTC")
    );
    assert!(
        value["sources"][0]["indexes"][0]["sha256"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    project.stderr_of(&["resolve"], 0);
    assert_eq!(
        project.read("lockfiles/apt.lock.toml"),
        lock,
        "deterministic"
    );
    project.stderr_of(&["resolve", "--check"], 0);
    write_apt_config(&project, &repository, "\"curl\", \"libcurl4=7.74.0-1\"");
    let stderr = project.stderr_of(&["resolve", "--check"], 1);
    assert!(
        stderr.contains("lockfiles/apt.lock.toml is out of date with [apt]"),
        "{stderr}"
    );
}

#[test]
fn fetch_downloads_the_debs_and_publishes_a_local_repository() {
    let repository = repository(PACKAGES, FUTURE, None);
    let project = apt_project(&repository, "\"curl\"");
    let stderr = project.stderr_of(&["sync"], 0);
    assert!(
        stderr.contains("2 files from 1 lock(s) in wheelhouse: 2 downloaded"),
        "{stderr}"
    );
    assert!(stderr.contains("published the local apt repository in wheelhouse/apt; on the air-gapped side use: deb [trusted=yes] file:"), "{stderr}");
    let apt = project.path().join("wheelhouse/apt");
    let deb = std::fs::read(apt.join("curl_7.88.1-10_amd64.deb")).unwrap();
    assert_eq!(deb, deb_bytes("curl 7.88.1-10 amd64"));
    let packages = project.read("wheelhouse/apt/Packages");
    assert!(
        packages.contains("Filename: ./libcurl4_7.88.1-10_amd64.deb\n"),
        "{packages}"
    );
    assert!(
        packages.contains("Depends: libcurl4 (>= 7.88)\n"),
        "{packages}"
    );
    let release = project.read("wheelhouse/apt/Release");
    let gz = std::fs::read(apt.join("Packages.gz")).unwrap();
    assert!(
        release.contains(&format!(" {} {} Packages.gz\n", sha256(&gz), gz.len())),
        "{release}"
    );
    // A second run: everything present, the repository rewritten byte-identical, nothing stray.
    let stderr = project.stderr_of(&["fetch"], 0);
    assert!(stderr.contains("2 already present"), "{stderr}");
    assert!(
        !stderr.contains("in no lock"),
        "the index files are not strays: {stderr}"
    );
    assert_eq!(project.read("wheelhouse/apt/Release"), release);
}

#[test]
fn verify_checks_the_debs_and_the_local_repository_offline() {
    let repository = repository(PACKAGES, FUTURE, None);
    let project = apt_project(&repository, "\"curl\"");
    project.stderr_of(&["sync"], 0);
    let seen = repository.server.requests().len();
    let stderr = project.stderr_of(&["verify"], 0);
    assert!(stderr.contains("0 finding(s)"), "{stderr}");
    assert_eq!(
        repository.server.requests().len(),
        seen,
        "verify sends no request"
    );
    let apt = project.path().join("wheelhouse/apt");
    std::fs::remove_file(apt.join("libcurl4_7.88.1-10_amd64.deb")).unwrap();
    std::fs::write(apt.join("Packages"), "Package: tampered\n").unwrap();
    let stderr = project.stderr_of(&["verify"], 1);
    for expected in [
        "wheelhouse/apt/libcurl4_7.88.1-10_amd64.deb: error AP101: libcurl4_7.88.1-10_amd64.deb is missing",
        "wheelhouse/apt/Packages: error AP104: the local repository's Packages differs from what apt.lock.toml publishes",
    ] {
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
    }
    // A changed [apt] makes the lock stale, as `resolve --check` says: verify says so too.
    project.stderr_of(&["fetch"], 0);
    project.stderr_of(&["verify"], 0);
    write_apt_config(&project, &repository, "\"curl\", \"libcurl4\"");
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(
        &stderr,
        &[
            "lockfiles/apt.lock.toml: error AP109: lockfiles/apt.lock.toml was made from other inputs",
        ],
    );
    std::fs::remove_file(project.path().join("lockfiles/apt.lock.toml")).unwrap();
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(
        &stderr,
        &[
            "error AP109",
            "is missing although [apt] packages are listed",
        ],
    );
}

#[test]
fn an_unreadable_or_unsafe_apt_lock_fails_verify_and_fetch_closed() {
    let repository = repository(PACKAGES, FUTURE, None);
    let project = apt_project(&repository, "\"curl\"");
    project.stderr_of(&["resolve"], 0);
    let lock_path = "lockfiles/apt.lock.toml";
    let good = project.read(lock_path);
    // A digest that is not 64 hex digits: refused by name, never sliced into a cache path.
    let short = good.replacen(
        &format!("sha256 = \"{}\"", field_value(&good, "sha256")),
        "sha256 = \"a\"",
        1,
    );
    assert_ne!(short, good, "the lock has a package sha256 to replace");
    project.write(lock_path, &short);
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &[
            "apt.lock.toml",
            "TOML parse error at line",
            "`a` is not a sha256 digest (64 hex digits)",
        ],
    );
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(&stderr, &["error AP108", "`a` is not a sha256 digest"]);
    // Garbage: verify used to read it as "no Debian side" and pass.
    project.write(lock_path, "this is { not toml\n");
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(
        &stderr,
        &["error AP108", "nothing of the Debian side was checked"],
    );
}

/// The value of the first `key = "…"` line after the first `[[packages]]`.
fn field_value(lock: &str, key: &str) -> String {
    let packages = lock.find("[[packages]]").expect("a package");
    lock[packages..]
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key} = \"")))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("the key")
        .to_string()
}

#[test]
fn a_release_for_another_suite_is_a_conflicting_distribution() {
    let repository = repository(PACKAGES, FUTURE, None);
    // The mirror serves the signed `stable` Release under `bookworm` too.
    repository
        .server
        .copy_tree("/debian/dists/stable/", "/debian/dists/bookworm/");
    let project = apt_project(&repository, "\"curl\"");
    let config = project
        .read("airlock.toml")
        .replace("suites = [\"stable\"]", "suites = [\"bookworm\"]");
    project.write("airlock.toml", &config);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(
        &stderr,
        &[
            "conflicting distribution",
            "for suite stable (codename testing-airlock), not bookworm",
        ],
    );
    // Its codename is accepted, as apt accepts it.
    let config = config.replace("suites = [\"bookworm\"]", "suites = [\"testing-airlock\"]");
    project.write("airlock.toml", &config);
    repository
        .server
        .copy_tree("/debian/dists/stable/", "/debian/dists/testing-airlock/");
    project.stderr_of(&["resolve"], 0);
}

#[test]
fn release_and_release_gpg_are_used_when_there_is_no_in_release() {
    let debs = [
        deb("curl", "7.88.1-10", "amd64", "Depends: libcurl4\n"),
        deb("libcurl4", "7.88.1-10", "amd64", ""),
    ];
    let repository = archive(
        &debs,
        &ArchiveOptions {
            detached: true,
            ..DEFAULTS
        },
    );
    assert_eq!(
        repository.load(&repository.keyring()).unwrap(),
        ["curl=7.88.1-10", "libcurl4=7.88.1-10"]
    );
    let requests = repository.server.requests();
    for file in ["InRelease", "Release", "Release.gpg"] {
        assert!(
            requests
                .iter()
                .any(|r| r.ends_with(&format!("/dists/stable/{file}"))),
            "{file} asked for: {requests:?}"
        );
    }
    // The detached signature is checked too: another key is refused.
    let stranger = key(99)
        .to_public_key()
        .to_armored_string(Default::default())
        .unwrap();
    let keyring = Keyring::from_bytes(stranger.as_bytes(), "stranger.asc").unwrap();
    let error = repository.load(&keyring).unwrap_err().to_string();
    assert!(
        error.contains("Release: the signature does not verify against stranger.asc"),
        "{error}"
    );
    // And a Release altered after signing.
    let release = raw_get::text(&format!(
        "{}debian/dists/stable/Release",
        repository.server.root()
    ));
    repository.server.serve(
        "/debian/dists/stable/Release",
        release.replace("Origin: Test", "Origin: Evil").into_bytes(),
    );
    let error = repository
        .load(&repository.keyring())
        .unwrap_err()
        .to_string();
    assert!(error.contains("the signature does not verify"), "{error}");
}

#[test]
fn an_expired_release_needs_the_flag_and_the_lock_records_it() {
    let repository = repository(PACKAGES, "Sun, 11 Aug 2024 09:12:34 UTC", None);
    let project = apt_project(&repository, "\"curl\"");
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(
        &stderr,
        &[
            "InRelease: Valid-Until Sun, 11 Aug 2024 09:12:34 UTC has passed",
            "--allow-expired-release",
        ],
    );
    assert!(!project.path().join("lockfiles/apt.lock.toml").exists());
    let stderr = project.stderr_of(&["resolve", "--allow-expired-release"], 0);
    assert_mentions(
        &stderr,
        &[
            "Resolved 2 Debian packages",
            "warning: accepted because of --allow-expired-release",
            "Valid-Until Sun, 11 Aug 2024 09:12:34 UTC had passed",
        ],
    );
    let lock: toml::Value = toml::from_str(&project.read("lockfiles/apt.lock.toml")).unwrap();
    let accepted = lock["sources"][0]["accepted-stale"].as_str().unwrap();
    assert!(
        accepted.ends_with("InRelease: Valid-Until Sun, 11 Aug 2024 09:12:34 UTC had passed"),
        "{accepted}"
    );
}

#[test]
fn a_deb_that_does_not_match_the_index_is_refused() {
    let repository = repository(PACKAGES, FUTURE, None);
    let project = apt_project(&repository, "\"curl\"");
    project.stderr_of(&["resolve"], 0);
    // Same length, other bytes: only the digest can tell.
    repository.server.serve(
        "/debian/pool/main/libcurl4_7.88.1-10_amd64.deb",
        deb_bytes("LIBCURL4 7.88.1-10 amd64"),
    );
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(&stderr, &["libcurl4_7.88.1-10_amd64.deb", "sha256"]);
    let apt = project.path().join("wheelhouse/apt");
    assert!(!apt.join("libcurl4_7.88.1-10_amd64.deb").exists());
    let leftovers: Vec<String> = std::fs::read_dir(&apt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("libcurl4") || n.starts_with(".airlock-partial"))
        .collect();
    assert!(leftovers.is_empty(), "nothing half-written: {leftovers:?}");
}

/// amd64 native, i386 foreign: M-A foreign, same and none, `all`, and a foreign request.
fn multiarch_archive() -> Repository {
    archive(
        &[
            deb(
                "game",
                "1.0",
                "i386",
                "Depends: helper, libgl1, game-data\n",
            ),
            // An `all` package serves a foreign one only as M-A foreign (apt-get agrees).
            deb("game-data", "1.0", "all", "Multi-Arch: foreign\n"),
            deb("helper", "2", "amd64", "Multi-Arch: foreign\n"),
            deb("helper", "2", "i386", "Multi-Arch: foreign\n"),
            deb("libgl1", "1.5", "amd64", "Multi-Arch: same\n"),
            deb("libgl1", "1.5", "i386", "Multi-Arch: same\n"),
            deb("viewer", "3", "amd64", "Depends: libgl1\n"),
        ],
        &ArchiveOptions {
            architectures: &["amd64", "i386"],
            ..DEFAULTS
        },
    )
}

#[test]
fn foreign_architectures_resolve_fetch_publish_and_verify() {
    let repository = multiarch_archive();
    let project = apt_project(&repository, "\"game\", \"viewer\"");
    write_apt_config_with(
        &project,
        &repository,
        "\"game\", \"viewer\"",
        "architectures = [\"amd64\", \"i386\"]\n",
    );
    let stderr = project.stderr_of(&["sync"], 0);
    assert_mentions(
        &stderr,
        &["Resolved 6 Debian packages for amd64, i386", "6 downloaded"],
    );
    let lock: toml::Value = toml::from_str(&project.read("lockfiles/apt.lock.toml")).unwrap();
    assert_eq!(lock["architecture"].as_str(), Some("amd64"));
    assert_eq!(
        lock["foreign-architectures"].as_array().unwrap()[0].as_str(),
        Some("i386")
    );
    let packages = locked(&lock, |p| {
        format!(
            "{}:{}={}",
            field(p, "name"),
            field(p, "architecture"),
            field(p, "version")
        )
    });
    assert_eq!(
        packages,
        [
            "game:i386=1.0",
            "game-data:all=1.0",
            "helper:amd64=2",
            "libgl1:amd64=1.5",
            "libgl1:i386=1.5",
            "viewer:amd64=3"
        ]
    );
    let indexes = lock["sources"][0]["indexes"].as_array().unwrap();
    assert_eq!(indexes.len(), 2, "one index per architecture: {indexes:?}");
    let release = project.read("wheelhouse/apt/Release");
    assert!(
        release.contains("Architectures: amd64 i386 all\n"),
        "{release}"
    );
    for file in [
        "libgl1_1.5_amd64.deb",
        "libgl1_1.5_i386.deb",
        "game-data_1.0_all.deb",
    ] {
        assert!(
            project.path().join("wheelhouse/apt").join(file).is_file(),
            "{file}"
        );
    }
    let stderr = project.stderr_of(&["verify"], 0);
    assert_mentions(&stderr, &["0 finding(s)"]);
}

/// Runs `verify --rehearse`; `None` when this machine cannot (no apt-get, no namespaces).
fn rehearse(project: &crate::support::Project) -> Option<(i32, String)> {
    let output = project
        .airlock()
        .args(["verify", "--rehearse"])
        .output()
        .unwrap();
    let stderr = crate::support::text(&output.stderr);
    if stderr.contains("cannot run `unshare -n apt-get`") || stderr.contains("unshare:") {
        crate::support::skip(&stderr);
        return None;
    }
    Some((output.status.code().unwrap(), stderr))
}

#[test]
fn rehearse_runs_apt_offline_against_the_local_repository() {
    let repository = multiarch_archive();
    let project = apt_project(&repository, "\"game\", \"viewer\"");
    write_apt_config_with(
        &project,
        &repository,
        "\"game\", \"viewer\"",
        "architectures = [\"amd64\", \"i386\"]\n",
    );
    project.stderr_of(&["sync"], 0);
    let Some((code, stderr)) = rehearse(&project) else {
        return;
    };
    assert_eq!(
        code, 0,
        "apt agrees with the lock, foreign packages too:\n{stderr}"
    );
    assert_mentions(&stderr, &["0 finding(s)"]);
    // A lock that no longer matches what apt would do: drop a package from it and republish.
    let lock = project.read("lockfiles/apt.lock.toml");
    let mut value: toml::Value = toml::from_str(&lock).unwrap();
    value["packages"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["name"].as_str() != Some("game-data"));
    project.write("lockfiles/apt.lock.toml", &toml::to_string(&value).unwrap());
    project.stderr_of(&["fetch"], 0);
    let (code, stderr) = rehearse(&project).unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert_mentions(&stderr, &["error RH101:", "game-data"]);
}

#[test]
fn a_signing_key_signs_the_local_repository_and_verify_and_apt_check_it() {
    let repository = repository(PACKAGES, FUTURE, None);
    let project = apt_project(&repository, "\"curl\"");
    let signing_key = key(42);
    project.write(
        "keys/repo-signing.asc",
        &signing_key.to_armored_string(Default::default()).unwrap(),
    );
    write_apt_config_with(
        &project,
        &repository,
        "\"curl\"",
        "architectures = [\"amd64\"]\nsigning-key = \"keys/repo-signing.asc\"\n",
    );
    let stderr = project.stderr_of(&["sync"], 0);
    let fingerprint =
        hex::encode_upper(pgp::types::KeyDetails::fingerprint(&signing_key.primary_key).as_bytes());
    assert_mentions(
        &stderr,
        &[&format!("signed by {fingerprint}"), "deb [signed-by="],
    );
    let apt = project.path().join("wheelhouse/apt");
    let public = signing_key
        .to_public_key()
        .to_armored_string(Default::default())
        .unwrap();
    let keyring = Keyring::from_bytes(public.as_bytes(), "repo.asc").unwrap();
    let release = project.read("wheelhouse/apt/Release");
    let in_release = project.read("wheelhouse/apt/InRelease");
    assert_eq!(
        keyring
            .verify_clearsigned(&in_release, "InRelease", SystemTime::now())
            .unwrap(),
        release
    );
    keyring
        .verify_detached(
            release.as_bytes(),
            &project.read("wheelhouse/apt/Release.gpg"),
            "Release.gpg",
            SystemTime::now(),
        )
        .unwrap();
    let stderr = project.stderr_of(&["verify"], 0);
    assert_mentions(&stderr, &["0 finding(s)"]);
    // apt itself checks the signature when it reads the repository with signed-by=.
    if let Some((code, stderr)) = rehearse(&project) {
        assert_eq!(code, 0, "{stderr}");
    }
    // A repository re-signed by another key is caught, by verify and by apt.
    let other = key(43);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let forged = CleartextSignedMessage::sign(&mut rng, &release, &*other, &Password::empty())
        .unwrap()
        .to_armored_string(Default::default())
        .unwrap();
    std::fs::write(apt.join("InRelease"), forged).unwrap();
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(
        &stderr,
        &[
            "wheelhouse/apt/InRelease: error AP107",
            "run `airlock fetch` to re-sign",
        ],
    );
    if let Some((code, stderr)) = rehearse(&project) {
        assert_eq!(code, 1, "{stderr}");
        assert_mentions(&stderr, &["error RH101", "apt-get update"]);
    }
    // Signing turned off: fetch removes the signature files, and verify is clean again.
    write_apt_config(&project, &repository, "\"curl\"");
    project.stderr_of(&["fetch"], 0);
    assert!(!apt.join("InRelease").exists() && !apt.join("Release.gpg").exists());
    project.stderr_of(&["verify"], 0);
    // Only the public half where the secret key is needed: fetch refuses before any download,
    // while verify can still use it to check the signatures.
    project.write("keys/repo-signing.asc", &public);
    write_apt_config_with(
        &project,
        &repository,
        "\"curl\"",
        "architectures = [\"amd64\"]\nsigning-key = \"keys/repo-signing.asc\"\n",
    );
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &["keys/repo-signing.asc: not an OpenPGP secret key"],
    );
}

#[test]
fn a_single_arch_source_on_a_multiarch_host_and_a_source_architectures_option() {
    // The archive carries amd64 only while the target has amd64 and i386: apt skips i386 for
    // this source instead of failing, and so does airlock.
    let debs = [
        deb("curl", "7.88.1-10", "amd64", "Depends: libcurl4\n"),
        deb("libcurl4", "7.88.1-10", "amd64", ""),
    ];
    let single = archive(&debs, &DEFAULTS);
    let project = apt_project(&single, "\"curl\"");
    write_apt_config_with(
        &project,
        &single,
        "\"curl\"",
        "architectures = [\"amd64\", \"i386\"]\n",
    );
    let stderr = project.stderr_of(&["resolve"], 0);
    assert_mentions(&stderr, &["Resolved 2 Debian packages for amd64, i386"]);
    let lock: toml::Value = toml::from_str(&project.read("lockfiles/apt.lock.toml")).unwrap();
    let indexes = lock["sources"][0]["indexes"].as_array().unwrap();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    // A two-architecture archive, read only for amd64 because the source says so.
    let multi = multiarch_archive();
    let source_line = |architectures: &str| {
        format!(
            "[apt]\npackages = [\"viewer\"]\narchitectures = [\"amd64\", \"i386\"]\nsources = [{{ uris = [\"{}debian\"], suites = [\"stable\"], components = [\"main\"], signed-by = \"keys/archive.asc\"{architectures} }}]\n",
            multi.server.root()
        )
    };
    let project = apt_project(&multi, "\"viewer\"");
    project.write(
        "airlock.toml",
        &source_line(", architectures = [\"amd64\"]"),
    );
    project.stderr_of(&["resolve"], 0);
    let lock: toml::Value = toml::from_str(&project.read("lockfiles/apt.lock.toml")).unwrap();
    let indexes: Vec<&str> = lock["sources"][0]["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(indexes, ["main/binary-amd64/Packages.gz"]);
    // The option is an input: dropping it makes the lock stale.
    project.write("airlock.toml", &source_line(""));
    project.stderr_of(&["resolve", "--check"], 1);
    project.write(
        "airlock.toml",
        &source_line(", architectures = [\"amd64\"]"),
    );
    project.stderr_of(&["resolve", "--check"], 0);
    // i386 packages cannot come from a source read for amd64 only.
    let config = source_line(", architectures = [\"amd64\"]").replace("\"viewer\"", "\"game\"");
    project.write("airlock.toml", &config);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(&stderr, &["nothing satisfies `game`"]);
}

#[test]
fn a_recommends_that_cannot_be_installed_is_left_out_with_a_note() {
    let debs = [
        deb(
            "curl",
            "7.88.1-10",
            "amd64",
            "Depends: libcurl4\nRecommends: ca-certificates, no-such-package\n",
        ),
        deb("libcurl4", "7.88.1-10", "amd64", ""),
        deb("ca-certificates", "20230311", "all", ""),
    ];
    let repository = archive(&debs, &DEFAULTS);
    let project = apt_project(&repository, "\"curl\"");
    write_apt_config_with(
        &project,
        &repository,
        "\"curl\"",
        "architectures = [\"amd64\"]\nrecommends = true\n",
    );
    let stderr = project.stderr_of(&["resolve"], 0);
    assert_mentions(
        &stderr,
        &[
            "Resolved 3 Debian packages",
            "note: a recommended package is left out, as apt would: curl 7.88.1-10: nothing satisfies `no-such-package`",
        ],
    );
}

#[test]
fn a_release_older_than_the_locked_one_is_a_rollback_unless_allowed() {
    let debs = [
        deb("curl", "7.88.1-10", "amd64", "Depends: libcurl4\n"),
        deb("libcurl4", "7.88.1-10", "amd64", ""),
    ];
    let repository = archive(&debs, &DEFAULTS);
    let project = apt_project(&repository, "\"curl\"");
    project.stderr_of(&["resolve"], 0);
    let before = project.read("lockfiles/apt.lock.toml");
    // The mirror now serves an older, validly signed snapshot (no Valid-Until has passed).
    let older = ArchiveOptions {
        date: "Thu, 01 Aug 2024 00:00:00 UTC",
        ..DEFAULTS
    };
    publish(&repository.server, &repository.key, &debs, &older);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(
        &stderr,
        &[
            "stable: the signed Release is dated Thu, 01 Aug 2024 00:00:00 UTC, older than Sat, 10 Aug 2024 09:12:34 UTC",
            "an old Release is replayed",
            "--allow-older-release",
        ],
    );
    assert_eq!(
        project.read("lockfiles/apt.lock.toml"),
        before,
        "the lock is untouched"
    );
    let stderr = project.stderr_of(&["resolve", "--allow-older-release"], 0);
    assert_mentions(
        &stderr,
        &[
            "warning: accepted because of --allow-older-release",
            "older than Sat, 10 Aug 2024",
        ],
    );
    let lock: toml::Value = toml::from_str(&project.read("lockfiles/apt.lock.toml")).unwrap();
    let source = &lock["sources"][0];
    assert_eq!(
        source["date"].as_str(),
        Some("Thu, 01 Aug 2024 00:00:00 UTC")
    );
    assert!(
        source["accepted-older"]
            .as_str()
            .unwrap()
            .ends_with("stable: Release dated Thu, 01 Aug 2024 00:00:00 UTC, older than Sat, 10 Aug 2024 09:12:34 UTC"),
        "{source}"
    );
    // A newer snapshot is fine again, and the admission goes with the old one.
    let newer = ArchiveOptions {
        date: "Sun, 01 Sep 2024 00:00:00 UTC",
        ..DEFAULTS
    };
    publish(&repository.server, &repository.key, &debs, &newer);
    project.stderr_of(&["resolve"], 0);
    let lock = project.read("lockfiles/apt.lock.toml");
    assert!(!lock.contains("accepted-older"), "{lock}");
}

#[test]
fn a_file_that_is_no_deb_is_refused_at_fetch_and_verify_even_with_the_right_digest() {
    let mut curl = deb("curl", "7.88.1-10", "amd64", "");
    curl.raw = Some(b"PK\x03\x04 a zip file, listed and signed as a .deb".to_vec());
    let repository = archive(&[curl], &DEFAULTS);
    let project = apt_project(&repository, "\"curl\"");
    project.stderr_of(&["resolve"], 0);
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &[
            "curl_7.88.1-10_amd64.deb",
            "has the locked sha256 but is refused",
            "not an ar archive",
        ],
    );
    let apt = project.path().join("wheelhouse/apt");
    assert!(!apt.join("curl_7.88.1-10_amd64.deb").exists());
    // Placed by hand (another tool, an old airlock): verify names it.
    std::fs::create_dir_all(&apt).unwrap();
    std::fs::write(
        apt.join("curl_7.88.1-10_amd64.deb"),
        b"PK\x03\x04 a zip file, listed and signed as a .deb",
    )
    .unwrap();
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(
        &stderr,
        &[
            "AP102",
            "is not a package dpkg installs",
            "not an ar archive",
        ],
    );
}

/// A host root (for `AIRLOCK_APT_ROOT`) whose apt sources name the fake archive, signed by its
/// key (written into the root).
fn host_root_with_sources(repository: &Repository) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let keys = root.path().join("etc/apt/keyrings");
    std::fs::create_dir_all(&keys).unwrap();
    let armour = repository
        .key
        .to_public_key()
        .to_armored_string(Default::default())
        .unwrap();
    std::fs::write(keys.join("test.asc"), armour).unwrap();
    let parts = root.path().join("etc/apt/sources.list.d");
    std::fs::create_dir_all(&parts).unwrap();
    std::fs::write(
        parts.join("test.sources"),
        format!(
            "Types: deb\nURIs: {}debian\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/test.asc\n",
            repository.server.root(),
        ),
    )
    .unwrap();
    root
}

#[test]
fn a_flags_only_apt_project_checks_and_verifies_without_the_flags_again() {
    let repository = repository(PACKAGES, FUTURE, None);
    let host = host_root_with_sources(&repository);
    let project = crate::support::Project::new();
    project.write(
        "base/status",
        "Package: libcurl4\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.74.0-1\n",
    );
    let run = |args: &[&str], code: i32| {
        let output = project
            .airlock()
            .args(args)
            .env("AIRLOCK_APT_ROOT", host.path())
            .assert()
            .code(code)
            .get_output()
            .clone();
        crate::support::text(&output.stderr)
    };
    run(
        &[
            "resolve",
            "--apt-package",
            "curl",
            "--apt-base",
            "base/status",
        ],
        0,
    );
    let lock = project.read("lockfiles/apt.lock.toml");
    assert!(lock.contains("base-file = \"base/status\""), "{lock}");
    run(&["fetch"], 0);
    let stderr = run(&["resolve", "--check"], 0);
    assert_mentions(&stderr, &["lockfiles/apt.lock.toml is up to date"]);
    let stderr = run(&["verify"], 0);
    assert_mentions(&stderr, &["0 finding(s)"]);
    // Another package on the command line is another input.
    let stderr = run(&["resolve", "--check", "--apt-package", "libcurl4"], 1);
    assert_mentions(&stderr, &["apt.lock.toml is out of date"]);
}

#[test]
fn pinned_sources_keep_a_moved_project_current_on_a_host_with_other_sources() {
    let repository = repository(PACKAGES, FUTURE, None);
    let project = apt_project(&repository, "\"curl\"");
    project.stderr_of(&["sync"], 0);
    // The project moves to another directory on a machine whose apt sources are others
    // (here: none at all); [apt] pins its sources and architectures.
    let moved = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", project.path().display()))
        .arg(moved.path())
        .status()
        .unwrap();
    assert!(status.success());
    let empty_host = tempfile::tempdir().unwrap();
    for (args, code) in [(&["resolve", "--check"][..], 0), (&["verify"][..], 0)] {
        let output = project
            .airlock()
            .current_dir(moved.path())
            .env("AIRLOCK_CACHE_DIR", moved.path().join(".cache"))
            .env("AIRLOCK_APT_ROOT", empty_host.path())
            .args(args)
            .assert()
            .code(code)
            .get_output()
            .clone();
        let stderr = crate::support::text(&output.stderr);
        assert!(
            !stderr.contains("out of date") && !stderr.contains("AP109"),
            "{stderr}"
        );
    }
}

/// A project under a directory only its owner may enter (a 0700 home, `mktemp -d`): apt's
/// methods, which drop to the `_apt` user, could not read the rehearsal's lists there.
#[test]
fn rehearse_works_in_a_directory_only_its_owner_can_enter() {
    use std::os::unix::fs::PermissionsExt;
    let repository = repository(PACKAGES, FUTURE, None);
    let project = apt_project(&repository, "\"curl\"");
    std::fs::set_permissions(project.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    project.stderr_of(&["sync"], 0);
    let Some((code, stderr)) = rehearse(&project) else {
        return;
    };
    assert_eq!(code, 0, "{stderr}");
    assert_mentions(&stderr, &["0 finding(s)"]);
}
