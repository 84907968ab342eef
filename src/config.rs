//! `airlock.toml`: found in the current directory or a parent, parsed, and validated into
//! settings before any work starts. Every problem is collected, so one run lists them all.
//! Relative paths in the file are relative to the file's directory (the project root).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::python::index::IndexStrategy;
use crate::python::resolver::{BinaryArg, BinaryPolicy, PrereleaseMode};
use crate::python::target::Target;

pub const CONFIG_FILE: &str = "airlock.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: invalid TOML or unknown setting", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{}:\n  {}", .path.display(), .problems.join("\n  "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    python: Option<RawPython>,
    #[serde(default)]
    verify: Option<RawVerify>,
    #[serde(default)]
    apt: Option<RawApt>,
    #[serde(default)]
    fetch: Option<RawFetch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawApt {
    #[serde(default)]
    packages: Vec<String>,
    sources: Option<Vec<RawAptSource>>,
    architectures: Option<Vec<String>>,
    base: Option<String>,
    #[serde(default)]
    recommends: bool,
    signing_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAptSource {
    uris: Vec<String>,
    suites: Vec<String>,
    #[serde(default)]
    components: Vec<String>,
    signed_by: Option<String>,
    #[serde(default)]
    trusted: bool,
    /// apt's `Architectures:` (`arch=`): the only architectures read from this source.
    architectures: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawVerify {
    dockerfiles: Option<Vec<String>>,
    context: Option<String>,
    builder: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFetch {
    wheelhouse: Option<String>,
    jobs: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPython {
    #[serde(default)]
    requirements: Vec<String>,
    #[serde(default)]
    targets: Vec<RawTarget>,
    index_url: Option<String>,
    #[serde(default)]
    extra_index_url: Vec<String>,
    #[serde(default)]
    index_strategy: IndexStrategy,
    #[serde(default)]
    prerelease: PrereleaseMode,
    /// pip's `--only-binary` values (`:all:`, `:none:`, names).
    #[serde(default)]
    only_binary: Vec<String>,
    /// pip's `--no-binary` values.
    #[serde(default)]
    no_binary: Vec<String>,
    #[serde(default)]
    prefer_binary: bool,
    /// uv's `--no-build`: never build an sdist (only-binary for everything).
    #[serde(default)]
    no_build: bool,
    /// uv's `--no-build-package`.
    #[serde(default)]
    no_build_package: Vec<String>,
    lockfiles: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTarget {
    python_version: String,
    python_platform: String,
}

/// Validated Python settings from the file (flags are merged in by the CLI).
#[derive(Debug, Clone, Default)]
pub struct PythonConfig {
    pub requirements: Vec<PathBuf>,
    pub targets: Vec<Target>,
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    pub index_strategy: IndexStrategy,
    pub prerelease: PrereleaseMode,
    /// Wheel/sdist switches, in the order they apply.
    pub binary: Vec<BinaryArg>,
    pub lockfiles: PathBuf,
}

/// Validated `[fetch]` settings.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub wheelhouse: PathBuf,
    pub jobs: usize,
}

/// What the target image already has (`[apt] base`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AptBase {
    /// Nothing: every dependency is locked.
    None,
    /// `Essential: yes` and `Priority: required` packages of the same suites.
    Minbase,
    /// A dpkg status file (for example one copied out of the base image).
    Status(PathBuf),
}

/// Validated `[apt]` settings.
#[derive(Debug, Clone)]
pub struct AptConfig {
    pub packages: Vec<String>,
    /// `None`: the host's apt sources.
    pub sources: Option<Vec<crate::debian::sources::AptSource>>,
    /// `None`: the host's architecture.
    pub architectures: Option<Vec<String>>,
    pub base: AptBase,
    pub recommends: bool,
    /// An OpenPGP secret key that signs the local repository (`InRelease`, `Release.gpg`).
    pub signing_key: Option<PathBuf>,
}

/// Validated `[verify]` settings.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// `None`: discover the project's Dockerfiles.
    pub dockerfiles: Option<Vec<PathBuf>>,
    /// The build context the Dockerfiles are built with.
    pub context: PathBuf,
    /// The builder `verify --build` uses (`--builder` wins).
    pub builder: crate::verify::build::BuilderChoice,
}

/// Concurrent downloads by default: enough to fill a fast link, few enough for any server.
pub const DEFAULT_JOBS: usize = 16;

#[derive(Debug, Clone)]
pub struct Config {
    /// The directory holding `airlock.toml` (or the current directory when there is none).
    pub root: PathBuf,
    pub path: Option<PathBuf>,
    pub python: PythonConfig,
    pub fetch: FetchConfig,
    pub verify: VerifyConfig,
    pub apt: AptConfig,
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}", path.display()),
            None => write!(f, "(no {CONFIG_FILE})"),
        }
    }
}

/// Looks for `airlock.toml` in `start` and its parents.
pub fn discover(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(CONFIG_FILE))
        .find(|candidate| candidate.is_file())
}

