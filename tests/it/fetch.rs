//! `airlock fetch` and `airlock sync` against the fake index, with faults injected.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{FakeIndex, Fault, Project, assert_mentions, sha256_hex, text};
use crate::{BASIC, project_with};

const BIG: &str = r#"
[[package]]
name = "aaa-small"
version = "1.0"

[[package]]
name = "zzz-big"
version = "1.0"
padding = 1500000
"#;

/// A project whose lock is already resolved against `index`.
pub fn resolved(index: &FakeIndex, requirements: &str) -> Project {
    let project = project_with(requirements, index);
    project.airlock().arg("resolve").assert().success();
    project
}

pub fn wheels(project: &Project, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.path().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".whl"))
        .collect();
    names.sort();
    names
}

fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".airlock-partial-"))
                .collect()
        })
        .unwrap_or_default()
}

fn file_requests(index: &FakeIndex) -> usize {
    index
        .requests()
        .iter()
        .filter(|p| p.starts_with("/files/") && !p.contains(".metadata"))
        .count()
}

const CORELIB_X86: &str = "corelib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl";

#[test]
fn fetch_fills_a_flat_verified_wheelhouse_and_skips_what_is_present() {
    let index = FakeIndex::start(BASIC);
    let project = resolved(&index, "webapp\n");
    let stderr = project.stderr_of(&["fetch"], 0);
    assert_mentions(
        &stderr,
        &["3 files from 1 lock(s) in wheelhouse: 3 downloaded"],
    );
    assert_eq!(
        wheels(&project, "wheelhouse"),
        [
            "corelib-2.0-cp311-cp311-manylinux_2_17_aarch64.whl",
            CORELIB_X86,
            "webapp-1.0-py3-none-any.whl",
        ]
    );
    let bytes = std::fs::read(project.path().join("wheelhouse").join(CORELIB_X86)).unwrap();
    assert_eq!(sha256_hex(&bytes), index.wheel_sha256(CORELIB_X86));
    assert!(partials(&project.path().join("wheelhouse")).is_empty());

    let before = file_requests(&index);
    let stderr = project.stderr_of(&["fetch"], 0);
    assert_mentions(&stderr, &["0 downloaded", "3 already present"]);
    assert_eq!(
        file_requests(&index),
        before,
        "present files need no network"
    );

    // A file with the wrong bytes is replaced; a stray file is reported and left alone.
    std::fs::write(
        project.path().join("wheelhouse").join(CORELIB_X86),
        b"tampered",
    )
    .unwrap();
    project.write("wheelhouse/stray-1.0-py3-none-any.whl", "?");
    let output = project
        .airlock()
        .args(["fetch", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        summary["report"]["replaced"],
        serde_json::json!([CORELIB_X86])
    );
    assert_eq!(
        summary["report"]["extraneous"],
        serde_json::json!(["stray-1.0-py3-none-any.whl"])
    );
    let bytes = std::fs::read(project.path().join("wheelhouse").join(CORELIB_X86)).unwrap();
    assert_eq!(sha256_hex(&bytes), index.wheel_sha256(CORELIB_X86));

    // `sync --format json` prints one document, with both halves inside it.
    let stdout = project.stdout_of(&["sync", "--format", "json"], 0);
    let summary: serde_json::Value =
        serde_json::from_str(&stdout).expect("one JSON document on stdout");
    assert_eq!(summary["command"], "sync");
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["resolve"]["locks"][0]["status"], "up-to-date");
    assert!(
        summary["fetch"]["report"]["files"].as_u64().unwrap() > 0,
        "{summary}"
    );
}

