//! Running PEP 517 build backends on this machine, isolated: the host's Python, a throwaway
//! environment holding only the build requirements (installed by pip from local files, with no
//! index), the network cut with `unshare -n` where the machine allows it, a clean environment
//! and a time limit. An sdist is untrusted code; this is as little as it takes to ask it what
//! it needs (`get_requires_for_build_wheel`) and what it is (`prepare_metadata_for_build_wheel`,
//! or `build_wheel` for backends without that hook).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sdist::BuildSystem;
use super::target::Target;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "building source distributions needs a Python 3 with pip on this machine (`{python}`): {message}"
    )]
    NoPython { python: String, message: String },
    #[error("cannot run {what}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed ({status}):\n{output}")]
    Failed {
        what: String,
        status: String,
        output: String,
    },
    #[error("{what} did not finish within {seconds} s and was stopped")]
    TimedOut { what: String, seconds: u64 },
    #[error("{what}: {message}")]
    BadOutput { what: String, message: String },
    #[error("cannot write {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The Python on this machine that runs build backends, and the target it matches.
#[derive(Debug, Clone)]
pub struct HostPython {
    pub python: PathBuf,
    /// The host as a resolution target: its CPython version and manylinux platform.
    pub target: Target,
    /// `unshare -n` works here, so builds run with no network at all.
    pub isolate_network: bool,
    pub timeout: Duration,
}

/// Our own PEP 517 frontend, run by the host's Python with `-I -S`: no user site, no
/// site-packages but the build environment's, no environment variables read by Python.
const HOOK_RUNNER: &str = r#"
import json, os, site, sys, importlib
args = json.load(open(sys.argv[1]))
site.addsitedir(args["site"])
for entry in reversed(args["backend_path"]):
    sys.path.insert(0, os.path.abspath(entry))
module_name, _, attribute = args["backend"].partition(":")
backend = importlib.import_module(module_name)
for part in filter(None, attribute.split(".")):
    backend = getattr(backend, part)
result = {}
if args["hook"] == "requires":
    hook = getattr(backend, "get_requires_for_build_wheel", None)
    result["requires"] = [str(r) for r in (hook(None) if hook else [])]
else:
    hook = getattr(backend, "prepare_metadata_for_build_wheel", None)
    if hook is not None:
        result["dist_info"] = hook(args["metadata_dir"], None)
    else:
        result["wheel"] = backend.build_wheel(args["wheel_dir"], None)
with open(args["result"], "w") as out:
    json.dump(result, out)
"#;

/// What a hook run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutput {
    Requires(Vec<String>),
    /// METADATA bytes, from the prepared `.dist-info` or read out of a built wheel.
    Metadata(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Requires,
    Metadata,
}

