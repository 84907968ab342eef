//! `airlock bundle create|verify|unpack`: reproducible archives, tampering named, hostile
//! archives refused with nothing written outside the target, deltas, split volumes, signatures.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::support::{FakeIndex, Project, assert_mentions, text};

/// webapp needs corelib (1.5 MB, so split volumes have something to split); extra is there
/// to be added later. Shared by the bundle, export and SBOM tests.
pub(crate) const STACK: &str = r#"
[[package]]
name = "webapp"
version = "1.0"
requires-dist = ["corelib>=1"]

[[package]]
name = "corelib"
version = "2.0"
padding = 1500000

[[package]]
name = "extra"
version = "1.0"
"#;

const DOCKERFILE: &str = "# syntax=docker/dockerfile:1\nFROM python:3.12-slim-bookworm\nCOPY app/ /app/\nRUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \\\n    --mount=type=bind,source=requirements.lock.txt,target=/tmp/r.txt \\\n    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/r.txt\n";

/// A synced project with a Dockerfile, its exported lock and an app directory.
pub(crate) fn synced(index: &FakeIndex, dir: Option<&Path>) -> Project {
    let project = match dir {
        Some(dir) => Project {
            dir: tempfile::tempdir_in(dir).unwrap(),
        },
        None => Project::new(),
    };
    project.write("requirements/app.in", "webapp\n");
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements/app.in\"]\nindex-url = \"{}\"\ntargets = [{{ python-version = \"3.12\", python-platform = \"x86_64-manylinux_2_36\" }}]\n",
            index.url
        ),
    );
    project.write("Dockerfile", DOCKERFILE);
    project.write("app/main.py", "print('hello')\n");
    project.write(".dockerignore", "app/secret.txt\n");
    project.write("app/secret.txt", "not for the far side\n");
    project.stderr_of(&["sync"], 0);
    project.export_to("requirements.lock.txt");
    project
}

/// `bundle unpack KIT TARGET EXTRA…`, expecting `code`; stderr.
fn unpack(project: &Project, kit: &str, target: &str, extra: &[&str], code: i32) -> String {
    let mut args = vec!["unpack", kit, target];
    args.extend(extra);
    bundle(project, &args, code)
}

