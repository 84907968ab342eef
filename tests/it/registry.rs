//! `bundle push` and `bundle pull` against a real registry: Debian's `docker-registry` (the
//! CNCF distribution registry), started by each test on 127.0.0.1 with its own storage.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::bundle::{STACK, synced};
use crate::support::{FakeIndex, Project, assert_mentions, skip};

struct Registry {
    child: std::process::Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /v2/` on the registry: its status code, or None while it is not listening.
fn v2_status(address: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(
        stream,
        "GET /v2/ HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

impl Registry {
    /// A registry, or None (the test is skipped) where docker-registry is not installed.
    /// With `login`, it asks for HTTP basic authentication (an htpasswd file, bcrypt).
    fn start(login: Option<(&str, &str)>) -> Option<Registry> {
        let program = Path::new("/usr/bin/docker-registry");
        if !program.is_file() {
            skip("docker-registry is not installed (apt-get install docker-registry)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = login {
            let htpasswd = std::process::Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) makes the registry's password file");
            assert!(htpasswd.status.success());
            std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = std::process::Command::new(program)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            address,
            _dir: dir,
        };
        for _ in 0..100 {
            if v2_status(&registry.address).is_some() {
                return Some(registry);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the registry did not start on {}", registry.address);
    }

    fn reference(&self, repository_and_tag: &str) -> String {
        format!("oci://{}/{repository_and_tag}", self.address)
    }
}

fn json_of(project: &Project, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&project.stdout_of(args, 0)).unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_pushed_bundle_pulls_back_byte_identical_and_a_second_push_uploads_nothing() {
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let kit = project.path().join("kit.tar.zst");
    project.stderr_of(&["bundle", "create", "-o", path_str(&kit)], 0);
    let target = registry.reference("kits/webapp:2026.12");

    let pushed = json_of(
        &project,
        &[
            "bundle",
            "push",
            path_str(&kit),
            &target,
            "--format",
            "json",
        ],
    );
    let titles: Vec<&str> = pushed["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["manifest.json", "sbom.cdx.json", "kit.tar.zst"]);
    assert!(
        pushed["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["transferred"] == true)
    );

    // The same bundle again: every blob is there already, and the artifact is the same.
    let again = json_of(
        &project,
        &[
            "bundle",
            "push",
            path_str(&kit),
            &target,
            "--format",
            "json",
        ],
    );
    assert!(
        again["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["transferred"] == false)
    );
    assert_eq!(again["digest"], pushed["digest"]);

    // Pulled by tag and by digest, elsewhere: the same bytes, and the kit verifies.
    let far = tempfile::tempdir().unwrap();
    let by_tag = far.path().join("by-tag.tar.zst");
    project.stderr_of(&["bundle", "pull", &target, "-o", path_str(&by_tag)], 0);
    assert_eq!(
        std::fs::read(&by_tag).unwrap(),
        std::fs::read(&kit).unwrap()
    );
    let pinned = pushed["pinned"].as_str().unwrap();
    assert!(pinned.ends_with(pushed["digest"].as_str().unwrap()));
    let by_digest = far.path().join("by-digest.tar.zst");
    project.stderr_of(&["bundle", "pull", pinned, "-o", path_str(&by_digest)], 0);
    assert_eq!(
        std::fs::read(&by_digest).unwrap(),
        std::fs::read(&kit).unwrap()
    );
    project.stderr_of(&["bundle", "verify", path_str(&by_digest)], 0);
    assert_eq!(
        std::fs::read_dir(far.path()).unwrap().count(),
        2,
        "no partial files are left"
    );

    // A digest the registry does not have, and a tag it does not have: errors naming them,
    // and no file.
    let unknown = format!(
        "oci://{}/kits/webapp@sha256:{}",
        registry.address,
        "0".repeat(64)
    );
    let stderr = project.stderr_of(
        &[
            "bundle",
            "pull",
            &unknown,
            "-o",
            path_str(&far.path().join("x")),
        ],
        2,
    );
    assert_mentions(&stderr, &[&unknown, "manifest unknown"]);
    let stderr = project.stderr_of(
        &[
            "bundle",
            "pull",
            &registry.reference("kits/webapp:nope"),
            "-o",
            path_str(&far.path().join("x")),
        ],
        2,
    );
    assert_mentions(&stderr, &["kits/webapp:nope", "manifest unknown"]);
    assert!(!far.path().join("x").exists());
}

#[test]
fn split_volumes_travel_as_layers_and_an_interrupted_pull_resumes() {
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let kit = project.path().join("kit.tar.zst");
    project.stderr_of(
        &[
            "bundle",
            "create",
            "-o",
            path_str(&kit),
            "--split-size",
            "1M",
        ],
        0,
    );
    let first = project.path().join("kit.tar.zst.001");
    let target = registry.reference("kits/split");
    let pushed = json_of(
        &project,
        &[
            "bundle",
            "push",
            path_str(&first),
            &target,
            "--format",
            "json",
        ],
    );
    assert_eq!(pushed["reference"], format!("{target}:latest"));
    let volumes: Vec<PathBuf> = (1..)
        .map(|n| project.path().join(format!("kit.tar.zst.{n:03}")))
        .take_while(|p| p.is_file())
        .collect();
    assert!(volumes.len() >= 2);
    let last_layer = pushed["layers"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last_layer["title"], "kit.tar.zst.sha256");

    // The far side was cut off halfway through the second volume: what is there is kept and
    // the rest is fetched (the partial file is the first half of the real bytes).
    let far = tempfile::tempdir().unwrap();
    let out = far.path().join("kit.tar.zst");
    let second = std::fs::read(&volumes[1]).unwrap();
    std::fs::write(
        far.path().join("kit.tar.zst.002.partial"),
        &second[..second.len() / 2],
    )
    .unwrap();
    std::fs::copy(&volumes[0], far.path().join("kit.tar.zst.001")).unwrap();
    let pulled = json_of(
        &project,
        &[
            "bundle",
            "pull",
            &target,
            "-o",
            path_str(&out),
            "--format",
            "json",
        ],
    );
    let transferred: Vec<bool> = pulled["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["transferred"].as_bool().unwrap())
        .collect();
    assert!(
        !transferred[0],
        "the whole first volume is reused: {pulled}"
    );
    assert!(transferred[1], "{pulled}");
    for (n, volume) in volumes.iter().enumerate() {
        let name = format!("kit.tar.zst.{:03}", n + 1);
        assert_eq!(
            std::fs::read(far.path().join(&name)).unwrap(),
            std::fs::read(volume).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        std::fs::read(far.path().join("kit.tar.zst.sha256")).unwrap(),
        std::fs::read(project.path().join("kit.tar.zst.sha256")).unwrap()
    );
    project.stderr_of(
        &[
            "bundle",
            "verify",
            path_str(&far.path().join("kit.tar.zst.001")),
        ],
        0,
    );

    // A partial file that is not a prefix of the volume: the digest catches it, nothing is
    // kept, and the next pull starts clean.
    let again = tempfile::tempdir().unwrap();
    let out = again.path().join("kit.tar.zst");
    std::fs::write(
        again.path().join("kit.tar.zst.001.partial"),
        b"not the volume",
    )
    .unwrap();
    let stderr = project.stderr_of(&["bundle", "pull", &target, "-o", path_str(&out)], 2);
    assert_mentions(&stderr, &["kit.tar.zst.001", "nothing was kept"]);
    assert!(!again.path().join("kit.tar.zst.001").exists());
    assert!(!again.path().join("kit.tar.zst.001.partial").exists());
    project.stderr_of(&["bundle", "pull", &target, "-o", path_str(&out)], 0);
    assert_eq!(
        std::fs::read(again.path().join("kit.tar.zst.001")).unwrap(),
        std::fs::read(&volumes[0]).unwrap()
    );
}

#[test]
fn credentials_come_from_docker_config_or_the_environment() {
    let Some(registry) = Registry::start(Some(("ci", "s3cret"))) else {
        return;
    };
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let kit = project.path().join("kit.tar.zst");
    project.stderr_of(&["bundle", "create", "-o", path_str(&kit)], 0);
    let target = registry.reference("private/kit:1");

    // No login: the error says so and how to log in.
    let stderr = project.stderr_of(&["bundle", "push", path_str(&kit), &target], 2);
    assert_mentions(
        &stderr,
        &["private/kit:1", "docker login", "AIRLOCK_REGISTRY_USERNAME"],
    );

    // A wrong password from the environment is refused too.
    let output = project
        .airlock()
        .args(["bundle", "push", path_str(&kit), &target])
        .env("AIRLOCK_REGISTRY_USERNAME", "ci")
        .env("AIRLOCK_REGISTRY_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    // `docker login`'s record in ~/.docker/config.json (HOME is the project here).
    project.write(
        ".docker/config.json",
        &format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"Y2k6czNjcmV0\"}}}}}}",
            registry.address
        ),
    );
    project.stderr_of(&["bundle", "push", path_str(&kit), &target], 0);

    // The environment's pair, for CI jobs, with no config file.
    std::fs::remove_file(project.path().join(".docker/config.json")).unwrap();
    let out = project.path().join("pulled.tar.zst");
    let output = project
        .airlock()
        .args(["bundle", "pull", &target, "-o", path_str(&out)])
        .env("AIRLOCK_REGISTRY_USERNAME", "ci")
        .env("AIRLOCK_REGISTRY_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&kit).unwrap());

    // A broken config file is an error naming it, not a silent anonymous login.
    project.write(".docker/config.json", "{\"auths\": ");
    let stderr = project.stderr_of(&["bundle", "pull", &target, "-o", path_str(&out)], 2);
    assert_mentions(&stderr, &[".docker/config.json", "not valid JSON"]);
}

#[test]
fn what_is_not_a_bundle_is_refused_before_anything_is_pushed() {
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let project = Project::new();
    let fake = project.write("kit.tar.zst", "not a bundle");
    let stderr = project.stderr_of(
        &[
            "bundle",
            "push",
            path_str(&fake),
            &registry.reference("kits/x:1"),
        ],
        2,
    );
    assert_mentions(&stderr, &["kit.tar.zst"]);
    let stderr = project.stderr_of(&["bundle", "push", path_str(&fake), "oci://x:1"], 2);
    assert_mentions(&stderr, &["oci://x:1", "no repository"]);
    // Nothing reached the registry: the repository does not exist.
    let stderr = project.stderr_of(
        &[
            "bundle",
            "pull",
            &registry.reference("kits/x:1"),
            "-o",
            "out",
        ],
        2,
    );
    assert_mentions(&stderr, &["manifest unknown"]);
}
