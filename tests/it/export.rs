//! `airlock export --format pylock`: a PEP 751 lock whose files are paths into the wheelhouse,
//! installed by uv with no network at all, and checked by verify.

use crate::support::{FakeIndex, Project, assert_mentions, skip, text};

use crate::bundle::STACK;

/// A project synced for this machine's Python and platform.
fn host_project(index: &FakeIndex) -> Option<Project> {
    let Some((version, platform)) = crate::sdist::host_target() else {
        skip("python3 cannot say which target this machine is");
        return None;
    };
    let project = Project::new();
    project.write("requirements/app.in", "webapp\n");
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements/app.in\"]\nindex-url = \"{}\"\ntargets = [{{ python-version = \"{version}\", python-platform = \"{platform}\" }}, {{ python-version = \"3.12\", python-platform = \"aarch64-manylinux_2_28\" }}]\n",
            index.url
        ),
    );
    project.stderr_of(&["sync"], 0);
    Some(project)
}

/// uv: AIRLOCK_TEST_UV (`.ci/run` installs one into a throwaway venv), or `uv` on PATH.
fn uv() -> Option<String> {
    let candidate = std::env::var("AIRLOCK_TEST_UV").unwrap_or_else(|_| "uv".into());
    std::process::Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(candidate)
}

#[test]
fn an_exported_pylock_installs_with_uv_offline_and_verify_keeps_it_current() {
    let index = FakeIndex::start(STACK);
    let Some(project) = host_project(&index) else {
        return;
    };
    let (version, platform) = crate::sdist::host_target().unwrap();
    project.stdout_of(
        &[
            "export",
            "--format",
            "pylock",
            "--python-version",
            &version,
            "--python-platform",
            &platform,
        ],
        0,
    );
    let exported = project.read("wheelhouse/pylock.app.toml");
    assert!(
        exported.contains("path = \"webapp-1.0-py3-none-any.whl\""),
        "{exported}"
    );
    assert!(
        !exported.contains("url ="),
        "no file is named by its URL:\n{exported}"
    );
    assert!(
        exported.contains(&format!("targets = [\"{version} {platform}\"]")),
        "{exported}"
    );
    // verify: the export is no stray (AL103) and is current.
    let stderr = project.stderr_of(&["verify"], 0);
    assert_mentions(&stderr, &["0 error(s), 0 warning(s)"]);

    match uv() {
        Some(uv) if crate::support::can_unshare_network() => {
            let venv = project.path().join("venv");
            let made = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap();
            assert!(made.success());
            let output = std::process::Command::new("unshare")
                .args([
                    "-n",
                    &uv,
                    "pip",
                    "install",
                    "--offline",
                    "--no-cache",
                    "--python",
                ])
                .arg(venv.join("bin/python"))
                .arg("-r")
                .arg(project.path().join("wheelhouse/pylock.app.toml"))
                .env_remove("UV_INDEX_URL")
                .env_remove("UV_DEFAULT_INDEX")
                .env_remove("PIP_INDEX_URL")
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", text(&output.stderr));
            let imported = std::process::Command::new(venv.join("bin/python"))
                .args([
                    "-c",
                    "import webapp, corelib; print(webapp.VERSION, corelib.VERSION)",
                ])
                .output()
                .unwrap();
            assert_eq!(
                text(&imported.stdout).trim(),
                "1.0 2.0",
                "{}",
                text(&imported.stderr)
            );
        }
        Some(_) => skip("the uv install needs `unshare -n`"),
        None => skip(
            "uv is not installed (AIRLOCK_TEST_UV or uv on PATH); the offline uv install was not tried",
        ),
    }

    // The lock changes: the export is out of date until exported again.
    project.write("requirements/app.in", "webapp\nextra\n");
    project.stderr_of(&["sync"], 0);
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(
        &stderr,
        &[
            "wheelhouse/pylock.app.toml: error AL108: it was exported from another version of lockfiles/pylock.app.toml",
        ],
    );
    project.stdout_of(&["export", "--format", "pylock"], 0);
    project.stderr_of(&["verify"], 0);
    // A file it names that the wheelhouse lacks is named.
    std::fs::remove_file(project.path().join("wheelhouse/extra-1.0-py3-none-any.whl")).unwrap();
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(
        &stderr,
        &[
            "error AL108: extra: extra-1.0-py3-none-any.whl is not in the wheelhouse; run `airlock fetch`",
        ],
    );
    // And the bundle carries it.
    let kit = project.path().join("kit.tar.zst");
    project.stderr_of(&["fetch"], 0);
    project.stderr_of(&["bundle", "create", "-o", kit.to_str().unwrap()], 0);
    let manifest = std::process::Command::new("tar")
        .args(["--zstd", "-tf"])
        .arg(&kit)
        .output()
        .unwrap();
    assert!(text(&manifest.stdout).contains("wheelhouse/pylock.app.toml"));
}

#[test]
fn an_unknown_target_is_named_with_the_ones_the_lock_has() {
    let index = FakeIndex::start(STACK);
    let Some(project) = host_project(&index) else {
        return;
    };
    let stderr = project.stderr_of(
        &[
            "export",
            "--format",
            "pylock",
            "--python-version",
            "3.9",
            "--python-platform",
            "x86_64-manylinux_2_17",
        ],
        2,
    );
    assert_mentions(
        &stderr,
        &[
            "has no target 3.9 x86_64-manylinux_2_17 (it has: ",
            "3.12 aarch64-manylinux_2_28",
        ],
    );
    // -o elsewhere: the paths lead into the wheelhouse from there.
    project.stdout_of(
        &["export", "--format", "pylock", "-o", "out/pylock.app.toml"],
        0,
    );
    assert!(
        project
            .read("out/pylock.app.toml")
            .contains("path = \"../wheelhouse/webapp-1.0-py3-none-any.whl\"")
    );
}