fn bundle(project: &Project, args: &[&str], code: i32) -> String {
    let mut all = vec!["bundle"];
    all.extend(args);
    project.stderr_of(&all, code)
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_bundle_is_reproducible_and_unpacks_into_a_project_that_verifies() {
    let index = FakeIndex::start(STACK);
    // Two copies of the same project (same directory name: the SBOM names the project), one
    // made under umask 077 with other mtimes.
    let first_parent = tempfile::tempdir().unwrap();
    let second_parent = tempfile::tempdir().unwrap();
    let project = synced(&index, None);
    let copy = |to: &Path, umask: &str| {
        let target = to.join("proj");
        let status = std::process::Command::new("sh")
            .args([
                "-c",
                &format!(
                    "umask {umask} && cp -r \"$0\" \"$1\" && find \"$1\" -exec touch -d '2001-02-03 04:05:06' {{}} +"
                ),
            ])
            .arg(project.path())
            .arg(&target)
            .status()
            .unwrap();
        assert!(status.success());
        target
    };
    let a = copy(first_parent.path(), "022");
    let b = copy(second_parent.path(), "077");
    let create = |dir: &Path, out: &Path| {
        let output = project
            .command()
            .current_dir(dir)
            .args(["bundle", "create", "-o"])
            .arg(out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stderr)
    };
    let out_a = first_parent.path().join("kit.tar.zst");
    let out_b = second_parent.path().join("kit.tar.zst");
    let said = create(&a, &out_a);
    create(&b, &out_b);
    assert_eq!(
        std::fs::read(&out_a).unwrap(),
        std::fs::read(&out_b).unwrap(),
        "same inputs, same bytes, whatever the mtimes and the umask"
    );
    assert_mentions(&said, &["packed 10 of 10 file(s)", "manifest not signed"]);

    // What it holds: the project's inputs, the locked wheels, the Dockerfile's context files
    // (not those .dockerignore excludes), the manifest and the SBOM.
    let entries = entries_of(&out_a);
    let names: Vec<&str> = entries.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            ".airlock-bundle/manifest.json",
            ".airlock-bundle/sbom.cdx.json",
            ".dockerignore",
            "Dockerfile",
            "airlock.toml",
            "app/main.py",
            "lockfiles/pylock.app.toml",
            "requirements.lock.txt",
            "requirements/app.in",
            "wheelhouse/corelib-2.0-py3-none-any.whl",
            "wheelhouse/webapp-1.0-py3-none-any.whl",
        ]
    );
    assert!(
        entries
            .iter()
            .all(|(_, mode, mtime)| *mode == 0o644 && *mtime == entries[0].2)
    );

    let stderr = project.stderr_of(&["bundle", "verify", out_a.to_str().unwrap()], 0);
    assert_mentions(&stderr, &["verified: 10 file(s)", "not signed"]);
    let target = tempfile::tempdir().unwrap();
    let unpacked = target.path().join("far-side");
    let stderr = project.stderr_of(
        &[
            "bundle",
            "unpack",
            out_a.to_str().unwrap(),
            unpacked.to_str().unwrap(),
        ],
        0,
    );
    assert_mentions(&stderr, &["10 written, 0 already there"]);
    // The far side: verify passes offline (no index needed), with the project's own settings.
    let output = project
        .command()
        .current_dir(&unpacked)
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // Unpacking again changes nothing; a file changed by hand is not overwritten.
    std::fs::write(unpacked.join("app/main.py"), "print('edited')\n").unwrap();
    let stderr = project.stderr_of(
        &[
            "bundle",
            "unpack",
            out_a.to_str().unwrap(),
            unpacked.to_str().unwrap(),
        ],
        1,
    );
    assert_mentions(
        &stderr,
        &[
            "app/main.py: a different file is there that no earlier bundle put there; --force replaces it",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(unpacked.join("app/main.py")).unwrap(),
        "print('edited')\n"
    );
    let leftovers: Vec<String> = files_under(&unpacked)
        .into_iter()
        .filter(|f| f.starts_with(".airlock-unpack-"))
        .collect();
    assert!(leftovers.is_empty(), "no staging left: {leftovers:?}");
}

/// (name, mode, mtime) of every entry.
fn entries_of(path: &Path) -> Vec<(String, u32, u64)> {
    let bytes = zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let header = entry.header();
            (
                String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                header.mode().unwrap(),
                header.mtime().unwrap(),
            )
        })
        .collect()
}

/// Rewrites a bundle's tar stream with `edit` and compresses it again.
fn rewrite(path: &Path, out: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap();
    edit(&mut bytes);
    std::fs::write(out, zstd::encode_all(bytes.as_slice(), 3).unwrap()).unwrap();
}

/// Where `name`'s data starts in the tar stream.
fn data_offset(tar_bytes: &[u8], name: &str) -> usize {
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.path_bytes().as_ref() == name.as_bytes() {
            return entry.raw_file_position() as usize;
        }
    }
    panic!("{name} is not in the archive");
}