#[test]
fn a_second_wheelhouse_is_filled_from_the_shared_cache_and_offline_works() {
    let index = FakeIndex::start(BASIC);
    let project = resolved(&index, "webapp\n");
    let stderr = project.stderr_of(&["fetch", "--wheelhouse", "other", "--offline"], 2);
    assert_mentions(
        &stderr,
        &["is not in the download cache and --offline forbids the network"],
    );
    project.airlock().arg("fetch").assert().success();
    let before = file_requests(&index);
    let stderr = project.stderr_of(&["fetch", "--wheelhouse", "other", "--offline"], 0);
    assert_mentions(&stderr, &["0 downloaded", "3 from the cache"]);
    assert_eq!(file_requests(&index), before);
    assert_eq!(wheels(&project, "other"), wheels(&project, "wheelhouse"));
}

#[test]
fn a_digest_mismatch_names_everything_and_leaves_no_file() {
    let index = FakeIndex::start(BASIC);
    let project = resolved(&index, "webapp\n");
    let lock = project.read("lockfiles/pylock.app.toml");
    let real = index.wheel_sha256(CORELIB_X86);
    project.write(
        "lockfiles/pylock.app.toml",
        &lock.replace(&real, &"ab".repeat(32)),
    );
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &[
            "1 of 3 downloads failed",
            "corelib 2.0:",
            &format!(
                "/files/{CORELIB_X86} has sha256 {real}, but the lock says {}",
                "ab".repeat(32)
            ),
        ],
    );
    let wheelhouse = project.path().join("wheelhouse");
    assert!(!wheelhouse.join(CORELIB_X86).exists());
    assert!(
        partials(&wheelhouse).is_empty(),
        "a bad download leaves nothing behind"
    );
    assert!(
        wheelhouse.join("webapp-1.0-py3-none-any.whl").exists(),
        "the others land"
    );
}

#[test]
fn a_size_that_disagrees_with_the_lock_is_refused() {
    let index = FakeIndex::start(BASIC);
    let project = resolved(&index, "webapp\n");
    let lock = project.read("lockfiles/pylock.app.toml");
    let value: toml::Value = toml::from_str(&lock).unwrap();
    let webapp = value["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("webapp"))
        .unwrap();
    let size = webapp["wheels"][0]["size"].as_integer().unwrap();
    let tampered = lock.replacen(
        &format!("size = {size}\n"),
        &format!("size = {}\n", size + 1),
        1,
    );
    assert_ne!(tampered, lock);
    project.write("lockfiles/pylock.app.toml", &tampered);
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &[&format!(
            "announces {size} bytes, but the lock records {}",
            size + 1
        )],
    );
    assert!(partials(&project.path().join("wheelhouse")).is_empty());
}

#[test]
fn a_reset_mid_file_resumes_with_range() {
    let index = FakeIndex::start(BIG);
    let project = resolved(&index, "zzz-big\n");
    let path = "/files/zzz_big-1.0-py3-none-any.whl";
    index.fault(
        path,
        Fault::CutShort {
            keep: 100_000,
            times: 1,
        },
    );
    project.airlock().arg("fetch").assert().success();
    assert_eq!(
        index.file_responses(path),
        (1, 1),
        "one whole answer cut short, then one range"
    );
    assert!(
        index
            .requests()
            .iter()
            .any(|p| p == &format!("{path} [bytes=100000-]"))
    );
    let bytes = std::fs::read(
        project
            .path()
            .join("wheelhouse/zzz_big-1.0-py3-none-any.whl"),
    )
    .unwrap();
    assert_eq!(
        sha256_hex(&bytes),
        index.wheel_sha256("zzz_big-1.0-py3-none-any.whl")
    );
}

