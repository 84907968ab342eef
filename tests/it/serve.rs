//! `airlock serve` inside a network namespace with only loopback up: pip and uv install an
//! exported lock with `--require-hashes` from it, and apt-get downloads from its `/apt/`
//! repository; the protocol details (content negotiation, ranges, ETags, HEAD, nothing
//! unlisted reachable) are checked with a plain HTTP client.

use crate::apt::{DEFAULTS, archive, deb};
use crate::bundle::STACK;
use crate::support::{FakeIndex, Project, assert_mentions, skip, text};

/// A project for this machine's Python with the fake Debian archive's curl, synced and
/// exported.
fn served_project() -> Option<(Project, FakeIndex, crate::apt::Repository)> {
    let Some((version, platform)) = crate::sdist::host_target() else {
        skip("python3 cannot say which target this machine is");
        return None;
    };
    let index = FakeIndex::start(STACK);
    let repository = archive(
        &[
            deb(
                "curl",
                "7.88.1-10",
                "amd64",
                "Depends: libcurl4 (>= 7.88)\n",
            ),
            deb("libcurl4", "7.88.1-10", "amd64", ""),
        ],
        &DEFAULTS,
    );
    let project = crate::apt::python_and_curl_project(
        &index.url,
        &repository,
        "webapp\n",
        &[(&version, &platform)],
    );
    project.stderr_of(&["sync"], 0);
    project.export_to("requirements.lock.txt");
    Some((project, index, repository))
}

/// Runs `script` with bash inside `unshare -n` (loopback up), with AIRLOCK, UV and PROJECT set.
fn in_loopback_namespace(project: &Project, uv: &str, script: &str) -> std::process::Output {
    std::process::Command::new("unshare")
        .args(["-n", "bash", "-euo", "pipefail", "-c"])
        .arg(format!("ip link set lo up\n{script}"))
        .env("AIRLOCK", assert_cmd::cargo::cargo_bin("airlock"))
        .env("UV", uv)
        .env("PROJECT", project.path())
        .env_remove("PIP_INDEX_URL")
        .env_remove("UV_INDEX_URL")
        .env_remove("PIP_CONFIG_FILE")
        .current_dir(project.path())
        .output()
        .unwrap()
}

