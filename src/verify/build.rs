//! `verify --build`: build each audited Dockerfile for real, with the network off and nothing
//! pulled, so that what only a real build sees is seen: a base image whose Python is not the
//! one the lock was made for, a step that reaches the network in a way no rule knows, an sdist
//! that does not build offline, apt steps inside the image.
//!
//! The builder is a container CLI behind [`Engine`]; what to make of its output (which step
//! failed, why, and which locked package it concerns) is pure logic over text, tested without
//! any builder.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Instant;

use super::dockerfile::parser::Dockerfile;
use super::dockerfile::rules::BaseImage;
use super::{Finding, Severity};
use crate::python::target::{Arch, Os, Target};
use crate::python::wheel::WheelFilename;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "no container builder answers here ({tried}); install buildah and runc (Debian: `apt-get install buildah runc`), or podman, or start a Docker daemon"
    )]
    NoBuilder { tried: String },
    #[error("`{program}` cannot be used: {detail}")]
    Unusable { program: String, detail: String },
    #[error(
        "{images} {verb} not in {builder}'s local storage, and `verify --build` never pulls; load {it} from an archive first ({how}), or build on a machine that has {it}"
    )]
    MissingImages {
        builder: &'static str,
        images: String,
        verb: &'static str,
        it: &'static str,
        how: String,
    },
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed to {what}: {detail}")]
    Command {
        program: String,
        what: String,
        detail: String,
    },
}

/// The container CLIs `verify --build` drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderKind {
    Docker,
    Podman,
    Buildah,
}

impl BuilderKind {
    pub fn program(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
            Self::Buildah => "buildah",
        }
    }

    /// How a base image gets into this builder's storage without a registry.
    fn load_hint(self) -> &'static str {
        match self {
            Self::Docker => "`docker load -i IMAGE.tar`",
            Self::Podman => "`podman load -i IMAGE.tar`",
            Self::Buildah => {
                "`buildah pull docker-archive:IMAGE.tar` for a `docker save` archive, `buildah pull oci-archive:IMAGE.tar` for an OCI one"
            }
        }
    }
}

/// `--builder`: one builder, or the first that answers (docker with a daemon, podman, buildah).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuilderChoice {
    #[default]
    Auto,
    Only(BuilderKind),
}

impl FromStr for BuilderChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "auto" => Self::Auto,
            "docker" => Self::Only(BuilderKind::Docker),
            "podman" => Self::Only(BuilderKind::Podman),
            "buildah" => Self::Only(BuilderKind::Buildah),
            other => {
                return Err(format!(
                    "unknown builder `{other}`: use auto, docker, podman or buildah"
                ));
            }
        })
    }
}

/// What a builder printed (stdout and stderr, interleaved as written) and how it ended.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub success: bool,
    pub status: String,
    pub text: String,
}

/// The operations `verify --build` needs from a builder.
pub trait Engine {
    fn kind(&self) -> BuilderKind;
    /// Whether `image` is in local storage.
    fn has_image(&self, image: &str) -> Result<bool, BuildError>;
    /// Runs `python3 -c script` in a container of `image`, with no network.
    fn run_python(&self, image: &str, script: &str) -> Result<CommandOutput, BuildError>;
    /// Builds `dockerfile` with `context`, network off, nothing pulled, tagged `tag`.
    fn build(
        &self,
        dockerfile: &Path,
        context: &Path,
        tag: &str,
    ) -> Result<CommandOutput, BuildError>;
    fn remove_image(&self, tag: &str) -> Result<(), BuildError>;
}

/// A builder driven through its command line.
pub struct ContainerCli {
    kind: BuilderKind,
    /// buildah's OCI runtime, when one is on PATH (`--runtime`); else buildah's own default.
    runtime: Option<&'static str>,
    /// buildah runs inside a network namespace of its own (as root): then even the builder
    /// cannot reach a registry or an `ADD <url>`, not only the RUN steps.
    offline_builder: bool,
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(program);
            std::fs::metadata(&candidate).is_ok_and(|m| m.is_file())
        })
    })
}