#[test]
fn one_changed_byte_inside_a_wheel_is_caught_and_named() {
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let kit = project.path().join("kit.tar.zst");
    bundle(&project, &["create", "-o", kit.to_str().unwrap()], 0);
    let tampered = project.path().join("tampered.tar.zst");
    let wheel = "wheelhouse/webapp-1.0-py3-none-any.whl";
    rewrite(&kit, &tampered, |bytes| {
        let at = data_offset(bytes, wheel) + 100;
        bytes[at] ^= 0x01;
    });
    let stderr = bundle(&project, &["verify", tampered.to_str().unwrap()], 1);
    assert_mentions(
        &stderr,
        &[&format!("error: {wheel}: "), "but the manifest says"],
    );
    // Unpacking it writes nothing.
    let target = tempfile::tempdir().unwrap();
    unpack(
        &project,
        tampered.to_str().unwrap(),
        target.path().to_str().unwrap(),
        &[],
        1,
    );
    assert!(
        files_under(target.path()).is_empty(),
        "{:?}",
        files_under(target.path())
    );
    // A damaged compressed stream is an error that says so.
    let mut cut = std::fs::read(&kit).unwrap();
    cut.truncate(cut.len() / 2);
    let truncated = project.path().join("cut.tar.zst");
    std::fs::write(&truncated, cut).unwrap();
    let stderr = bundle(&project, &["verify", truncated.to_str().unwrap()], 2);
    assert_mentions(&stderr, &["cut.tar.zst", "damaged or cut short"]);
    // A wheel that no longer matches its lock is not packed, and no archive is left behind.
    let on_disk = project.path().join(wheel);
    let mut bytes = std::fs::read(&on_disk).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&on_disk, bytes).unwrap();
    let again = project.path().join("again.tar.zst");
    let stderr = bundle(&project, &["create", "-o", again.to_str().unwrap()], 2);
    assert_mentions(
        &stderr,
        &[
            &format!("{wheel}: sha256 "),
            "but lockfiles/pylock.app.toml locks",
            "airlock fetch",
        ],
    );
    let left: Vec<String> = files_under(project.path())
        .into_iter()
        .filter(|f| f.starts_with("again"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A tar entry with a raw name (the tar crate refuses to write `..` itself).
fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    data: &[u8],
    link: Option<&str>,
) {
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    if let Some(link) = link {
        header.set_link_name(link).unwrap();
    }
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

fn hostile_bundle(dir: &Path, name: &str, kind: tar::EntryType, link: Option<&str>) -> PathBuf {
    let data = b"planted";
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data));
    // The manifest even lists the hostile path: it must be refused on its own account.
    let manifest = serde_json::json!({
        "format": "airlock-bundle/1", "airlock-version": "0", "source-date-epoch": 0,
        "indexes": [], "apt-suites": [],
        "files": [{"path": "ok.txt", "size": 7, "sha256": sha, "kind": "build-context", "included": true}],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(
        &mut builder,
        ".airlock-bundle/manifest.json",
        tar::EntryType::Regular,
        &manifest,
        None,
    );
    raw_entry(&mut builder, "ok.txt", tar::EntryType::Regular, data, None);
    let payload: &[u8] = if kind == tar::EntryType::Regular {
        data
    } else {
        b""
    };
    raw_entry(&mut builder, name, kind, payload, link);
    let bytes = builder.into_inner().unwrap();
    let path = dir.join(format!("hostile-{}.tar.zst", name.len()));
    std::fs::write(&path, zstd::encode_all(bytes.as_slice(), 3).unwrap()).unwrap();
    path
}

#[test]
fn hostile_archives_are_refused_and_nothing_is_written_outside_the_target() {
    let project = Project::new();
    let outside = tempfile::tempdir().unwrap();
    let escape = outside.path().join("evil.txt");
    let cases: Vec<(String, tar::EntryType, Option<String>, &str)> = vec![
        (
            format!("../../../..{}", escape.display()),
            tar::EntryType::Regular,
            None,
            "not a safe relative path",
        ),
        (
            escape.display().to_string(),
            tar::EntryType::Regular,
            None,
            "not a safe relative path",
        ),
        (
            "link".into(),
            tar::EntryType::Symlink,
            Some(outside.path().display().to_string()),
            "a symbolic link entry",
        ),
        (
            "hard".into(),
            tar::EntryType::Link,
            Some("/etc/passwd".into()),
            "a hard link entry",
        ),
        ("dev".into(), tar::EntryType::Char, None, "a device entry"),
    ];
    for (name, kind, link, said) in cases {
        let kit = hostile_bundle(project.path(), &name, kind, link.as_deref());
        let target = tempfile::tempdir().unwrap();
        let stderr = unpack(
            &project,
            kit.to_str().unwrap(),
            target.path().to_str().unwrap(),
            &[],
            1,
        );
        assert_mentions(&stderr, &[said, "the archive is refused"]);
        assert!(!escape.exists(), "{name}: nothing outside the target");
        assert!(
            files_under(target.path()).is_empty(),
            "{name}: nothing becomes visible: {:?}",
            files_under(target.path())
        );
        bundle(&project, &["verify", kit.to_str().unwrap()], 1);
    }
    // A link already in the target is not written through.
    let index = FakeIndex::start(STACK);
    let source = synced(&index, None);
    let kit = source.path().join("kit.tar.zst");
    bundle(&source, &["create", "-o", kit.to_str().unwrap()], 0);
    let target = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), target.path().join("wheelhouse")).unwrap();
    let stderr = unpack(
        &source,
        kit.to_str().unwrap(),
        target.path().to_str().unwrap(),
        &["--force"],
        1,
    );
    assert_mentions(
        &stderr,
        &["is a symbolic link; nothing is written through a link"],
    );
    assert!(files_under(outside.path()).is_empty());
}

