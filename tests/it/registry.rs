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

const PROGRAM: &str = "/usr/bin/docker-registry";

impl Registry {
    /// A registry, or None (the test is skipped) where docker-registry is not installed.
    /// With `login`, it asks for HTTP basic authentication (an htpasswd file, bcrypt).
    fn start(login: Option<(&str, &str)>) -> Option<Registry> {
        if !Path::new(PROGRAM).is_file() {
            skip("docker-registry is not installed (apt-get install docker-registry)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut auth = String::new();
        if let Some((user, password)) = login {
            let htpasswd = std::process::Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) makes the registry's password file");
            assert!(htpasswd.status.success());
            std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        Some(Registry::launch(dir, &auth))
    }

    /// Starts the registry with its storage in `dir` and `auth` (YAML) as its `auth:` section,
    /// and waits until it answers.
    fn launch(dir: tempfile::TempDir, auth: &str) -> Registry {
        let address = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n{auth}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = std::process::Command::new(PROGRAM)
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
                return registry;
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

/// A synced project and its bundle `kit.tar.zst`, made with `create_flags`. The index must
/// outlive the project's use.
fn project_with_kit(create_flags: &[&str]) -> (FakeIndex, Project, PathBuf) {
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let kit = project.path().join("kit.tar.zst");
    let mut args = vec!["bundle", "create", "-o", path_str(&kit)];
    args.extend(create_flags);
    project.stderr_of(&args, 0);
    (index, project, kit)
}

#[test]
fn a_pushed_bundle_pulls_back_byte_identical_and_a_second_push_uploads_nothing() {
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let (_index, project, kit) = project_with_kit(&[]);
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

    // -o naming a directory is refused before anything is downloaded into it.
    let stderr = project.stderr_of(&["bundle", "pull", &target, "-o", path_str(far.path())], 2);
    assert_mentions(&stderr, &["a directory"]);
    assert_eq!(std::fs::read_dir(far.path()).unwrap().count(), 2);

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
    let (_index, project, _kit) = project_with_kit(&["--split-size", "1M"]);
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
    let (_index, project, kit) = project_with_kit(&[]);
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

/// An ECDSA signature in DER (what rcgen gives) as JOSE's fixed r || s (RFC 7518, 3.4).
fn jose_signature(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut at = 2;
    let mut fixed = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[at], 0x02);
        let length = der[at + 1] as usize;
        let mut integer = &der[at + 2..at + 2 + length];
        while integer.len() > 32 && integer[0] == 0 {
            integer = &integer[1..];
        }
        fixed.extend(std::iter::repeat_n(0u8, 32 - integer.len()));
        fixed.extend_from_slice(integer);
        at += 2 + length;
    }
    fixed
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token service as a registry's `auth: token` expects one: it answers `GET /token?…&scope=…`
/// with a JWT (ES256, the signing certificate in `x5c`) granting the scopes asked for, when
/// the request carries `ci:s3cret` as basic authentication. Returns its port and the number of
/// tokens it issued; writes the certificate the registry trusts to `cert_path`.
fn token_service(cert_path: &Path) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use base64::Engine;
    use rcgen::SigningKey;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["airlock-test-token".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(cert_path, cert.pem()).unwrap();
    let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = issued.clone();
    let expected = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0
                    || line == "\r\n"
                {
                    break;
                }
                head.push(line.trim_end().to_string());
            }
            let target = head.first().and_then(|l| l.split(' ').nth(1)).unwrap_or("");
            let authorized = head.iter().any(|l| {
                l.split_once(':').is_some_and(|(name, value)| {
                    let value = value.trim();
                    name.eq_ignore_ascii_case("authorization")
                        && value.len() > 6
                        && value[..6].eq_ignore_ascii_case("basic ")
                        && value[6..] == expected
                })
            });
            if !authorized {
                let _ = stream.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let query = target.split_once('?').map_or("", |(_, q)| q);
            let access: Vec<serde_json::Value> = query
                .split('&')
                .filter_map(|pair| pair.strip_prefix("scope="))
                .map(|scope| {
                    let scope = scope.replace("%3A", ":").replace("%2F", "/").replace("%2C", ",");
                    let mut parts = scope.splitn(3, ':');
                    let (kind, name, actions) =
                        (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
                    serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()})
                })
                .collect();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
            let claims = serde_json::json!({
                "iss": "airlock-test-issuer", "sub": "ci", "aud": "airlock-test-registry",
                "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", counter.load(std::sync::atomic::Ordering::SeqCst)),
                "access": access,
            });
            let signed = format!(
                "{}.{}",
                b64url(header.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            );
            let signature = jose_signature(&key.sign(signed.as_bytes()).unwrap());
            let token = format!("{signed}.{}", b64url(&signature));
            let body =
                serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                    .to_string();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, issued)
}

#[test]
fn the_bearer_token_flow_logs_in_through_the_registrys_token_service() {
    if !Path::new(PROGRAM).is_file() {
        skip("docker-registry is not installed (apt-get install docker-registry)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("token.pem");
    let (token_port, issued) = token_service(&cert);
    let auth = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: airlock-test-registry\n    issuer: airlock-test-issuer\n    rootcertbundle: {}\n",
        cert.display()
    );
    let registry = Registry::launch(dir, &auth);
    let (_index, project, kit) = project_with_kit(&[]);
    let target = registry.reference("private/kit:1");

    // Without credentials the token service refuses, and the message says how to log in.
    let stderr = project.stderr_of(&["bundle", "push", path_str(&kit), &target], 2);
    assert_mentions(&stderr, &["private/kit:1", "login"]);
    assert_eq!(issued.load(std::sync::atomic::Ordering::SeqCst), 0);

    let with_login = |args: &[&str]| {
        let output = project
            .airlock()
            .args(args)
            .env("AIRLOCK_REGISTRY_USERNAME", "ci")
            .env("AIRLOCK_REGISTRY_PASSWORD", "s3cret")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    with_login(&["bundle", "push", path_str(&kit), &target]);
    let out = project.path().join("pulled.tar.zst");
    with_login(&["bundle", "pull", &target, "-o", path_str(&out)]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&kit).unwrap());
    assert!(
        issued.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "a token for the push and one for the pull"
    );
}