/// Runs `program args`, stdout and stderr captured together.
fn run(mut command: Command, program: &str) -> Result<CommandOutput, BuildError> {
    let (mut reader, writer) = std::io::pipe().map_err(|source| BuildError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let writer_err = writer.try_clone().map_err(|source| BuildError::Spawn {
        program: program.to_string(),
        source,
    })?;
    command
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err);
    let mut child = command.spawn().map_err(|source| BuildError::Spawn {
        program: program.to_string(),
        source,
    })?;
    // The command holds the pipe's write ends; dropping it leaves only the child's, so the
    // read ends when the child (and anything it left running on the pipe) is done.
    drop(command);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut bytes).map_err(|source| BuildError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let status = child.wait().map_err(|source| BuildError::Spawn {
        program: program.to_string(),
        source,
    })?;
    Ok(CommandOutput {
        success: status.success(),
        status: status.to_string(),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// The probe's answer for one attempt at a builder, for the "tried" list.
fn answers(kind: BuilderKind) -> Result<(), String> {
    let program = kind.program();
    if !on_path(program) {
        return Err(format!("{program}: not installed"));
    }
    let mut command = Command::new(program);
    match kind {
        // The docker CLI is often there without a daemon; only a daemon that answers builds.
        BuilderKind::Docker => command.args(["info", "--format", "{{.ServerVersion}}"]),
        BuilderKind::Podman | BuilderKind::Buildah => command.arg("--version"),
    };
    match run(command, program) {
        Ok(output) if output.success => Ok(()),
        Ok(output) => Err(format!(
            "{program}: {}",
            output.text.lines().last().unwrap_or(&output.status).trim()
        )),
        Err(error) => Err(format!("{program}: {error}")),
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl ContainerCli {
    /// The builder `choice` names, checked to answer; for `Auto`, the first that does.
    pub fn detect(choice: BuilderChoice) -> Result<Self, BuildError> {
        let candidates = match choice {
            BuilderChoice::Only(kind) => vec![kind],
            BuilderChoice::Auto => vec![
                BuilderKind::Docker,
                BuilderKind::Podman,
                BuilderKind::Buildah,
            ],
        };
        let mut tried = Vec::new();
        for kind in candidates {
            match answers(kind) {
                Ok(()) => return Ok(Self::new(kind)),
                Err(why) => tried.push(why),
            }
        }
        match choice {
            BuilderChoice::Only(kind) => Err(BuildError::Unusable {
                program: kind.program().to_string(),
                detail: tried.join("; "),
            }),
            BuilderChoice::Auto => Err(BuildError::NoBuilder {
                tried: tried.join("; "),
            }),
        }
    }

    fn new(kind: BuilderKind) -> Self {
        let runtime = ["runc", "crun"].into_iter().find(|r| on_path(r));
        let offline_builder =
            kind == BuilderKind::Buildah && running_as_root() && crate::sandbox::can_isolate();
        Self {
            kind,
            runtime,
            offline_builder,
        }
    }

    fn command(&self, offline: bool) -> Result<Command, BuildError> {
        let program = self.kind.program();
        if offline && self.offline_builder {
            return crate::sandbox::offline(program).map_err(|detail| BuildError::Unusable {
                program: program.to_string(),
                detail,
            });
        }
        let mut command = Command::new(program);
        if self.kind == BuilderKind::Docker {
            command.env("DOCKER_BUILDKIT", "1");
        }
        Ok(command)
    }

    fn invoke(&self, args: &[String], offline: bool) -> Result<CommandOutput, BuildError> {
        let mut command = self.command(offline)?;
        command.args(args);
        run(command, self.kind.program())
    }
}

/// The arguments of a no-network, no-pull build of `dockerfile` in `context`.
pub fn build_args(
    kind: BuilderKind,
    runtime: Option<&str>,
    dockerfile: &Path,
    context: &Path,
    tag: &str,
) -> Vec<String> {
    let mut args: Vec<String> = match kind {
        BuilderKind::Buildah => {
            let mut args = vec!["bud".into(), "--isolation".into(), "oci".into()];
            if let Some(runtime) = runtime {
                args.extend(["--runtime".into(), runtime.into()]);
            }
            args.extend(["--network".into(), "none".into(), "--pull-never".into()]);
            args
        }
        BuilderKind::Podman => vec![
            "build".into(),
            "--network".into(),
            "none".into(),
            "--pull=never".into(),
        ],
        // BuildKit: RUN steps in no network; `--pull` is off by default, and the base
        // images were checked to be present before.
        BuilderKind::Docker => vec![
            "build".into(),
            "--network".into(),
            "none".into(),
            "--progress".into(),
            "plain".into(),
        ],
    };
    args.extend([
        "-f".into(),
        dockerfile.display().to_string(),
        "-t".into(),
        tag.into(),
        context.display().to_string(),
    ]);
    args
}

impl Engine for ContainerCli {
    fn kind(&self) -> BuilderKind {
        self.kind
    }

    fn has_image(&self, image: &str) -> Result<bool, BuildError> {
        let args: Vec<String> = match self.kind {
            BuilderKind::Buildah => vec!["inspect".into(), "--type".into(), "image".into()],
            BuilderKind::Podman => vec!["image".into(), "exists".into()],
            BuilderKind::Docker => vec!["image".into(), "inspect".into()],
        }
        .into_iter()
        .chain([image.to_string()])
        .collect();
        let output = self.invoke(&args, false)?;
        if output.success {
            return Ok(true);
        }
        let text = output.text.to_ascii_lowercase();
        let absent = [
            "image not known",
            "no such image",
            "not found",
            "no such object",
        ]
        .iter()
        .any(|needle| text.contains(needle));
        // podman's `image exists` says nothing and exits 1 for an absent image.
        if absent || (self.kind == BuilderKind::Podman && output.status.ends_with(": 1")) {
            return Ok(false);
        }
        Err(BuildError::Command {
            program: self.kind.program().into(),
            what: format!("look up the image {image}"),
            detail: last_line(&output.text, &output.status),
        })
    }

    fn run_python(&self, image: &str, script: &str) -> Result<CommandOutput, BuildError> {
        match self.kind {
            BuilderKind::Buildah => {
                let from = self.invoke(
                    &[
                        "from".into(),
                        "--pull-never".into(),
                        "--network".into(),
                        "none".into(),
                        image.into(),
                    ],
                    true,
                )?;
                if !from.success {
                    return Err(BuildError::Command {
                        program: "buildah".into(),
                        what: format!("start a container of {image}"),
                        detail: last_line(&from.text, &from.status),
                    });
                }
                let container = from
                    .text
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let mut args: Vec<String> = vec!["run".into(), "--isolation".into(), "oci".into()];
                if let Some(runtime) = self.runtime {
                    args.extend(["--runtime".into(), runtime.into()]);
                }
                args.extend([
                    "--network".into(),
                    "none".into(),
                    container.clone(),
                    "--".into(),
                    "python3".into(),
                    "-c".into(),
                    script.into(),
                ]);
                let output = self.invoke(&args, true);
                let removed = self.invoke(&["rm".into(), container.clone()], false)?;
                if !removed.success {
                    return Err(BuildError::Command {
                        program: "buildah".into(),
                        what: format!("remove the probe container {container}"),
                        detail: last_line(&removed.text, &removed.status),
                    });
                }
                output
            }
            BuilderKind::Podman | BuilderKind::Docker => self.invoke(
                &[
                    "run".into(),
                    "--rm".into(),
                    "--network".into(),
                    "none".into(),
                    "--pull".into(),
                    "never".into(),
                    "--entrypoint".into(),
                    "python3".into(),
                    image.into(),
                    "-c".into(),
                    script.into(),
                ],
                false,
            ),
        }
    }

    fn build(
        &self,
        dockerfile: &Path,
        context: &Path,
        tag: &str,
    ) -> Result<CommandOutput, BuildError> {
        self.invoke(
            &build_args(self.kind, self.runtime, dockerfile, context, tag),
            true,
        )
    }

    fn remove_image(&self, tag: &str) -> Result<(), BuildError> {
        let args: Vec<String> = match self.kind {
            BuilderKind::Docker => vec!["image".into(), "rm".into(), tag.into()],
            _ => vec!["rmi".into(), tag.into()],
        };
        let output = self.invoke(&args, false)?;
        if output.success {
            Ok(())
        } else {
            Err(BuildError::Command {
                program: self.kind.program().into(),
                what: format!("remove the image {tag}"),
                detail: last_line(&output.text, &output.status),
            })
        }
    }
}

fn last_line(text: &str, fallback: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or(fallback)
        .to_string()
}

/// What the image's Python says of itself.
pub const PROBE_SCRIPT: &str = "import sys, platform, glob\n\
name, version = platform.libc_ver()\n\
if not name and glob.glob('/lib/ld-musl-*'):\n    name = 'musl'\n\
print('AIRLOCK-PROBE', '%d.%d.%d' % sys.version_info[:3], sys.implementation.name, platform.machine(), name or '-', version or '-')\n";

/// The C library of an image, as its Python sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Libc {
    Glibc { major: u32, minor: u32 },
    Musl,
    Unknown,
}

/// An image's Python, read by running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePython {
    pub version: (u32, u32, u32),
    pub implementation: String,
    pub machine: String,
    pub libc: Libc,
}

impl std::fmt::Display for ImagePython {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (major, minor, patch) = self.version;
        let implementation = match self.implementation.as_str() {
            "cpython" => "CPython",
            "pypy" => "PyPy",
            other => other,
        };
        write!(
            f,
            "{implementation} {major}.{minor}.{patch} on {}",
            self.machine
        )?;
        match self.libc {
            Libc::Glibc { major, minor } => write!(f, " with glibc {major}.{minor}"),
            Libc::Musl => write!(f, " with musl"),
            Libc::Unknown => Ok(()),
        }
    }
}

impl ImagePython {
    /// Reads the probe's line out of whatever else the container printed.
    pub fn parse(output: &str) -> Option<Self> {
        let line = output
            .lines()
            .find_map(|line| line.trim().strip_prefix("AIRLOCK-PROBE "))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let [version, implementation, machine, libc, libc_version] = words.as_slice() else {
            return None;
        };
        let mut parts = version.split('.').map(str::parse::<u32>);
        let version = match (parts.next(), parts.next(), parts.next()) {
            (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => (a, b, c),
            _ => return None,
        };
        let libc = match *libc {
            "glibc" => {
                let mut parts = libc_version.split('.').map(str::parse::<u32>);
                match (parts.next(), parts.next()) {
                    (Some(Ok(major)), Some(Ok(minor))) => Libc::Glibc { major, minor },
                    _ => Libc::Unknown,
                }
            }
            "musl" => Libc::Musl,
            _ => Libc::Unknown,
        };
        Some(Self {
            version,
            implementation: implementation.to_string(),
            machine: machine.to_string(),
            libc,
        })
    }

    /// The lock target this Python is, for matching wheel tags (`None` off Linux glibc/musl
    /// or on an architecture airlock does not know).
    fn as_target(&self) -> Option<Target> {
        let arch = Arch::parse(&self.machine)?;
        let platform = match self.libc {
            Libc::Glibc { major, minor } => {
                format!("{}-manylinux_{major}_{minor}", arch.linux_name())
            }
            Libc::Musl => format!("{}-musllinux_1_2", arch.linux_name()),
            Libc::Unknown => return None,
        };
        let (major, minor, patch) = self.version;
        Target::new(&format!("{major}.{minor}.{patch}"), &platform).ok()
    }
}

/// The image's Python against the locks' targets: BD101 when no target is this Python on
/// this platform (pip in the image would find no wheel locked for it), BD102 when the targets
/// that fit allow wheels for a newer glibc than the image has.
pub fn compare_with_targets(
    image: &BaseImage,
    python: &ImagePython,
    targets: &[Target],
    uri: &str,
) -> Vec<Finding> {
    if targets.is_empty() {
        return Vec::new();
    }
    let (major, minor, _) = python.version;
    let arch = Arch::parse(&python.machine);
    let fits = |target: &&Target| {
        target.python_version.major == major
            && target.python_version.minor == minor
            && Some(target.platform.arch) == arch
            && matches!(
                (&target.platform.os, &python.libc),
                (Os::Manylinux { .. }, Libc::Glibc { .. })
                    | (Os::Musllinux { .. }, Libc::Musl)
                    | (Os::Manylinux { .. } | Os::Musllinux { .. }, Libc::Unknown)
            )
    };
    let matching: Vec<&Target> = targets.iter().filter(fits).collect();
    if matching.is_empty() {
        let listed: Vec<String> = targets.iter().map(ToString::to_string).collect();
        return vec![Finding::new(
            "BD101",
            Severity::Error,
            uri,
            Some(image.line),
            format!(
                "the base image {} runs {python}, and no lock targets that (targets: {}): pip in the image will not accept the wheels locked for other Pythons; add a target for it to [python] targets (or --python-version/--python-platform) and resolve again, or build FROM an image with a targeted Python",
                image.image,
                listed.join(", ")
            ),
        )];
    }
    let Libc::Glibc {
        major: glibc_major,
        minor: glibc_minor,
    } = python.libc
    else {
        return Vec::new();
    };
    let too_new: Vec<&&Target> = matching
        .iter()
        .filter(|t| match t.platform.os {
            Os::Manylinux { major, minor } => (major, minor) > (glibc_major, glibc_minor),
            _ => false,
        })
        .collect();
    if too_new.len() < matching.len() {
        return Vec::new();
    }
    too_new
        .iter()
        .map(|target| {
            Finding::new(
                "BD102",
                Severity::Warning,
                uri,
                Some(image.line),
                format!(
                    "the base image {} has glibc {glibc_major}.{glibc_minor}, but the lock target {target} allows wheels built for a newer glibc: any locked wheel tagged above manylinux_{glibc_major}_{glibc_minor} will not install; lock for {}-manylinux_{glibc_major}_{glibc_minor}",
                    image.image,
                    target.platform.arch.linux_name()
                ),
            )
        })
        .collect()
}

/// The step a build stopped at, and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedStep {
    /// The instruction as the builder printed it (`RUN --mount=… pip install …`).
    pub instruction: String,
    pub output: Vec<String>,
    /// The builder's own last word on it.
    pub error: Option<String>,
}

/// The failing step of a build log: buildah's and podman's `STEP n/m: …` blocks ending in
/// `Error: building at STEP "…"`, or BuildKit's plain progress (`#7 [2/3] RUN …`, `#7 0.52 …`,
/// `#7 ERROR: …`).
pub fn failed_step(kind: BuilderKind, log: &str) -> Option<FailedStep> {
    match kind {
        BuilderKind::Docker => failed_buildkit_step(log),
        BuilderKind::Buildah | BuilderKind::Podman => failed_buildah_step(log),
    }
}

fn failed_buildah_step(log: &str) -> Option<FailedStep> {
    let mut current: Option<FailedStep> = None;
    for line in log.lines() {
        // Multi-stage builds prefix the stage: `[1/2] STEP 3/4: RUN …`.
        let unprefixed = match line.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map_or(line, |(_, after)| after),
            None => line,
        };
        if let Some(step) = unprefixed.strip_prefix("STEP ")
            && let Some((counter, instruction)) = step.split_once(": ")
            && counter.contains('/')
        {
            current = Some(FailedStep {
                instruction: instruction.trim().to_string(),
                output: Vec::new(),
                error: None,
            });
            continue;
        }
        if let Some(error) = line.strip_prefix("Error: ").or(line.strip_prefix("error ")) {
            if let Some(step) = current.as_mut() {
                step.error = Some(error.trim().to_string());
            }
            continue;
        }
        if let Some(step) = current.as_mut() {
            step.output.push(line.to_string());
        }
    }
    current.filter(|step| step.error.is_some())
}

fn failed_buildkit_step(log: &str) -> Option<FailedStep> {
    use std::collections::BTreeMap;
    let mut steps: BTreeMap<u32, FailedStep> = BTreeMap::new();
    let mut failed: Option<u32> = None;
    for line in log.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((id, body)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(id) = id.parse::<u32>() else { continue };
        if let Some(header) = body.strip_prefix('[') {
            if let Some((_, instruction)) = header.split_once("] ") {
                steps.insert(
                    id,
                    FailedStep {
                        instruction: instruction.trim().to_string(),
                        output: Vec::new(),
                        error: None,
                    },
                );
            }
            continue;
        }
        if let Some(error) = body.strip_prefix("ERROR: ") {
            if let Some(step) = steps.get_mut(&id) {
                step.error = Some(error.trim().to_string());
                failed.get_or_insert(id);
            }
            continue;
        }
        // `#7 0.512 text`: a timestamped line of the step's output.
        if let Some((time, text)) = body.split_once(' ')
            && time.parse::<f64>().is_ok()
            && let Some(step) = steps.get_mut(&id)
        {
            step.output.push(text.to_string());
        }
    }
    failed.and_then(|id| steps.remove(&id))
}

fn squeeze(text: &str) -> String {
    text.replace("\\\n", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line of the instruction a builder printed as `step`.
pub fn instruction_line(file: &Dockerfile, step: &str) -> Option<usize> {
    let step = squeeze(step);
    let (keyword, _) = step.split_once(' ').unwrap_or((&step, ""));
    file.instructions
        .iter()
        .filter(|i| i.keyword.eq_ignore_ascii_case(keyword))
        .find(|i| {
            let args = squeeze(&i.args);
            args.is_empty() || step.ends_with(&args) || step.contains(&args)
        })
        .map(|i| i.line)
}

/// Why a step failed, as far as its output tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// It tried to reach the network: the evidence line.
    Network(String),
    /// pip found nothing to install for this requirement.
    NoDistribution {
        requirement: String,
    },
    /// pip refused files whose hashes differ from the requirements' `--hash`.
    HashMismatch(Vec<String>),
    /// An sdist did not build.
    SdistBuild(String),
    Unknown,
}

const NETWORK_SIGNS: &[&str] = &[
    "temporary failure in name resolution",
    "name or service not known",
    "could not resolve host",
    "temporary failure resolving",
    "network is unreachable",
    "failed to establish a new connection",
    "no address associated with hostname",
    "could not connect to",
    "connection refused",
    "connecttimeouterror",
    "failed to fetch http",
];

/// Reads a failed step's output.
pub fn diagnose(output: &[String]) -> Diagnosis {
    for line in output {
        let lower = line.to_ascii_lowercase();
        for sign in NETWORK_SIGNS {
            // ASCII lowering keeps byte offsets, so the match is cut from the line as written.
            if let Some(at) = lower.find(sign) {
                return Diagnosis::Network(line[at..at + sign.len()].to_string());
            }
        }
    }
    for line in output {
        let line = line.trim();
        for prefix in [
            "ERROR: No matching distribution found for ",
            "ERROR: Could not find a version that satisfies the requirement ",
        ] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let requirement = rest.split(" (").next().unwrap_or(rest).trim();
                return Diagnosis::NoDistribution {
                    requirement: requirement.to_string(),
                };
            }
        }
    }
    if let Some(at) = output
        .iter()
        .position(|line| line.contains("THESE PACKAGES DO NOT MATCH THE HASHES"))
    {
        let named: Vec<String> = output[at + 1..]
            .iter()
            .map(|line| line.trim())
            .filter(|line| line.contains(" from ") || line.contains(".whl") || line.contains("=="))
            .take(5)
            .map(str::to_string)
            .collect();
        return Diagnosis::HashMismatch(named);
    }
    for line in output {
        let line = line.trim();
        for prefix in [
            "ERROR: Failed building wheel for ",
            "ERROR: Could not build wheels for ",
            "Failed to build ",
        ] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let name = rest.split([',', ' ']).next().unwrap_or(rest).trim();
                return Diagnosis::SdistBuild(name.to_string());
            }
        }
    }
    Diagnosis::Unknown
}

