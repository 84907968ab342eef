//! `airlock verify --build`: the example's Dockerfile really built, with buildah, the network
//! off and nothing pulled, FROM a base image the tests commit from this machine's own Python
//! (scripts/host-python-image.sh; no registry). The image and buildah's vfs store live under
//! target/ and are reused between runs.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{FakeIndex, Project, assert_mentions, skip};

/// The host Python the base image is made of: `3.11`, `3.11.7`, and the target platform
/// it is (`x86_64-manylinux_2_36`).
struct HostPython {
    short: String,
    platform: String,
}

struct BaseImage {
    image: String,
    storage_conf: PathBuf,
    python: HostPython,
}

fn host_python() -> Option<HostPython> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sys, platform; l = platform.libc_ver(); print('%d.%d' % sys.version_info[:2], platform.machine(), l[0], l[1])",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let words: Vec<&str> = text.split_whitespace().collect();
    let [short, machine, "glibc", glibc] = words.as_slice() else {
        return None;
    };
    Some(HostPython {
        short: short.to_string(),
        platform: format!("{machine}-manylinux_{}", glibc.replace('.', "_")),
    })
}

/// The base image, made once per test run (and kept in target/ between runs), or why not.
fn base_image() -> Option<&'static BaseImage> {
    static MADE: OnceLock<Result<BaseImage, String>> = OnceLock::new();
    let made = MADE.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
            return Err("buildah with vfs storage and `unshare -n` need root here".into());
        }
        for tool in ["buildah", "runc", "unshare"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                return Err(format!("{tool} is not installed (Debian: buildah, runc)"));
            }
        }
        let python = host_python().ok_or("python3 is not a glibc Python here")?;
        let store = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("airlock-buildah");
        std::fs::create_dir_all(&store).map_err(|e| e.to_string())?;
        let storage_conf = store.join("storage.conf");
        std::fs::write(
            &storage_conf,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                store.join("graph").display(),
                store.join("run").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        // The tag carries a digest of the recipe and of the interpreter, so a changed
        // script or Python makes a new image instead of reusing a stale one.
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/host-python-image.sh");
        let recipe = std::fs::read(script).map_err(|e| e.to_string())?;
        let interpreter = Command::new("python3")
            .args(["-c", "import sys; print(sys.version, sys.executable)"])
            .output()
            .map_err(|e| e.to_string())?
            .stdout;
        let digest = crate::support::sha256_hex(&[recipe, interpreter].concat());
        let image = format!(
            "localhost/airlock-test/python:{}-{}",
            python.short,
            &digest[..12]
        );
        let present = Command::new("buildah")
            .args(["inspect", "--type", "image", &image])
            .env("CONTAINERS_STORAGE_CONF", &storage_conf)
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            let output = Command::new(script)
                .arg(&image)
                .env("CONTAINERS_STORAGE_CONF", &storage_conf)
                .output()
                .map_err(|e| e.to_string())?;
            if !output.status.success() {
                return Err(format!(
                    "{script} failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        Ok(BaseImage {
            image,
            storage_conf,
            python,
        })
    });
    match made {
        Ok(image) => Some(image),
        Err(why) => {
            skip(&format!("verify --build: {why}"));
            None
        }
    }
}

const STACK: &str = r#"
[[package]]
name = "webapp"
version = "1.0"
requires-dist = ["helper>=2"]

[[package]]
name = "helper"
version = "2.0"
"#;