impl Config {
    /// Settings when there is no file: everything must come from flags.
    pub fn empty(root: PathBuf) -> Self {
        Config {
            python: PythonConfig {
                lockfiles: root.join("lockfiles"),
                ..PythonConfig::default()
            },
            fetch: FetchConfig {
                wheelhouse: root.join("wheelhouse"),
                jobs: DEFAULT_JOBS,
            },
            verify: VerifyConfig {
                dockerfiles: None,
                context: root.clone(),
                builder: Default::default(),
            },
            apt: AptConfig {
                packages: Vec::new(),
                sources: None,
                architectures: None,
                base: AptBase::None,
                recommends: false,
                signing_key: None,
            },
            root,
            path: None,
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, path, root)
    }

    pub fn parse(text: &str, path: &Path, root: PathBuf) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        let apt = raw.apt.unwrap_or_default();
        let fetch = raw.fetch.unwrap_or_default();
        let verify = raw.verify.unwrap_or_default();
        let python = raw.python.unwrap_or_default();
        let mut problems = Vec::new();
        let mut targets = Vec::new();
        for (index, target) in python.targets.iter().enumerate() {
            match Target::new(&target.python_version, &target.python_platform) {
                Ok(parsed) if targets.contains(&parsed) => {
                    problems.push(format!("python.targets[{index}]: {parsed} is listed twice"))
                }
                Ok(parsed) => targets.push(parsed),
                Err(error) => problems.push(format!("python.targets[{index}]: {error}")),
            }
        }
        // Files are checked when a command reads them (src/settings.rs): `-r other.txt` does
        // not fail because a file listed here is missing.
        let requirements: Vec<PathBuf> = python.requirements.iter().map(|f| root.join(f)).collect();
        let mut lock_names: Vec<String> = requirements
            .iter()
            .map(|r| crate::python::pylock::lock_filename(r))
            .collect();
        lock_names.sort();
        for pair in lock_names.windows(2) {
            if pair[0] == pair[1] {
                problems.push(format!(
                    "python.requirements: two files would share the lockfile {}; rename one",
                    pair[0]
                ));
            }
        }
        let lockfiles = python.lockfiles.as_deref().unwrap_or("lockfiles");
        let wheelhouse = fetch.wheelhouse.as_deref().unwrap_or("wheelhouse");
        for (key, value) in [
            ("python.lockfiles", lockfiles),
            ("fetch.wheelhouse", wheelhouse),
        ] {
            if Path::new(value).is_absolute() || value.split(['/', '\\']).any(|p| p == "..") {
                problems.push(format!(
                    "{key} = {value:?}: must be a relative path inside the project"
                ));
            }
        }
        let context = verify.context.as_deref().unwrap_or(".");
        if Path::new(context).is_absolute() || context.split(['/', '\\']).any(|p| p == "..") {
            problems.push(format!(
                "verify.context = {context:?}: must be a relative path inside the project"
            ));
        }
        let builder = match verify.builder.as_deref().map(str::parse) {
            None => Default::default(),
            Some(Ok(builder)) => builder,
            Some(Err(error)) => {
                problems.push(format!("verify.builder: {error}"));
                Default::default()
            }
        };
        let mut dockerfiles = None;
        if let Some(list) = &verify.dockerfiles {
            dockerfiles = Some(list.iter().map(|file| root.join(file)).collect());
        }
        for (index, package) in apt.packages.iter().enumerate() {
            if let Err(error) = package.parse::<crate::debian::closure::Request>() {
                problems.push(format!("apt.packages[{index}]: `{package}`: {error}"));
            }
        }
        let base = match apt.base.as_deref() {
            None | Some("none") => AptBase::None,
            Some("minbase") => AptBase::Minbase,
            Some(path) => AptBase::Status(root.join(path)),
        };
        let signing_key = apt.signing_key.as_ref().map(|key| root.join(key));
        let mut apt_sources = None;
        if let Some(sources) = &apt.sources {
            let mut parsed = Vec::new();
            for (index, source) in sources.iter().enumerate() {
                let mut text = format!(
                    "Types: deb\nURIs: {}\nSuites: {}\nComponents: {}\n",
                    source.uris.join(" "),
                    source.suites.join(" "),
                    source.components.join(" ")
                );
                if let Some(signed_by) = &source.signed_by {
                    text.push_str(&format!("Signed-By: {}\n", root.join(signed_by).display()));
                }
                if source.trusted {
                    text.push_str("Trusted: yes\n");
                }
                if let Some(architectures) = &source.architectures {
                    text.push_str(&format!("Architectures: {}\n", architectures.join(" ")));
                }
                match crate::debian::sources::parse_sources(&text, &format!("apt.sources[{index}]"))
                {
                    Ok(found) => parsed.extend(found),
                    Err(error) => problems.push(error.to_string()),
                }
            }
            apt_sources = Some(parsed);
        }
        let mut binary = Vec::new();
        binary.extend(python.no_binary.iter().cloned().map(BinaryArg::NoBinary));
        binary.extend(
            python
                .only_binary
                .iter()
                .cloned()
                .map(BinaryArg::OnlyBinary),
        );
        if python.no_build {
            binary.push(BinaryArg::OnlyBinary(":all:".into()));
        }
        binary.extend(
            python
                .no_build_package
                .iter()
                .cloned()
                .map(BinaryArg::OnlyBinary),
        );
        if python.prefer_binary {
            binary.push(BinaryArg::PreferBinary);
        }
        for arg in &binary {
            if let Err(error) = BinaryPolicy::default().apply(arg) {
                let key = match arg {
                    BinaryArg::NoBinary(_) => "no-binary",
                    _ => "only-binary",
                };
                problems.push(format!("python.{key}: {error}"));
            }
        }
        if fetch.jobs == Some(0) {
            problems.push("fetch.jobs = 0: at least one download must run".into());
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            });
        }
        Ok(Config {
            python: PythonConfig {
                requirements,
                targets,
                index_url: python.index_url,
                extra_index_urls: python.extra_index_url,
                index_strategy: python.index_strategy,
                prerelease: python.prerelease,
                binary,
                lockfiles: root.join(lockfiles),
            },
            fetch: FetchConfig {
                wheelhouse: root.join(wheelhouse),
                jobs: fetch.jobs.unwrap_or(DEFAULT_JOBS),
            },
            verify: VerifyConfig {
                dockerfiles,
                context: root.join(context),
                builder,
            },
            apt: AptConfig {
                packages: apt.packages,
                sources: apt_sources,
                architectures: apt.architectures,
                base,
                recommends: apt.recommends,
                signing_key,
            },
            root,
            path: Some(path.to_path_buf()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"
[python]
requirements = ["missing.in", "other/missing.in"]
targets = [
  { python-version = "3.12", python-platform = "x86_64-manylinux_2_36" },
  { python-version = "2.7", python-platform = "x86_64-manylinux_2_36" },
  { python-version = "3.12", python-platform = "sparc-solaris" },
  { python-version = "3.12", python-platform = "x86_64-manylinux_2_36" },
]
only-binary = ["not a name!"]
lockfiles = "../elsewhere"
"#;
        let error = Config::parse(text, Path::new("airlock.toml"), dir.path().to_path_buf())
            .unwrap_err()
            .to_string();
        for expected in [
            "python.targets[1]: Python version `2.7` is not supported",
            "python.targets[2]: unknown Python platform `sparc-solaris`",
            "python.targets[3]: cp3.12 on x86_64-manylinux_2_36 is listed twice",
            "python.requirements: two files would share the lockfile pylock.missing.toml",
            "python.only-binary: `not a name!` is not a package name",
            "python.lockfiles = \"../elsewhere\"",
        ] {
            assert!(
                error.contains(expected),
                "missing {expected:?} in:\n{error}"
            );
        }
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let error = Config::parse(
            "[python]\nrequirement = []\n",
            Path::new("airlock.toml"),
            PathBuf::from("."),
        )
        .unwrap_err();
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert!(source.contains("line 2"), "{source}");
        assert!(source.contains("requirement"), "{source}");
    }

    #[test]
    fn reads_and_checks_the_apt_table() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[apt]\npackages = [\"curl\", \"gcc=12.2.0-14\", \"bad=x:y\"]\nbase = \"missing-status\"\nsources = [{ uris = [\"ftp://127.0.0.1/x\"], suites = [\"s\"] }]\n";
        let error = Config::parse(text, Path::new("airlock.toml"), dir.path().to_path_buf())
            .unwrap_err()
            .to_string();
        for expected in [
            "apt.packages[2]: `bad=x:y`",
            "apt.sources[0]:1: `ftp://127.0.0.1/x`: only http, https and file sources",
        ] {
            assert!(
                error.contains(expected),
                "missing {expected:?} in:\n{error}"
            );
        }
        let good = "[apt]\npackages = [\"curl\"]\nbase = \"minbase\"\nrecommends = true\nsources = [{ uris = [\"http://127.0.0.1/debian\"], suites = [\"stable\"], components = [\"main\"], trusted = true }]\n";
        let config =
            Config::parse(good, Path::new("airlock.toml"), dir.path().to_path_buf()).unwrap();
        assert_eq!(config.apt.base, AptBase::Minbase);
        assert!(config.apt.recommends);
        assert!(config.apt.sources.unwrap()[0].trusted);
    }

    #[test]
    fn reads_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.in"), "six\n").unwrap();
        let config = Config::parse(
            "[python]\nrequirements = [\"r.in\"]\ntargets = [{ python-version = \"3.11\", python-platform = \"aarch64-manylinux_2_28\" }]\nprerelease = \"allow\"\n",
            &dir.path().join("airlock.toml"),
            dir.path().to_path_buf(),
        )
        .unwrap();
        assert_eq!(config.python.targets.len(), 1);
        assert_eq!(config.python.prerelease, PrereleaseMode::Allow);
        assert_eq!(config.python.lockfiles, dir.path().join("lockfiles"));
    }
}