/// Whether a step runs pip in a way that reads an index (no `--no-index`).
fn searches_an_index(instruction: &str) -> bool {
    let words: Vec<&str> = instruction.split_whitespace().collect();
    let runs_pip = words.windows(2).any(|pair| {
        let program = pair[0].rsplit('/').next().unwrap_or(pair[0]);
        let is_pip = program == "pip" || program.starts_with("pip3");
        is_pip && matches!(pair[1], "install" | "download" | "wheel")
    });
    runs_pip
        && !words
            .iter()
            .any(|w| *w == "--no-index" || w.starts_with("PIP_NO_INDEX="))
}

/// A locked package, for explaining pip's refusals.
#[derive(Debug, Clone)]
pub struct LockedDist {
    pub lockfile: String,
    pub name: String,
    pub version: String,
    pub files: Vec<String>,
}

/// What the locks say, for comparing images and explaining failures.
#[derive(Debug, Clone, Default)]
pub struct LockView {
    pub targets: Vec<Target>,
    pub dists: Vec<LockedDist>,
}

fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

impl LockView {
    /// Reads the pylocks in `lockfiles`. A lock that cannot be read is left out here: the
    /// same verify run reports it as AL204.
    pub fn read(lockfiles: &Path, root: &Path) -> Self {
        use crate::python::pylock::{PyLock, lockfiles_in};
        let mut view = Self::default();
        let Ok(paths) = lockfiles_in(lockfiles) else {
            return view;
        };
        for path in paths {
            let uri = crate::lock::display_path(&path, root);
            let Some(lock) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| PyLock::parse(&text, &uri).ok())
            else {
                continue;
            };
            if let Some(tool) = &lock.tool {
                for locked in &tool.airlock.targets {
                    if let Ok(target) = Target::new(&locked.python_version, &locked.python_platform)
                        && !view.targets.contains(&target)
                    {
                        view.targets.push(target);
                    }
                }
            }
            for package in &lock.packages {
                view.dists.push(LockedDist {
                    lockfile: uri.clone(),
                    name: package.name.clone(),
                    version: package.version.clone(),
                    files: package
                        .wheels
                        .iter()
                        .chain(&package.sdist)
                        .map(|file| file.name.to_string())
                        .collect(),
                });
            }
        }
        view
    }
}