#[test]
fn a_server_ignoring_range_on_resume_restarts_cleanly() {
    let index = FakeIndex::start(BIG);
    let project = resolved(&index, "zzz-big\n");
    let path = "/files/zzz_big-1.0-py3-none-any.whl";
    // A partial of garbage, resumed against a server that ignores Range: the answer starts
    // from byte 0, so the partial is replaced, never spliced.
    let wheelhouse = project.path().join("wheelhouse");
    std::fs::create_dir_all(&wheelhouse).unwrap();
    let sha = index.wheel_sha256("zzz_big-1.0-py3-none-any.whl");
    std::fs::write(
        wheelhouse.join(format!(".airlock-partial-{sha}")),
        vec![b'x'; 5000],
    )
    .unwrap();
    index.fault(path, Fault::IgnoreRange);
    project.airlock().arg("fetch").assert().success();
    let bytes = std::fs::read(wheelhouse.join("zzz_big-1.0-py3-none-any.whl")).unwrap();
    assert_eq!(sha256_hex(&bytes), sha);
}

#[test]
fn a_206_that_does_not_continue_the_partial_file_restarts_it_instead_of_splicing() {
    let index = FakeIndex::start(BIG);
    let project = resolved(&index, "zzz-big\n");
    let name = "zzz_big-1.0-py3-none-any.whl";
    let path = format!("/files/{name}");
    let sha = index.wheel_sha256(name);
    project.stderr_of(&["fetch"], 0);
    let wheelhouse = project.path().join("wheelhouse");
    let whole = std::fs::read(wheelhouse.join(name)).unwrap();
    let len = whole.len();
    // The first 5000 true bytes are kept; the server answers the resume with 206 but sends the
    // file from its start (or a range that cannot be read).
    for content_range in [
        format!("bytes 0-{}/{len}", len - 1),
        "bytes garbage".to_string(),
        format!("bytes 5000-{}/{}", len - 1, len + 7),
    ] {
        let _ = std::fs::remove_file(wheelhouse.join(name));
        // No cached copy either: the file must really be downloaded again.
        let _ = std::fs::remove_dir_all(project.path().join(".cache/files-v1"));
        std::fs::write(
            wheelhouse.join(format!(".airlock-partial-{sha}")),
            &whole[..5000],
        )
        .unwrap();
        index.fault(
            &path,
            Fault::MisplacedRange {
                content_range: content_range.clone(),
            },
        );
        project.stderr_of(&["fetch"], 0);
        let bytes = std::fs::read(wheelhouse.join(name)).unwrap();
        assert_eq!(sha256_hex(&bytes), sha, "{content_range}");
        assert!(partials(&wheelhouse).is_empty(), "{content_range}");
    }
}

#[test]
fn truncation_is_reported_as_truncation_and_the_partial_resumes_later() {
    let index = FakeIndex::start(BIG);
    let project = resolved(&index, "zzz-big\n");
    let path = "/files/zzz_big-1.0-py3-none-any.whl";
    index.fault(
        path,
        Fault::CutShort {
            keep: 1000,
            times: 100,
        },
    );
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &[
            "zzz-big 1.0:",
            "ended after",
            "bytes (truncated); the partial file is kept and resumes next run",
        ],
    );
    let wheelhouse = project.path().join("wheelhouse");
    assert!(!wheelhouse.join("zzz_big-1.0-py3-none-any.whl").exists());
    assert_eq!(partials(&wheelhouse).len(), 1);
    index.clear_fault(path);
    let stderr = project.stderr_of(&["fetch"], 0);
    assert_mentions(&stderr, &["1 resumed"]);
    assert!(partials(&wheelhouse).is_empty());
}