#[test]
fn pip_uv_and_apt_install_from_airlock_serve_with_only_loopback() {
    let Some((project, _index, _repository)) = served_project() else {
        return;
    };
    let uv = std::env::var("AIRLOCK_TEST_UV").unwrap_or_else(|_| "uv".into());
    let have_uv = std::process::Command::new(&uv)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_uv {
        skip("uv is not installed (AIRLOCK_TEST_UV or uv on PATH)");
        return;
    }
    if !crate::support::can_unshare_network() {
        skip("`unshare -n` is not permitted here");
        return;
    }
    let script = r#"
"$AIRLOCK" serve "$PROJECT" --listen 127.0.0.1:0 --format json > serve.json 2> serve.log &
server=$!
for _ in $(seq 100); do [ -s serve.json ] && break; sleep 0.1; done
index=$(python3 -c 'import json; print(json.load(open("serve.json"))["index-url"])')
base=${index%/simple/}
python3 -m venv pipenv
pipenv/bin/pip install -q --no-cache-dir --disable-pip-version-check --index-url "$index" --require-hashes -r requirements.lock.txt
pipenv/bin/python -c 'import webapp, corelib; print("pip", webapp.VERSION, corelib.VERSION)'
python3 -m venv uvenv
"$UV" pip install -q --no-cache --python uvenv/bin/python --index-url "$index" --require-hashes -r requirements.lock.txt
uvenv/bin/python -c 'import webapp, corelib; print("uv", webapp.VERSION, corelib.VERSION)'
mkdir -p apt/lists/partial apt/cache/archives/partial
: > apt/status
echo "deb [trusted=yes] $base/apt/ ./" > apt/sources.list
opts=(-o Dir::Etc::SourceList=$PWD/apt/sources.list -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists=$PWD/apt/lists -o Dir::Cache=$PWD/apt/cache
      -o Dir::State::status=$PWD/apt/status -o APT::Sandbox::User=root
      -o APT::Architecture=amd64 -o APT::Architectures=amd64 -o Debug::NoLocking=1)
apt-get -q "${opts[@]}" update
apt-get -q -y "${opts[@]}" install --download-only curl
ls apt/cache/archives/*.deb
kill -TERM $server
wait $server
echo "server exit $?"
"#;
    let output = in_loopback_namespace(&project, &uv, script);
    let stdout = text(&output.stdout);
    let log = std::fs::read_to_string(project.path().join("serve.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}\nserver log:\n{log}",
        text(&output.stderr)
    );
    assert_mentions(
        &stdout,
        &[
            "pip 1.0 2.0",
            "uv 1.0 2.0",
            "curl_7.88.1-10_amd64.deb",
            "libcurl4_7.88.1-10_amd64.deb",
            "server exit 0",
        ],
    );
    // One log line per request, and a clean stop.
    assert_mentions(
        &log,
        &[
            "GET /simple/webapp/ 200",
            "GET /apt/./Packages.gz 200",
            "curl_7.88.1-10_amd64.deb 200",
            "stopped",
        ],
    );
}

/// A minimal HTTP/1.1 client: (status line, headers, body) of one request.
fn http(port: u16, request: &str) -> (String, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    (
        status.to_string(),
        headers.to_ascii_lowercase(),
        bytes[split + 4..].to_vec(),
    )
}

#[test]
fn the_index_speaks_pep_691_ranges_etags_and_serves_nothing_unlisted() {
    let Some((project, index, _repository)) = served_project() else {
        return;
    };
    project.write("wheelhouse/secret.txt", "not locked\n");
    let mut server = project
        .command()
        .args(["serve", "--listen", "127.0.0.1:0", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let start: serde_json::Value = serde_json::from_str(&line).unwrap();
    let port: u16 = start["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let get = |path: &str, extra: &str| {
        http(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"),
        )
    };
    let (status, headers, body) = get(
        "/simple/webapp/",
        "Accept: application/vnd.pypi.simple.v1+json\r\n",
    );
    assert!(status.contains("200"), "{status}");
    assert!(headers.contains("content-type: application/vnd.pypi.simple.v1+json"));
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let wheel = "webapp-1.0-py3-none-any.whl";
    let sha = index.wheel_sha256(wheel);
    assert_eq!(page["files"][0]["hashes"]["sha256"], sha.as_str());
    assert!(page["files"][0]["core-metadata"]["sha256"].is_string());
    let (_, headers, body) = get("/simple/webapp/", "");
    assert!(headers.contains("content-type: text/html"));
    assert!(String::from_utf8_lossy(&body).contains(&format!("{wheel}#sha256={sha}")));
    // The metadata file is the wheel's METADATA.
    let (_, _, metadata) = get(&format!("/files/{wheel}.metadata"), "");
    assert!(String::from_utf8_lossy(&metadata).contains("Name: webapp"));
    // Ranges, ETags, HEAD.
    let on_disk = std::fs::read(project.path().join("wheelhouse").join(wheel)).unwrap();
    let (status, _, whole) = get(&format!("/files/{wheel}"), "");
    assert!(status.contains("200"), "{status}");
    assert_eq!(whole, on_disk);
    let (status, headers, body) = get(&format!("/files/{wheel}"), "Range: bytes=0-9\r\n");
    assert!(status.contains("206"), "{status}");
    assert_eq!(body, on_disk[..10]);
    assert!(headers.contains("content-range: bytes 0-9/"), "{headers}");
    let (status, _, _) = get(
        &format!("/files/{wheel}"),
        &format!("If-None-Match: \"{sha}\"\r\n"),
    );
    assert!(status.contains("304"), "{status}");
    let (status, _, _) = get(&format!("/files/{wheel}"), "Range: bytes=999999-\r\n");
    assert!(status.contains("416"), "{status}");
    let (status, headers, body) = http(
        port,
        &format!("HEAD /files/{wheel} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    assert!(status.contains("200") && headers.contains("content-length: ") && body.is_empty());
    // Nothing the locks do not list is reachable.
    for path in [
        "/files/secret.txt",
        "/wheelhouse/secret.txt",
        "/files/../airlock.toml",
        "/airlock.toml",
    ] {
        let (status, _, _) = get(path, "");
        assert!(status.contains("404"), "{path}: {status}");
    }
    let (status, _, _) = http(
        port,
        "DELETE /simple/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains("405"), "{status}");
    // A locked file that changed on disk after the server started is refused, not served.
    let corelib = "corelib-2.0-py3-none-any.whl";
    std::fs::write(project.path().join("wheelhouse").join(corelib), b"tampered").unwrap();
    let (status, _, body) = get(&format!("/files/{corelib}"), "");
    assert!(status.contains("500"), "{status}");
    assert!(String::from_utf8_lossy(&body).contains("changed since it was catalogued"));
    let (status, headers, _) = get("/simple/WebApp", "");
    assert!(status.contains("301") && headers.contains("location: /simple/webapp/"));
    server.kill().unwrap();
    server.wait().unwrap();
}