impl HostPython {
    /// Asks `python3` what it is. Fails when it is missing, not CPython 3 on glibc Linux, or
    /// has no pip (the build environment is installed by pip).
    pub fn detect() -> Result<Self, BuildError> {
        let python = std::env::var_os("AIRLOCK_BUILD_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3"));
        let shown = python.display().to_string();
        // sys.executable: the interpreter itself, not a wrapper such as pyenv's shim, whose
        // hook runs `pyenv rehash` after every `pip install` and fails when two builds run at
        // once ("cannot rehash: … isn't writable").
        let program = "import sys, platform\nimport pip\nprint(sys.implementation.name, sys.version_info[0], sys.version_info[1], platform.machine(), *platform.libc_ver())\nprint(sys.executable)";
        let output = Command::new(&python)
            .args(["-c", program])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BuildError::NoPython {
                python: shown.clone(),
                message: e.to_string(),
            })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let (text, executable) = text.split_once('\n').unwrap_or((&text, ""));
        let words: Vec<&str> = text.split_whitespace().collect();
        let unsupported = |message: String| BuildError::NoPython {
            python: shown.clone(),
            message,
        };
        if !output.status.success() {
            return Err(unsupported(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ));
        }
        let [implementation, major, minor, machine, libc, libc_version] = words.as_slice() else {
            return Err(unsupported(format!("unexpected answer `{}`", text.trim())));
        };
        if *implementation != "cpython" || *major != "3" || *libc != "glibc" {
            return Err(unsupported(format!(
                "it is {implementation} {major}.{minor} on {libc}; airlock builds with CPython 3 on glibc"
            )));
        }
        let glibc = libc_version.replace('.', "_");
        let target = Target::new(
            &format!("{major}.{minor}"),
            &format!("{machine}-manylinux_{glibc}"),
        )
        .map_err(|e| unsupported(e.to_string()))?;
        let isolate_network = crate::sandbox::can_isolate();
        let timeout = std::env::var("AIRLOCK_BUILD_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600);
        let executable = executable.trim_end_matches('\n');
        let python = if executable.is_empty() {
            python
        } else {
            PathBuf::from(executable)
        };
        Ok(HostPython {
            python,
            target,
            isolate_network,
            timeout: Duration::from_secs(timeout),
        })
    }

    /// A command for the host's Python with a clean environment, behind `unshare -n` when
    /// possible.
    fn command(&self, home: &Path) -> Command {
        let mut command = if self.isolate_network {
            crate::sandbox::offline(&self.python)
                .expect("isolation was probed when the build Python was chosen")
        } else {
            Command::new(&self.python)
        };
        command.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command
            .env("HOME", home)
            .env("LANG", "C.UTF-8")
            .env("SOURCE_DATE_EPOCH", "315532800")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_NO_INPUT", "1")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null());
        command
    }

    /// Runs `command` to the end or the time limit, keeping the tail of its output.
    fn run(&self, what: &str, mut command: Command, log: &Path) -> Result<(), BuildError> {
        let log_file = std::fs::File::create(log).map_err(io(log))?;
        let log_clone = log_file.try_clone().map_err(io(log))?;
        command.stdout(log_file).stderr(log_clone);
        let mut child = command.spawn().map_err(|source| BuildError::Spawn {
            what: what.to_string(),
            source,
        })?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BuildError::TimedOut {
                        what: what.to_string(),
                        seconds: self.timeout.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => {
                    return Err(BuildError::Spawn {
                        what: what.to_string(),
                        source,
                    });
                }
            }
        };
        if status.success() {
            return Ok(());
        }
        let output = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = output.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        Err(BuildError::Failed {
            what: what.to_string(),
            status: status.to_string(),
            output: tail,
        })
    }

    /// Installs `files` (wheels or sdists, named as on the index) into `site` with pip, from
    /// `links` only: no index, no dependencies beyond what is listed.
    pub fn install(
        &self,
        what: &str,
        files: &[PathBuf],
        links: &Path,
        site: &Path,
        scratch: &Path,
    ) -> Result<(), BuildError> {
        let mut command = self.command(scratch);
        command
            .args(["-m", "pip", "install", "--no-index", "--no-deps", "--quiet"])
            .args(["--no-warn-script-location", "--target"])
            .arg(site)
            .arg("--find-links")
            .arg(links)
            .args(files)
            .current_dir(scratch);
        self.run(
            &format!("installing the build requirements of {what}"),
            command,
            &scratch.join("pip.log"),
        )
    }

    /// Runs one hook of `build_system` in `tree` with `site` as the only installed packages.
    pub fn run_hook(
        &self,
        what: &str,
        tree: &Path,
        build_system: &BuildSystem,
        site: &Path,
        hook: Hook,
        scratch: &Path,
    ) -> Result<HookOutput, BuildError> {
        let (label, name) = match hook {
            Hook::Requires => ("get_requires_for_build_wheel", "requires"),
            Hook::Metadata => ("prepare_metadata_for_build_wheel", "metadata"),
        };
        let what = format!("the build backend's {label} for {what}");
        let runner = scratch.join("airlock_hook_runner.py");
        std::fs::write(&runner, HOOK_RUNNER).map_err(io(&runner))?;
        let metadata_dir = scratch.join(format!("{name}-metadata"));
        let wheel_dir = scratch.join(format!("{name}-wheel"));
        for dir in [&metadata_dir, &wheel_dir] {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let result = scratch.join(format!("{name}-result.json"));
        let args = serde_json::json!({
            "site": site,
            "backend": build_system.backend,
            "backend_path": build_system.backend_path,
            "hook": name,
            "metadata_dir": metadata_dir,
            "wheel_dir": wheel_dir,
            "result": result,
        });
        let args_path = scratch.join(format!("{name}-args.json"));
        std::fs::write(&args_path, args.to_string()).map_err(io(&args_path))?;
        let mut command = self.command(scratch);
        command
            .args(["-I", "-S"])
            .arg(&runner)
            .arg(&args_path)
            .current_dir(tree);
        self.run(&what, command, &scratch.join(format!("{name}.log")))?;
        let bad = |message: String| BuildError::BadOutput {
            what: what.clone(),
            message,
        };
        let text = std::fs::read_to_string(&result).map_err(|e| bad(e.to_string()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        match hook {
            Hook::Requires => {
                let list = value["requires"]
                    .as_array()
                    .ok_or_else(|| bad("the hook returned no list".into()))?;
                Ok(HookOutput::Requires(
                    list.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                ))
            }
            Hook::Metadata => {
                // The backend names a file in a directory we made; the name must stay there.
                let plain = |name: &str| {
                    !name.is_empty() && !name.contains(['/', '\\']) && name != ".." && name != "."
                };
                if let Some(dist_info) = value["dist_info"].as_str() {
                    if !plain(dist_info) {
                        return Err(bad(format!("the hook returned `{dist_info}`")));
                    }
                    let path = metadata_dir.join(dist_info).join("METADATA");
                    return std::fs::read(&path)
                        .map(HookOutput::Metadata)
                        .map_err(|e| bad(format!("{}: {e}", path.display())));
                }
                let wheel = value["wheel"]
                    .as_str()
                    .filter(|w| plain(w))
                    .ok_or_else(|| {
                        bad("the hook returned neither a .dist-info nor a wheel".into())
                    })?;
                let path = wheel_dir.join(wheel);
                let bytes =
                    std::fs::read(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
                let url = url::Url::from_file_path(&path)
                    .map_err(|_| bad(format!("{} is not an absolute path", path.display())))?;
                super::index::read_wheel_metadata(&url, &bytes)
                    .map(HookOutput::Metadata)
                    .map_err(|e| bad(e.to_string()))
            }
        }
    }
}