#[test]
fn transient_statuses_are_retried_and_a_404_is_not() {
    let index = FakeIndex::start(BASIC);
    let project = resolved(&index, "webapp\n");
    let corelib = format!("/files/{CORELIB_X86}");
    index.fault(
        &corelib,
        Fault::Status {
            status: 503,
            retry_after: None,
            times: 2,
        },
    );
    let webapp = "/files/webapp-1.0-py3-none-any.whl";
    index.fault(
        webapp,
        Fault::Status {
            status: 429,
            retry_after: Some("1".into()),
            times: 1,
        },
    );
    project.airlock().arg("fetch").assert().success();
    assert_eq!(
        index.requests().iter().filter(|p| **p == corelib).count(),
        3
    );
    assert_eq!(index.requests().iter().filter(|p| *p == webapp).count(), 2);

    let lock = project.read("lockfiles/pylock.app.toml");
    project.write(
        "lockfiles/pylock.app.toml",
        &lock.replace(&corelib, "/files/gone.whl"),
    );
    std::fs::remove_file(project.path().join("wheelhouse").join(CORELIB_X86)).unwrap();
    // Empty the shared download cache too, or it would answer without the network.
    std::fs::remove_dir_all(project.path().join(".cache/files-v1")).unwrap();
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &["corelib 2.0: http://", "/files/gone.whl answered HTTP 404"],
    );
    assert_eq!(
        index
            .requests()
            .iter()
            .filter(|p| *p == "/files/gone.whl")
            .count(),
        1,
        "no retry on 404"
    );
}

#[test]
fn html_instead_of_a_wheel_and_redirect_loops_are_reported() {
    let index = FakeIndex::start(BASIC);
    let project = resolved(&index, "webapp\n");
    index.fault("/files/webapp-1.0-py3-none-any.whl", Fault::HtmlPage);
    index.fault(&format!("/files/{CORELIB_X86}"), Fault::RedirectLoop);
    let started = Instant::now();
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &[
            "2 of 3 downloads failed",
            "sent an HTML page instead of webapp-1.0-py3-none-any.whl",
            "too many redirects",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a redirect loop is not retried"
    );
    assert!(partials(&project.path().join("wheelhouse")).is_empty());
}

#[test]
fn lock_entries_that_would_write_outside_the_wheelhouse_are_refused() {
    let index = FakeIndex::start(BASIC);
    let project = resolved(&index, "webapp\n");
    let lock = project.read("lockfiles/pylock.app.toml");
    project.write(
        "lockfiles/pylock.app.toml",
        &lock.replace(
            "name = \"webapp-1.0-py3-none-any.whl\"",
            "name = \"../../escaped.whl\"",
        ),
    );
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &[
            "pylock.app.toml is not a valid PEP 751 lockfile",
            "name = \"../../escaped.whl\"",
            "`../../escaped.whl` is not a plain file name",
        ],
    );
    assert_eq!(file_requests(&index), 0);
}