#[test]
fn a_delta_applies_on_its_base_and_is_refused_elsewhere() {
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let full = project.path().join("full.tar.zst");
    bundle(&project, &["create", "-o", full.to_str().unwrap()], 0);
    // The requirements change: one more package, and webapp is dropped (its wheel goes).
    project.write("requirements/app.in", "corelib\nextra\n");
    project.stderr_of(&["sync"], 0);
    project.export_to("requirements.lock.txt");
    let delta = project.path().join("delta.tar.zst");
    let stderr = bundle(
        &project,
        &[
            "create",
            "-o",
            delta.to_str().unwrap(),
            "--since",
            full.to_str().unwrap(),
            "--prune",
        ],
        0,
    );
    assert_mentions(
        &stderr,
        &["a delta on top of full.tar.zst; 1 file(s) for the far side to remove"],
    );
    let names: Vec<String> = entries_of(&delta).into_iter().map(|(n, _, _)| n).collect();
    assert!(
        !names.contains(&"wheelhouse/corelib-2.0-py3-none-any.whl".to_string()),
        "an unchanged file is not carried again: {names:?}"
    );
    assert!(names.contains(&"wheelhouse/extra-1.0-py3-none-any.whl".to_string()));

    // On anything but its base, the delta is refused.
    let elsewhere = tempfile::tempdir().unwrap();
    let stderr = unpack(
        &project,
        delta.to_str().unwrap(),
        elsewhere.path().to_str().unwrap(),
        &[],
        2,
    );
    assert_mentions(
        &stderr,
        &[
            "this bundle is a delta on top of full.tar.zst",
            "unpack full.tar.zst there first",
        ],
    );
    assert!(files_under(elsewhere.path()).is_empty());

    // On its base: applied, the pruned wheel removed, and the result verifies.
    let far = tempfile::tempdir().unwrap();
    unpack(
        &project,
        full.to_str().unwrap(),
        far.path().to_str().unwrap(),
        &[],
        0,
    );
    let stderr = unpack(
        &project,
        delta.to_str().unwrap(),
        far.path().to_str().unwrap(),
        &[],
        0,
    );
    assert_mentions(&stderr, &["1 removed"]);
    assert!(
        !far.path()
            .join("wheelhouse/webapp-1.0-py3-none-any.whl")
            .exists()
    );
    assert!(
        far.path()
            .join("wheelhouse/extra-1.0-py3-none-any.whl")
            .is_file()
    );
    let output = project
        .command()
        .current_dir(far.path())
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

#[test]
fn split_volumes_round_trip_and_a_missing_or_changed_volume_is_named() {
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let kit = project.path().join("kit.tar.zst");
    bundle(
        &project,
        &["create", "-o", kit.to_str().unwrap(), "--split-size", "1M"],
        0,
    );
    let first = project.path().join("kit.tar.zst.001");
    assert!(
        project.path().join("kit.tar.zst.002").is_file(),
        "at least two volumes"
    );
    let sums = project.read("kit.tar.zst.sha256");
    assert!(sums.contains("  kit.tar.zst.001\n"), "{sums}");
    let target = tempfile::tempdir().unwrap();
    unpack(
        &project,
        first.to_str().unwrap(),
        target.path().to_str().unwrap(),
        &[],
        0,
    );
    assert!(
        target
            .path()
            .join("wheelhouse/corelib-2.0-py3-none-any.whl")
            .is_file()
    );
    // A changed volume is named by the sums file.
    let second = project.path().join("kit.tar.zst.002");
    let mut bytes = std::fs::read(&second).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&second, &bytes).unwrap();
    let stderr = bundle(&project, &["verify", first.to_str().unwrap()], 2);
    assert_mentions(&stderr, &["kit.tar.zst.002"]);
    // A missing one too.
    std::fs::remove_file(&second).unwrap();
    let stderr = bundle(&project, &["verify", first.to_str().unwrap()], 2);
    assert_mentions(&stderr, &["a volume is missing"]);
}