/// Why pip found nothing for `requirement` in the image, in the lock's terms.
pub fn explain_missing(
    requirement: &str,
    view: &LockView,
    python: Option<&ImagePython>,
    wheelhouse: &[String],
) -> String {
    let name_end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    let name = canonical(&requirement[..name_end]);
    let locked: Vec<&LockedDist> = view
        .dists
        .iter()
        .filter(|d| canonical(&d.name) == name)
        .collect();
    if locked.is_empty() {
        return format!(
            "pip found no distribution for {requirement}, and no lock has {name}: the Dockerfile installs something the lock does not cover; add it to the requirements and resolve again"
        );
    }
    let dist = locked[0];
    let pinned = format!("{}=={} ({})", dist.name, dist.version, dist.lockfile);
    let image_target = python.and_then(ImagePython::as_target);
    let in_wheelhouse = |file: &str| wheelhouse.iter().any(|w| w == file);
    let (wheels, sdists): (Vec<&String>, Vec<&String>) =
        dist.files.iter().partition(|f| f.ends_with(".whl"));
    let fitting: Vec<&String> = wheels
        .iter()
        .copied()
        .filter(
            |file| match (&image_target, WheelFilename::from_str(file)) {
                (Some(target), Ok(wheel)) => target.tags().is_compatible(&wheel),
                // Without the image's tags every wheel is given the benefit of the doubt.
                _ => true,
            },
        )
        .collect();
    if fitting.is_empty() {
        let python = python.map_or_else(|| "this image's Python".to_string(), ToString::to_string);
        let sdist = match sdists.first() {
            Some(sdist) if !in_wheelhouse(sdist) => format!(
                ", and its sdist {sdist} is not in the wheelhouse (no lock target builds it)"
            ),
            _ => String::new(),
        };
        return format!(
            "pip found no distribution for {requirement}: {pinned} is locked with {}, none of which installs on {python}{sdist}; lock for this image's Python or build FROM the image the lock targets",
            wheels
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let absent: Vec<&str> = fitting
        .iter()
        .filter(|f| !in_wheelhouse(f))
        .map(|f| f.as_str())
        .collect();
    if absent.len() == fitting.len() {
        return format!(
            "pip found no distribution for {requirement}: {pinned} is locked, but {} {} not in the wheelhouse; run `airlock fetch`",
            absent.join(", "),
            if absent.len() == 1 { "is" } else { "are" }
        );
    }
    format!(
        "pip found no distribution for {requirement}, although {pinned} fits this image and {} is in the wheelhouse: check that the step's --find-links names the wheelhouse mount's target",
        fitting[0]
    )
}

/// Why pip's hash check refused a file: the file it picked is either a locked one that
/// changed, or a file no lock lists for that version (a stray another lock left in the
/// wheelhouse, which pip prefers when it fits the image and the locked ones do not).
pub fn explain_hash_mismatch(
    named: &[String],
    view: &LockView,
    python: Option<&ImagePython>,
) -> String {
    let picked = named.iter().find_map(|line| {
        let (_, url) = line.split_once("file://")?;
        let path = url.split([' ', ')', ':']).next()?;
        let file = path.rsplit('/').next()?;
        Some(file.to_string())
    });
    let Some(file) = picked else {
        return "pip refused files whose sha256 differs from the hashes it was given; run `airlock verify` for the wheelhouse's integrity and `airlock fetch` to replace what differs".to_string();
    };
    let locked = WheelFilename::from_str(&file).ok().and_then(|wheel| {
        let name = canonical(wheel.name.as_ref());
        let version = wheel.version.to_string();
        view.dists
            .iter()
            .find(|d| canonical(&d.name) == name && d.version == version)
    });
    match locked {
        Some(dist) if dist.files.contains(&file) => format!(
            "pip refused {file}: it is the file the lock has for {}=={}, but its sha256 differs from the lock; `airlock verify` reports it (AL102) and `airlock fetch` replaces it",
            dist.name, dist.version
        ),
        Some(dist) => {
            let python =
                python.map_or_else(|| "this image's Python".to_string(), ToString::to_string);
            format!(
                "pip picked {file}, which no lock lists for {}=={} ({} has {}): a file left in the wheelhouse by another lock (AL103) that fits {python} where the locked ones may not; remove stray files, and lock for the image's Python",
                dist.name,
                dist.version,
                dist.lockfile,
                dist.files.join(", ")
            )
        }
        None => format!(
            "pip refused {file}, which no lock lists: a stray file in the wheelhouse (AL103); remove it"
        ),
    }
}

/// One Dockerfile to build.
pub struct BuildJob {
    pub dockerfile: PathBuf,
    /// How findings name it.
    pub uri: String,
    pub context: PathBuf,
    pub parsed: Dockerfile,
    pub images: Vec<BaseImage>,
}

/// How `verify --build` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    pub keep: bool,
}

const TAIL_LINES: usize = 12;

fn tail(output: &[String]) -> String {
    let lines: Vec<&String> = output
        .iter()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines[start..]
        .iter()
        .map(|line| format!("\n    | {}", line.trim_end()))
        .collect()
}

/// Builds every job and reports what happened as findings. A base image missing from the
/// builder's storage is an error before anything is built (nothing is pulled).
pub fn verify_builds(
    engine: &dyn Engine,
    jobs: &[BuildJob],
    view: &LockView,
    wheelhouse: &Path,
    options: BuildOptions,
    progress: &dyn Fn(&str),
) -> Result<Vec<Finding>, BuildError> {
    let kind = engine.kind();
    let mut missing: Vec<String> = Vec::new();
    for image in jobs.iter().flat_map(|job| &job.images) {
        if !missing.contains(&image.image) && !engine.has_image(&image.image)? {
            missing.push(image.image.clone());
        }
    }
    if !missing.is_empty() {
        let one = missing.len() == 1;
        return Err(BuildError::MissingImages {
            builder: kind.program(),
            images: missing.join(", "),
            verb: if one { "is" } else { "are" },
            it: if one { "it" } else { "them" },
            how: kind.load_hint().to_string(),
        });
    }
    let wheelhouse_files: Vec<String> = std::fs::read_dir(wheelhouse)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let mut findings = Vec::new();
    let mut probed: Vec<(String, Option<ImagePython>)> = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let mut python_of_job: Option<ImagePython> = None;
        for image in job.images.iter().filter(|image| image.installs) {
            let known = probed
                .iter()
                .find(|(name, _)| *name == image.image)
                .cloned();
            let python = match known {
                Some((_, python)) => python,
                None => {
                    progress(&format!("reading the Python of {}", image.image));
                    let output = engine.run_python(&image.image, PROBE_SCRIPT)?;
                    let python = ImagePython::parse(&output.text);
                    if python.is_none() {
                        findings.push(Finding::new(
                            "BD103",
                            Severity::Note,
                            &job.uri,
                            Some(image.line),
                            format!(
                                "cannot read the Python of {} (`python3` in it: {}), so it is not compared with the lock's targets; the build below still shows whether the lock installs",
                                image.image,
                                last_line(&output.text, &output.status)
                            ),
                        ));
                    }
                    probed.push((image.image.clone(), python.clone()));
                    python
                }
            };
            if let Some(python) = python {
                findings.extend(compare_with_targets(
                    image,
                    &python,
                    &view.targets,
                    &job.uri,
                ));
                python_of_job.get_or_insert(python);
            }
        }
        let tag = format!("localhost/airlock-verify-{}-{index}", std::process::id());
        progress(&format!(
            "building {} with {}, network off",
            job.uri,
            kind.program()
        ));
        let started = Instant::now();
        let output = engine.build(&job.dockerfile, &job.context, &tag)?;
        let seconds = started.elapsed().as_secs_f64();
        if output.success {
            let kept = if options.keep {
                format!("; the image is kept as {tag}")
            } else {
                match engine.remove_image(&tag) {
                    Ok(()) => String::new(),
                    Err(error) => {
                        findings.push(Finding::new(
                            "BD206",
                            Severity::Warning,
                            &job.uri,
                            None,
                            format!("{error}; remove it by hand"),
                        ));
                        String::new()
                    }
                }
            };
            findings.push(Finding::new(
                "BD205",
                Severity::Note,
                &job.uri,
                None,
                format!(
                    "built with {} in {seconds:.1} s, network off and nothing pulled{kept}",
                    kind.program()
                ),
            ));
            continue;
        }
        findings.push(failure_finding(
            kind,
            job,
            &output,
            view,
            python_of_job.as_ref(),
            &wheelhouse_files,
        ));
    }
    Ok(findings)
}