/// The shipped example's Dockerfile, FROM the test's base image, and a last step that proves
/// the packages were installed.
fn example_dockerfile(image: &str, extra: &str) -> String {
    let example = include_str!("../../Dockerfile");
    let mut out = String::new();
    for line in example.lines() {
        if line.starts_with("FROM ") {
            out.push_str(&format!("FROM {image}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(extra);
    out
}

/// A synced and exported project for `python_version` on the host's platform.
fn project(index: &FakeIndex, base: &BaseImage, python_version: &str, extra: &str) -> Project {
    let project = Project::new();
    project.write("requirements/app.in", "webapp\n");
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements/app.in\"]\nindex-url = \"{}\"\ntargets = [{{ python-version = \"{python_version}\", python-platform = \"{}\" }}]\n",
            index.url, base.python.platform
        ),
    );
    project.write("Dockerfile", &example_dockerfile(&base.image, extra));
    project.stderr_of(&["sync"], 0);
    project.export_to("requirements.lock.txt");
    project
}

/// `verify --build --builder buildah` in the tests' store; (exit code, stderr).
fn verify_build(project: &Project, base: &BaseImage, extra: &[&str]) -> (i32, String) {
    let output = project
        .command()
        .args(["verify", "--build", "--builder", "buildah"])
        .args(extra)
        .env("CONTAINERS_STORAGE_CONF", &base.storage_conf)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn images(base: &BaseImage) -> String {
    let output = Command::new("buildah")
        .args(["images", "--format", "{{.Name}}:{{.Tag}}"])
        .env("CONTAINERS_STORAGE_CONF", &base.storage_conf)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_example_builds_offline_from_a_matching_base_image() {
    let Some(base) = base_image() else { return };
    let index = FakeIndex::start(STACK);
    let check = "RUN python3 -c 'import webapp, helper; print(webapp.VERSION, helper.VERSION)'\n";
    let project = project(&index, base, &base.python.short, check);
    let seen = index.requests().len();
    let (code, stderr) = verify_build(&project, base, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_mentions(
        &stderr,
        &[
            "Dockerfile: note BD205: built with buildah in",
            "network off and nothing pulled",
            "0 error(s), 0 warning(s)",
        ],
    );
    assert_eq!(index.requests().len(), seen, "the build sent no request");
    let pid_tag = "localhost/airlock-verify-";
    assert!(
        !images(base).contains(pid_tag),
        "the built image is removed:\n{}",
        images(base)
    );

    // --keep leaves it, under the name the note gives.
    let (code, stderr) = verify_build(&project, base, &["--keep"]);
    assert_eq!(code, 0, "{stderr}");
    let kept = stderr
        .split("kept as ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the note names the kept image")
        .to_string();
    assert!(images(base).contains(&kept), "{kept} is kept");
    Command::new("buildah")
        .args(["rmi", &kept])
        .env("CONTAINERS_STORAGE_CONF", &base.storage_conf)
        .output()
        .unwrap();
}

/// Another minor version of the host's Python: a lock for it does not fit the image.
fn other_python(short: &str) -> String {
    let (major, minor) = short.split_once('.').unwrap();
    format!("{major}.{}", minor.parse::<u32>().unwrap() + 1)
}

#[test]
fn a_lock_for_another_python_fails_with_pips_message_mapped_to_the_lock() {
    let Some(base) = base_image() else { return };
    let other = other_python(&base.python.short);
    let abi = format!("cp{}", other.replace('.', ""));
    let machine = base.python.platform.split('-').next().unwrap();
    let stack = format!(
        "{STACK}\n[[package]]\nname = \"fastlib\"\nversion = \"1.0\"\ntags = [\"{abi}-{abi}-manylinux_2_17_{machine}\"]\n"
    )
    .replace("requires-dist = [\"helper>=2\"]", "requires-dist = [\"helper>=2\", \"fastlib\"]");
    let index = FakeIndex::start(&stack);
    let project = project(&index, base, &other, "");
    let (code, stderr) = verify_build(&project, base, &[]);
    assert_eq!(code, 1, "{stderr}");
    let wheel = format!("fastlib-1.0-{abi}-{abi}-manylinux_2_17_{machine}.whl");
    assert_mentions(
        &stderr,
        &[
            "Dockerfile:6: error BD101: the base image localhost/airlock-test/python:",
            &format!(
                "and no lock targets that (targets: cp{other} on {}",
                base.python.platform
            ),
            "error BD202: `RUN --mount=type=bind,source=wheelhouse",
            &format!(
                "fastlib==1.0 (lockfiles/pylock.app.toml) is locked with {wheel}, none of which installs on CPython {}",
                base.python.short
            ),
            "| ERROR: No matching distribution found for fastlib==1.0",
        ],
    );
}

#[test]
fn a_step_that_needs_the_network_fails_as_such() {
    let Some(base) = base_image() else { return };
    let index = FakeIndex::start(STACK);
    let project = project(
        &index,
        base,
        &base.python.short,
        "RUN pip install --retries 0 --timeout 5 left-pad\n",
    );
    let (code, stderr) = verify_build(&project, base, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_mentions(
        &stderr,
        &[
            "Dockerfile:12: error BD203: `RUN pip install --retries 0 --timeout 5 left-pad` tried to reach the network",
        ],
    );
}

#[test]
fn a_wheel_missing_from_the_wheelhouse_is_named_with_its_lock() {
    let Some(base) = base_image() else { return };
    let index = FakeIndex::start(STACK);
    let project = project(&index, base, &base.python.short, "");
    std::fs::remove_file(
        project
            .path()
            .join("wheelhouse/helper-2.0-py3-none-any.whl"),
    )
    .unwrap();
    let (code, stderr) = verify_build(&project, base, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_mentions(
        &stderr,
        &[
            "error AL101: helper-2.0-py3-none-any.whl is missing",
            "Dockerfile:8: error BD202:",
            "helper==2.0 (lockfiles/pylock.app.toml) is locked, but helper-2.0-py3-none-any.whl is not in the wheelhouse; run `airlock fetch`",
        ],
    );
}

#[test]
fn a_base_image_that_is_not_local_stops_before_building_and_says_how_to_load_it() {
    let Some(base) = base_image() else { return };
    let index = FakeIndex::start(STACK);
    let project = project(&index, base, &base.python.short, "");
    project.write(
        "Dockerfile",
        &example_dockerfile("localhost/airlock-test/absent:1", ""),
    );
    let (code, stderr) = verify_build(&project, base, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_mentions(
        &stderr,
        &[
            "localhost/airlock-test/absent:1 is not in buildah's local storage, and `verify --build` never pulls",
            "buildah pull docker-archive:IMAGE.tar",
        ],
    );
    // A builder that is not installed is named, with what to install.
    let output = project
        .command()
        .args(["verify", "--build", "--builder", "podman"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_mentions(
        &String::from_utf8_lossy(&output.stderr),
        &["`podman` cannot be used: podman: not installed"],
    );
}