#[test]
fn a_signed_bundle_verifies_with_its_key_and_fails_with_another() {
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let signer = crate::apt::key(7);
    let stranger = crate::apt::key(8);
    project.write(
        "keys/bundle.asc",
        &signer.to_armored_string(Default::default()).unwrap(),
    );
    project.write(
        "keys/bundle.pub",
        &signer
            .to_public_key()
            .to_armored_string(Default::default())
            .unwrap(),
    );
    project.write(
        "keys/stranger.pub",
        &stranger
            .to_public_key()
            .to_armored_string(Default::default())
            .unwrap(),
    );
    let kit = project.path().join("kit.tar.zst");
    let stderr = bundle(
        &project,
        &[
            "create",
            "-o",
            kit.to_str().unwrap(),
            "--sign-key",
            "keys/bundle.asc",
        ],
        0,
    );
    let fingerprint =
        hex::encode_upper(pgp::types::KeyDetails::fingerprint(&signer.primary_key).as_bytes());
    assert_mentions(&stderr, &[&format!("manifest signed by {fingerprint}")]);
    let stderr = bundle(
        &project,
        &["verify", kit.to_str().unwrap(), "--key", "keys/bundle.pub"],
        0,
    );
    assert_mentions(&stderr, &[&format!("manifest signed by {fingerprint}")]);
    let stderr = bundle(
        &project,
        &[
            "verify",
            kit.to_str().unwrap(),
            "--key",
            "keys/stranger.pub",
        ],
        1,
    );
    assert_mentions(&stderr, &["the signature does not verify"]);
    let target = tempfile::tempdir().unwrap();
    unpack(
        &project,
        kit.to_str().unwrap(),
        target.path().to_str().unwrap(),
        &["--key", "keys/stranger.pub"],
        1,
    );
    assert!(files_under(target.path()).is_empty());
    // An unsigned bundle does not pass a check that asks for a signature.
    let unsigned = project.path().join("unsigned.tar.zst");
    bundle(&project, &["create", "-o", unsigned.to_str().unwrap()], 0);
    let stderr = bundle(
        &project,
        &[
            "verify",
            unsigned.to_str().unwrap(),
            "--key",
            "keys/bundle.pub",
        ],
        1,
    );
    assert_mentions(&stderr, &["is not signed, and --key requires a signature"]);
    // A manifest edited after signing (one file's size) fails the signature.
    let edited = project.path().join("edited.tar.zst");
    rewrite(&kit, &edited, |bytes| {
        let at = data_offset(bytes, ".airlock-bundle/manifest.json");
        let text = String::from_utf8_lossy(&bytes[at..at + 200]).into_owned();
        let digit = text.find("\"source-date-epoch\": ").unwrap() + 21;
        bytes[at + digit] = if bytes[at + digit] == b'1' {
            b'2'
        } else {
            b'1'
        };
    });
    let stderr = bundle(
        &project,
        &[
            "verify",
            edited.to_str().unwrap(),
            "--key",
            "keys/bundle.pub",
        ],
        1,
    );
    assert_mentions(&stderr, &["the signature does not verify"]);
    let _ = read_all(&kit);
}