fn spawn_fetch(project: &Project) -> std::process::Child {
    project
        .command()
        .arg("fetch")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_partial(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let grown = partials(dir)
            .iter()
            .any(|p| std::fs::metadata(dir.join(p)).is_ok_and(|m| m.len() > 0));
        if grown {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no partial download appeared in {}", dir.display());
}

#[test]
fn ctrl_c_exits_130_leaves_only_partials_and_the_next_run_resumes() {
    let index = FakeIndex::start(BIG);
    let project = resolved(&index, "zzz-big\n");
    let path = "/files/zzz_big-1.0-py3-none-any.whl";
    index.fault(path, Fault::Slow { pause_ms: 30 });
    let child = spawn_fetch(&project);
    let wheelhouse = project.path().join("wheelhouse");
    wait_for_partial(&wheelhouse);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert_mentions(
        &text(&output.stderr),
        &["interrupted: finished files are in place"],
    );
    assert!(!wheelhouse.join("zzz_big-1.0-py3-none-any.whl").exists());
    assert_eq!(partials(&wheelhouse).len(), 1);

    index.clear_fault(path);
    let stderr = project.stderr_of(&["fetch"], 0);
    assert_mentions(&stderr, &["1 resumed"]);
    assert_eq!(index.file_responses(path).0, 1, "the resume used a range");
    let bytes = std::fs::read(wheelhouse.join("zzz_big-1.0-py3-none-any.whl")).unwrap();
    assert_eq!(
        sha256_hex(&bytes),
        index.wheel_sha256("zzz_big-1.0-py3-none-any.whl")
    );
}

#[test]
fn a_second_run_on_the_same_wheelhouse_fails_fast_naming_the_holder() {
    let index = FakeIndex::start(BIG);
    let project = resolved(&index, "zzz-big\n");
    index.fault(
        "/files/zzz_big-1.0-py3-none-any.whl",
        Fault::Slow { pause_ms: 30 },
    );
    let mut first = spawn_fetch(&project);
    wait_for_partial(&project.path().join("wheelhouse"));
    let stderr = project.stderr_of(&["fetch"], 2);
    first.kill().unwrap();
    let _ = first.wait();
    assert_mentions(
        &stderr,
        &[
            "is in use by another airlock run (pid ",
            &first.id().to_string(),
        ],
    );
}

#[test]
fn disk_full_names_the_file_and_keeps_what_was_fetched() {
    let index = FakeIndex::start(BIG);
    let project = resolved(&index, "aaa-small\nzzz-big\n");
    let wheelhouse = project.path().join("small-disk");
    std::fs::create_dir_all(&wheelhouse).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&wheelhouse)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        crate::support::skip("cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&wheelhouse);
    let stderr = project.stderr_of(&["fetch", "--wheelhouse", "small-disk", "--jobs", "1"], 2);
    assert_mentions(
        &stderr,
        &[
            "zzz-big 1.0: no space left on the device while writing",
            ".airlock-partial-",
        ],
    );
    let small = wheelhouse.join("aaa_small-1.0-py3-none-any.whl");
    assert_eq!(
        sha256_hex(&std::fs::read(small).unwrap()),
        index.wheel_sha256("aaa_small-1.0-py3-none-any.whl"),
        "what was fetched before stays intact"
    );
    assert!(
        partials(&wheelhouse).is_empty(),
        "the partial is removed to free the space"
    );
}

#[test]
fn sync_resolves_only_when_inputs_change_then_fetches() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp\n", &index);
    let stderr = project.stderr_of(&["sync"], 0);
    assert_mentions(
        &stderr,
        &["wrote lockfiles/pylock.app.toml", "3 downloaded"],
    );
    let pages = index
        .requests()
        .iter()
        .filter(|p| p.starts_with("/simple/"))
        .count();
    let stderr = project.stderr_of(&["sync"], 0);
    assert_mentions(
        &stderr,
        &[
            "lockfiles/pylock.app.toml is up to date with its inputs",
            "3 already present",
        ],
    );
    assert_eq!(
        index
            .requests()
            .iter()
            .filter(|p| p.starts_with("/simple/"))
            .count(),
        pages,
        "an up-to-date lock is not re-resolved"
    );
}

#[test]
fn fetch_never_writes_through_links_planted_in_the_wheelhouse() {
    let index = FakeIndex::start(BASIC);
    let project = resolved(&index, "webapp\n");
    let outside = project.write("outside.txt", "precious\n");
    let wheelhouse = project.path().join("wheelhouse");
    std::fs::create_dir_all(&wheelhouse).unwrap();
    // The advisory lock file as a link: refused, and its target keeps its bytes.
    std::os::unix::fs::symlink(&outside, wheelhouse.join(".airlock.lock")).unwrap();
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(&stderr, &[".airlock.lock is a symbolic link"]);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious\n");
    std::fs::remove_file(wheelhouse.join(".airlock.lock")).unwrap();
    // A partial file as a link to a file outside: replaced, never appended to.
    let partial = wheelhouse.join(format!(
        ".airlock-partial-{}",
        index.wheel_sha256(CORELIB_X86)
    ));
    std::os::unix::fs::symlink(&outside, &partial).unwrap();
    project.stderr_of(&["fetch"], 0);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious\n");
    let bytes = std::fs::read(wheelhouse.join(CORELIB_X86)).unwrap();
    assert_eq!(sha256_hex(&bytes), index.wheel_sha256(CORELIB_X86));
}