/// The one finding a failed build gives: as specific as its output allows.
fn failure_finding(
    kind: BuilderKind,
    job: &BuildJob,
    output: &CommandOutput,
    view: &LockView,
    python: Option<&ImagePython>,
    wheelhouse: &[String],
) -> Finding {
    let builder = kind.program();
    let Some(step) = failed_step(kind, &output.text) else {
        let lines: Vec<String> = output.text.lines().map(str::to_string).collect();
        return Finding::new(
            "BD201",
            Severity::Error,
            &job.uri,
            None,
            format!(
                "{builder} failed ({}) before any step ran; its last lines:{}",
                output.status,
                tail(&lines)
            ),
        );
    };
    let line = instruction_line(&job.parsed, &step.instruction);
    let instruction = squeeze(&step.instruction);
    let short: String = if instruction.chars().count() > 100 {
        format!("{}…", instruction.chars().take(100).collect::<String>())
    } else {
        instruction.clone()
    };
    let shown = tail(&step.output);
    let diagnosis = match diagnose(&step.output) {
        // pip without --no-index asks an index first; with no network it finds nothing and
        // says only that (with --retries 0 it does not even print the connection errors).
        Diagnosis::NoDistribution { requirement } if searches_an_index(&instruction) => {
            Diagnosis::Network(format!(
                "pip looked for {requirement} in an index, not only in the wheelhouse, and found nothing"
            ))
        }
        other => other,
    };
    let (rule, message) = match diagnosis {
        Diagnosis::Network(evidence) => (
            "BD203",
            format!(
                "`{short}` tried to reach the network, which the air-gapped build does not have ({evidence}); install from the wheelhouse (or the apt mirror) only:{shown}"
            ),
        ),
        Diagnosis::NoDistribution { requirement } => (
            "BD202",
            format!(
                "`{short}` failed: {}:{shown}",
                explain_missing(&requirement, view, python, wheelhouse)
            ),
        ),
        Diagnosis::HashMismatch(named) => (
            "BD202",
            format!(
                "`{short}` failed: {}:{shown}",
                explain_hash_mismatch(&named, view, python)
            ),
        ),
        Diagnosis::SdistBuild(name) => (
            "BD204",
            format!(
                "`{short}` failed: the sdist of {name} did not build in the image with no network; `airlock verify --rehearse` builds it on this machine, and its build requirements must be in the wheelhouse (AL205):{shown}"
            ),
        ),
        Diagnosis::Unknown => (
            "BD201",
            format!(
                "`{short}` failed ({}); its last lines:{shown}",
                step.error.as_deref().unwrap_or(&output.status)
            ),
        ),
    };
    Finding::new(rule, Severity::Error, &job.uri, line, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::dockerfile::parser::parse;

    const BUILDAH_NETWORK: &str = "STEP 1/3: FROM localhost/py:3.11
STEP 2/3: WORKDIR /app
STEP 3/3: RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse     pip install six==1.16.0
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/six/
ERROR: Could not find a version that satisfies the requirement six==1.16.0 (from versions: none)
ERROR: No matching distribution found for six==1.16.0
Error: building at STEP \"RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse pip install six==1.16.0\": while running runtime: exit status 1
";

    const BUILDKIT_MISSING: &str = "#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 300B done
#1 DONE 0.0s
#5 [2/3] WORKDIR /app
#5 DONE 0.1s
#6 [3/3] RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse pip install --no-index --find-links /wheelhouse fastlib==1.0
#6 0.912 Looking in links: /wheelhouse
#6 1.204 ERROR: Could not find a version that satisfies the requirement fastlib==1.0 (from versions: none)
#6 1.205 ERROR: No matching distribution found for fastlib==1.0
#6 ERROR: process \"/bin/sh -c pip install --no-index --find-links /wheelhouse fastlib==1.0\" did not complete successfully: exit code: 1
------
ERROR: failed to solve: process \"/bin/sh -c pip install\" did not complete successfully: exit code: 1
";

    const DOCKERFILE: &str = "# syntax=docker/dockerfile:1
FROM localhost/py:3.11
WORKDIR /app
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \\
    pip install six==1.16.0
";

    fn python(version: (u32, u32, u32), machine: &str, libc: Libc) -> ImagePython {
        ImagePython {
            version,
            implementation: "cpython".into(),
            machine: machine.into(),
            libc,
        }
    }

    #[test]
    fn buildah_logs_give_the_failing_step_and_its_line() {
        let step = failed_step(BuilderKind::Buildah, BUILDAH_NETWORK).unwrap();
        assert!(step.instruction.starts_with("RUN --mount=type=bind"));
        assert_eq!(step.output.len(), 3, "{step:?}");
        assert!(step.error.unwrap().contains("exit status 1"));
        let file = parse(DOCKERFILE);
        assert_eq!(instruction_line(&file, &step.instruction), Some(4));
        assert_eq!(
            diagnose(&step.output),
            Diagnosis::Network("Temporary failure in name resolution".into())
        );
        // A log without an error has no failed step.
        assert_eq!(
            failed_step(BuilderKind::Podman, "STEP 1/1: FROM x\nCOMMIT y\n"),
            None
        );
        // Multi-stage prefixes.
        let staged = "[1/2] STEP 1/2: FROM a AS b\n[2/2] STEP 2/2: RUN false\nError: building at STEP \"RUN false\": exit status 1\n";
        assert_eq!(
            failed_step(BuilderKind::Buildah, staged)
                .unwrap()
                .instruction,
            "RUN false"
        );
    }

    #[test]
    fn buildkit_logs_give_the_failing_step_and_pips_refusal() {
        let step = failed_step(BuilderKind::Docker, BUILDKIT_MISSING).unwrap();
        assert!(step.instruction.ends_with("fastlib==1.0"), "{step:?}");
        assert_eq!(step.output.len(), 3);
        assert_eq!(
            diagnose(&step.output),
            Diagnosis::NoDistribution {
                requirement: "fastlib==1.0".into()
            }
        );
    }

    #[test]
    fn pip_that_searches_an_index_is_told_from_pip_that_does_not() {
        assert!(searches_an_index("RUN pip install --retries 0 left-pad"));
        assert!(searches_an_index("RUN /usr/local/bin/pip3 install x"));
        assert!(searches_an_index("RUN python3 -m pip download x"));
        assert!(!searches_an_index(
            "RUN --mount=type=bind,source=wheelhouse,target=/w pip install --no-index --find-links /w x"
        ));
        assert!(!searches_an_index("RUN apt-get install -y pipx"));
    }

    #[test]
    fn sdist_and_hash_failures_are_told_apart() {
        let sdist = vec![
            "  error: subprocess-exited-with-error".to_string(),
            "ERROR: Could not build wheels for langdetect, which is required to install pyproject.toml-based projects".to_string(),
        ];
        assert_eq!(diagnose(&sdist), Diagnosis::SdistBuild("langdetect".into()));
        let hashes = vec![
            "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.".to_string(),
            "    six==1.16.0 from file:///wheelhouse/six-1.16.0-py2.py3-none-any.whl:".to_string(),
            "        Expected sha256 00".to_string(),
        ];
        assert!(
            matches!(diagnose(&hashes), Diagnosis::HashMismatch(named) if named[0].starts_with("six==1.16.0"))
        );
        assert_eq!(diagnose(&["boom".to_string()]), Diagnosis::Unknown);
    }

    #[test]
    fn the_probe_line_is_read_among_other_output() {
        let parsed =
            ImagePython::parse("WARNING: x\nAIRLOCK-PROBE 3.11.2 cpython x86_64 glibc 2.36\n")
                .unwrap();
        assert_eq!(
            parsed,
            python(
                (3, 11, 2),
                "x86_64",
                Libc::Glibc {
                    major: 2,
                    minor: 36
                }
            )
        );
        assert_eq!(
            parsed.to_string(),
            "CPython 3.11.2 on x86_64 with glibc 2.36"
        );
        let musl = ImagePython::parse("AIRLOCK-PROBE 3.12.1 cpython aarch64 musl -").unwrap();
        assert_eq!(musl.libc, Libc::Musl);
        assert_eq!(ImagePython::parse("sh: python3: not found"), None);
    }

    /// CPython 3.11.2 on x86_64 with glibc 2.36: a Debian bookworm image.
    fn py311() -> ImagePython {
        python(
            (3, 11, 2),
            "x86_64",
            Libc::Glibc {
                major: 2,
                minor: 36,
            },
        )
    }

    fn image() -> BaseImage {
        BaseImage {
            image: "python:3.12-slim".into(),
            line: 2,
            installs: true,
        }
    }

    #[test]
    fn an_image_is_compared_with_the_lock_targets() {
        let targets = vec![
            Target::new("3.12", "x86_64-manylinux_2_36").unwrap(),
            Target::new("3.11", "aarch64-manylinux_2_28").unwrap(),
        ];
        let glibc = |minor| Libc::Glibc { major: 2, minor };
        // The same Python on the same platform: nothing to say.
        let same = python((3, 12, 8), "x86_64", glibc(36));
        assert!(compare_with_targets(&image(), &same, &targets, "Dockerfile").is_empty());
        // Another minor version: BD101, naming the image's Python and the targets.
        let other = python((3, 11, 2), "x86_64", glibc(36));
        let found = compare_with_targets(&image(), &other, &targets, "Dockerfile");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "BD101");
        assert!(
            found[0].message.contains("CPython 3.11.2 on x86_64"),
            "{}",
            found[0].message
        );
        // The Python of an aarch64 target, on x86_64: BD101 too.
        let arch = python((3, 11, 9), "x86_64", glibc(36));
        assert_eq!(
            compare_with_targets(&image(), &arch, &targets[1..], "Dockerfile")[0].rule,
            "BD101"
        );
        // An older glibc than the target allows: BD102.
        let old = python((3, 12, 1), "x86_64", glibc(31));
        let found = compare_with_targets(&image(), &old, &targets, "Dockerfile");
        assert_eq!(found[0].rule, "BD102");
        assert!(found[0].message.contains("x86_64-manylinux_2_31"));
        // musl against manylinux targets.
        let musl = python((3, 12, 1), "x86_64", Libc::Musl);
        assert_eq!(
            compare_with_targets(&image(), &musl, &targets, "Dockerfile")[0].rule,
            "BD101"
        );
    }

    fn view() -> LockView {
        LockView {
            targets: vec![Target::new("3.12", "x86_64-manylinux_2_36").unwrap()],
            dists: vec![
                LockedDist {
                    lockfile: "lockfiles/pylock.app.toml".into(),
                    name: "fastlib".into(),
                    version: "1.0".into(),
                    files: vec!["fastlib-1.0-cp312-cp312-manylinux_2_17_x86_64.whl".into()],
                },
                LockedDist {
                    lockfile: "lockfiles/pylock.app.toml".into(),
                    name: "six".into(),
                    version: "1.16.0".into(),
                    files: vec!["six-1.16.0-py2.py3-none-any.whl".into()],
                },
            ],
        }
    }

    #[test]
    fn pips_refusal_is_explained_with_the_lock() {
        let py311 = py311();
        let wheelhouse = vec!["fastlib-1.0-cp312-cp312-manylinux_2_17_x86_64.whl".to_string()];
        let wrong_python = explain_missing("fastlib==1.0", &view(), Some(&py311), &wheelhouse);
        assert!(
            wrong_python.contains("fastlib==1.0 (lockfiles/pylock.app.toml)")
                && wrong_python.contains("none of which installs on CPython 3.11.2"),
            "{wrong_python}"
        );
        let missing = explain_missing("Six==1.16.0", &view(), Some(&py311), &[]);
        assert!(
            missing.contains("six-1.16.0-py2.py3-none-any.whl is not in the wheelhouse"),
            "{missing}"
        );
        let unlocked = explain_missing("requests", &view(), None, &[]);
        assert!(unlocked.contains("no lock has requests"), "{unlocked}");
        let present = explain_missing(
            "six==1.16.0",
            &view(),
            Some(&py311),
            &["six-1.16.0-py2.py3-none-any.whl".to_string()],
        );
        assert!(present.contains("--find-links"), "{present}");
    }

    #[test]
    fn a_hash_refusal_tells_a_stray_file_from_a_changed_one() {
        let py311 = py311();
        let stray = vec![
            "fastlib==1.0 from file:///wheelhouse/fastlib-1.0-cp311-cp311-manylinux_2_17_x86_64.whl (from -r /tmp/r.txt (line 6)):".to_string(),
        ];
        let said = explain_hash_mismatch(&stray, &view(), Some(&py311));
        assert!(
            said.contains("pip picked fastlib-1.0-cp311-cp311-manylinux_2_17_x86_64.whl, which no lock lists for fastlib==1.0")
                && said.contains("has fastlib-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")
                && said.contains("CPython 3.11.2"),
            "{said}"
        );
        let changed = vec![
            "six==1.16.0 from file:///wheelhouse/six-1.16.0-py2.py3-none-any.whl:".to_string(),
        ];
        let said = explain_hash_mismatch(&changed, &view(), Some(&py311));
        assert!(said.contains("its sha256 differs from the lock"), "{said}");
        assert!(explain_hash_mismatch(&[], &view(), None).contains("airlock verify"));
    }

    #[test]
    fn builds_are_asked_for_with_no_network_and_no_pull() {
        let args = build_args(
            BuilderKind::Buildah,
            Some("runc"),
            Path::new("/p/Dockerfile"),
            Path::new("/p"),
            "localhost/t",
        );
        assert_eq!(
            args.join(" "),
            "bud --isolation oci --runtime runc --network none --pull-never -f /p/Dockerfile -t localhost/t /p"
        );
        let podman = build_args(
            BuilderKind::Podman,
            None,
            Path::new("D"),
            Path::new("."),
            "t",
        );
        assert!(podman.contains(&"--pull=never".to_string()));
        let docker = build_args(
            BuilderKind::Docker,
            None,
            Path::new("D"),
            Path::new("."),
            "t",
        );
        assert_eq!(docker[1..3], ["--network".to_string(), "none".to_string()]);
        assert!(!docker.iter().any(|a| a.starts_with("--pull")));
    }

    /// An engine that answers from memory: which images exist, what the probe prints, what
    /// the build prints.
    struct Scripted {
        images: Vec<&'static str>,
        probe: &'static str,
        build: Option<&'static str>,
        removed: std::cell::RefCell<Vec<String>>,
    }

    impl Engine for Scripted {
        fn kind(&self) -> BuilderKind {
            BuilderKind::Buildah
        }
        fn has_image(&self, image: &str) -> Result<bool, BuildError> {
            Ok(self.images.contains(&image))
        }
        fn run_python(&self, _: &str, _: &str) -> Result<CommandOutput, BuildError> {
            Ok(CommandOutput {
                success: true,
                status: "exit status: 0".into(),
                text: self.probe.into(),
            })
        }
        fn build(&self, _: &Path, _: &Path, _: &str) -> Result<CommandOutput, BuildError> {
            Ok(CommandOutput {
                success: self.build.is_none(),
                status: "exit status: 1".into(),
                text: self.build.unwrap_or("COMMIT\n").into(),
            })
        }
        fn remove_image(&self, tag: &str) -> Result<(), BuildError> {
            self.removed.borrow_mut().push(tag.to_string());
            Ok(())
        }
    }

    fn job() -> BuildJob {
        let parsed = parse(DOCKERFILE);
        BuildJob {
            dockerfile: "Dockerfile".into(),
            uri: "Dockerfile".into(),
            context: ".".into(),
            images: vec![BaseImage {
                image: "localhost/py:3.11".into(),
                line: 2,
                installs: true,
            }],
            parsed,
        }
    }

    /// The one job, with an empty wheelhouse.
    fn run(engine: &dyn Engine, options: BuildOptions) -> Result<Vec<Finding>, BuildError> {
        let dir = tempfile::tempdir().unwrap();
        verify_builds(engine, &[job()], &view(), dir.path(), options, &|_| {})
    }

    #[test]
    fn a_build_is_reported_and_its_image_removed() {
        let engine = Scripted {
            images: vec!["localhost/py:3.11"],
            probe: "AIRLOCK-PROBE 3.12.3 cpython x86_64 glibc 2.36",
            build: None,
            removed: Default::default(),
        };
        let found = run(&engine, BuildOptions::default()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, "BD205");
        assert_eq!(engine.removed.borrow().len(), 1);
        let kept = run(&engine, BuildOptions { keep: true }).unwrap();
        assert!(
            kept[0]
                .message
                .contains("kept as localhost/airlock-verify-")
        );
        assert_eq!(engine.removed.borrow().len(), 1);
    }

    #[test]
    fn a_failed_build_names_its_step_and_a_missing_image_stops_everything() {
        let engine = Scripted {
            images: vec!["localhost/py:3.11"],
            probe: "AIRLOCK-PROBE 3.11.2 cpython x86_64 glibc 2.36",
            build: Some(BUILDAH_NETWORK),
            removed: Default::default(),
        };
        let found = run(&engine, BuildOptions::default()).unwrap();
        let rules: Vec<&str> = found.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["BD101", "BD203"], "{found:?}");
        assert_eq!(found[1].location.line, Some(4));
        assert!(
            found[1]
                .message
                .contains("| ERROR: No matching distribution found for six==1.16.0")
        );
        let absent = Scripted {
            images: vec![],
            ..engine
        };
        let error = run(&absent, BuildOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("localhost/py:3.11 is not in buildah's local storage")
                && error.contains("buildah pull docker-archive:IMAGE.tar"),
            "{error}"
        );
    }
}