fn read_all(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// The vendored CycloneDX 1.6 schemas (tests/schemas/cyclonedx-1.6, from the CycloneDX
/// specification repository), served to the validator by their `$id`: no network.
struct VendoredSchemas;

impl jsonschema::Retrieve for VendoredSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/schemas/cyclonedx-1.6")
            .join(&name);
        Ok(serde_json::from_slice(&std::fs::read(path)?)?)
    }
}

pub(crate) fn assert_valid_cyclonedx(document: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/schemas/cyclonedx-1.6/bom-1.6.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .with_retriever(VendoredSchemas)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the SBOM is not valid CycloneDX 1.6: {errors:#?}"
    );
}

#[test]
fn the_bundles_sbom_is_valid_cyclonedx_and_matches_the_manifest() {
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    let kit = project.path().join("kit.tar.zst");
    bundle(&project, &["create", "-o", kit.to_str().unwrap()], 0);
    let target = tempfile::tempdir().unwrap();
    unpack(
        &project,
        kit.to_str().unwrap(),
        target.path().to_str().unwrap(),
        &[],
        0,
    );
    let sbom: serde_json::Value = serde_json::from_slice(
        &std::fs::read(target.path().join(".airlock-bundle/sbom.cdx.json")).unwrap(),
    )
    .unwrap();
    assert_valid_cyclonedx(&sbom);
    let components = sbom["components"].as_array().unwrap();
    let purls: Vec<&str> = components
        .iter()
        .map(|c| c["purl"].as_str().unwrap())
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:pypi/corelib@2.0?file_name=corelib-2.0-py3-none-any.whl",
            "pkg:pypi/webapp@1.0?file_name=webapp-1.0-py3-none-any.whl"
        ]
    );
    let webapp_sha = index.wheel_sha256("webapp-1.0-py3-none-any.whl");
    assert_eq!(components[1]["hashes"][0]["content"], webapp_sha.as_str());
    // The graph: the project needs webapp, webapp needs corelib.
    let dependencies = sbom["dependencies"].as_array().unwrap();
    let of = |reference: &str| {
        dependencies
            .iter()
            .find(|d| d["ref"] == reference)
            .map(|d| d["dependsOn"].clone())
            .unwrap()
    };
    assert_eq!(of("project"), serde_json::json!([purls[1]]));
    assert_eq!(of(purls[1]), serde_json::json!([purls[0]]));
    // A schema violation is caught by the check itself (it is not a test that cannot fail).
    let mut broken = sbom.clone();
    broken["components"][0]["hashes"][0]["alg"] = "SHA-999".into();
    let caught = std::panic::catch_unwind(|| assert_valid_cyclonedx(&broken));
    assert!(caught.is_err());
}

#[test]
fn a_dockerignore_that_cannot_be_read_stops_create_instead_of_packing_what_it_excludes() {
    let index = FakeIndex::start(STACK);
    let project = synced(&index, None);
    // Unreadable even for root: a directory where the file should be.
    std::fs::remove_file(project.path().join(".dockerignore")).unwrap();
    std::fs::create_dir(project.path().join(".dockerignore")).unwrap();
    let kit = project.path().join("kit.tar.zst");
    let stderr = bundle(&project, &["create", "-o", kit.to_str().unwrap()], 2);
    assert_mentions(&stderr, &[".dockerignore"]);
    assert!(!kit.exists());
}
