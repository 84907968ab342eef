//! One settings layer: flags, the environment, airlock.toml and what the locks recorded
//! become the one request each command runs with, here and nowhere else.
//!
//! Precedence, for every setting: a flag, then the environment (`PIP_INDEX_URL`, …), then a
//! requirements file's own option lines, then airlock.toml, then what an existing lock was
//! made with, then pip's configuration and pip's default. The lock's record matters in two
//! cases: a project with no airlock.toml, whose settings were flags (they are read back for
//! `--check`, `sync` and `verify`, so `airlock resolve --check` needs no flags again), and the
//! index, which otherwise would come from pip's configuration or default and differ from one
//! machine to the next. Only what the command uses is validated: `-r other.txt` does not fail
//! because airlock.toml names a file that does not exist.

use std::path::{Path, PathBuf};

use crate::config::{AptBase, AptConfig, Config, ConfigError, discover};
use crate::fetch::FetchRequest;
use crate::lock::{AptLockRequest, LockMode, LockRequest};
use crate::python::index::{IndexInputs, IndexStrategy};
use crate::python::resolver::{BinaryArg, PrereleaseMode};
use crate::python::target::{Target, TargetError};
use crate::verify::PythonVerify;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read the current directory")]
    CurrentDirectory(#[source] std::io::Error),
    #[error(
        "--python-version was given {versions} time(s) and --python-platform {platforms} time(s); give them in pairs, one pair per target"
    )]
    UnpairedTargets { versions: usize, platforms: usize },
    #[error("--python-version {version} --python-platform {platform}")]
    Target {
        version: String,
        platform: String,
        #[source]
        source: TargetError,
    },
    #[error("{} problem(s) in the settings this command uses:\n  {}", .0.len(), .0.join("\n  "))]
    Invalid(Vec<String>),
    #[error("sync has no --check; use `airlock resolve --check`")]
    SyncCheck,
    #[error("--jobs 0: at least one download must run")]
    NoJobs,
}

/// The project: airlock.toml from `--config`, else found in the current directory or a
/// parent, else none (every setting from flags, the environment and the locks).
pub fn load_project(explicit: Option<&Path>) -> Result<Config, SettingsError> {
    let path = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => discover(&std::env::current_dir().map_err(SettingsError::CurrentDirectory)?),
    };
    Ok(match path {
        Some(path) => Config::load(&path)?,
        None => Config::empty(PathBuf::from(".")),
    })
}

/// What `resolve` (and `sync`'s first half) was told on the command line.
#[derive(Debug, Clone, Default)]
pub struct ResolveFlags {
    pub requirements: Vec<PathBuf>,
    pub python_versions: Vec<String>,
    pub python_platforms: Vec<String>,
    pub lockfiles: Option<PathBuf>,
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    pub index_strategy: Option<IndexStrategy>,
    pub prerelease: Option<PrereleaseMode>,
    /// `--only-binary`, `--no-binary`, `--prefer-binary`, `--no-build`, `--no-build-package`, in
    /// the order they apply.
    pub binary: Vec<BinaryArg>,
    pub offline: bool,
    pub apt_packages: Vec<String>,
    pub apt_base: Option<String>,
    pub allow_expired_release: bool,
    pub allow_older_release: bool,
}

/// What `resolve` runs: the Python locks, the apt lock, or both.
#[derive(Debug, Clone)]
pub struct ResolveSettings {
    pub root: PathBuf,
    pub python: Option<LockRequest>,
    pub apt: Option<AptLockRequest>,
}

/// `--python-version`/`--python-platform` pairs as targets.
fn flag_targets(flags: &ResolveFlags) -> Result<Vec<Target>, SettingsError> {
    if flags.python_versions.len() != flags.python_platforms.len() {
        return Err(SettingsError::UnpairedTargets {
            versions: flags.python_versions.len(),
            platforms: flags.python_platforms.len(),
        });
    }
    flags
        .python_versions
        .iter()
        .zip(&flags.python_platforms)
        .map(|(version, platform)| {
            Target::new(version, platform).map_err(|source| SettingsError::Target {
                version: version.clone(),
                platform: platform.clone(),
                source,
            })
        })
        .collect()
}

/// Whether `dir` holds any `pylock.*.toml`.
fn has_python_locks(dir: &Path) -> bool {
    crate::python::pylock::lockfiles_in(dir).is_ok_and(|locks| !locks.is_empty())
}

fn has_apt_lock(dir: &Path) -> bool {
    dir.join(crate::debian::aptlock::APT_LOCK_FILE).is_file()
}

/// `--apt-base`: `none`, `minbase`, or a dpkg status file (relative to the current
/// directory, as any path on the command line).
fn apt_base_flag(value: &str, problems: &mut Vec<String>) -> AptBase {
    match value {
        "none" => AptBase::None,
        "minbase" => AptBase::Minbase,
        path => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                problems.push(format!(
                    "--apt-base {value}: expected none, minbase or a dpkg status file, and {} does not exist",
                    path.display()
                ));
            }
            AptBase::Status(path)
        }
    }
}

impl ResolveSettings {
    pub fn new(
        config: &Config,
        flags: &ResolveFlags,
        mode: LockMode,
        cache_dir: PathBuf,
    ) -> Result<Self, SettingsError> {
        let python = &config.python;
        let mut problems = Vec::new();
        let targets = match flag_targets(flags)? {
            targets if targets.is_empty() => python.targets.clone(),
            targets => targets,
        };
        let lockfiles = flags
            .lockfiles
            .clone()
            .unwrap_or_else(|| python.lockfiles.clone());
        let from_locks = config.path.is_none();
        // Only the requirements files this run reads are checked (and reported as where they
        // were named).
        let requirements = if flags.requirements.is_empty() {
            for (index, file) in python.requirements.iter().enumerate() {
                if !file.is_file() {
                    problems.push(format!(
                        "{config}: python.requirements[{index}]: {} does not exist",
                        file.display()
                    ));
                }
            }
            python.requirements.clone()
        } else {
            for file in &flags.requirements {
                if !file.is_file() {
                    problems.push(format!("-r {}: the file does not exist", file.display()));
                }
            }
            flags.requirements.clone()
        };
        let mut apt = config.apt.clone();
        if !flags.apt_packages.is_empty() {
            for package in &flags.apt_packages {
                if let Err(error) = package.parse::<crate::debian::closure::Request>() {
                    problems.push(format!("--apt-package `{package}`: {error}"));
                }
            }
            apt.packages = flags.apt_packages.clone();
        } else if let AptBase::Status(path) = &apt.base
            && !apt.packages.is_empty()
            && !path.is_file()
        {
            problems.push(format!(
                "{config}: apt.base: {} does not exist",
                path.display()
            ));
        }
        if let Some(base) = &flags.apt_base {
            apt.base = apt_base_flag(base, &mut problems);
        }
        if !problems.is_empty() {
            return Err(SettingsError::Invalid(problems));
        }
        let python_explicit = !requirements.is_empty();
        let apt_explicit = !apt.packages.is_empty();
        // A project with no airlock.toml resolves what its locks were made from when no flag
        // names anything: its Python locks unless `--apt-package` was given, its apt lock
        // unless `-r` was.
        let python_from_locks =
            from_locks && flags.apt_packages.is_empty() && has_python_locks(&lockfiles);
        let apt_from_lock = from_locks && flags.requirements.is_empty() && has_apt_lock(&lockfiles);
        let python_wanted =
            python_explicit || python_from_locks || (!apt_explicit && !apt_from_lock);
        let apt_wanted = apt_explicit || apt_from_lock;
        let binary_flags = flags.binary.clone();
        let python_request = python_wanted.then(|| LockRequest {
            root: config.root.clone(),
            requirements,
            targets,
            lockfiles: lockfiles.clone(),
            indexes: IndexInputs {
                flag_index_url: flags.index_url.clone(),
                flag_extra_index_urls: flags.extra_index_urls.clone(),
                config_index_url: python.index_url.clone(),
                config_extra_index_urls: python.extra_index_urls.clone(),
                ..IndexInputs::default()
            },
            index_strategy: flags
                .index_strategy
                .or((!from_locks).then_some(python.index_strategy)),
            prerelease: flags
                .prerelease
                .or((!from_locks).then_some(python.prerelease)),
            binary_config: python.binary.clone(),
            binary_flags,
            settings_from_locks: from_locks,
            offline: flags.offline,
            mode,
            cache_dir: cache_dir.clone(),
        });
        let apt_request = apt_wanted.then(|| AptLockRequest {
            root: config.root.clone(),
            lockfiles: lockfiles.clone(),
            config: apt,
            offline: flags.offline,
            mode,
            cache_dir,
            allow_expired_release: flags.allow_expired_release,
            allow_older_release: flags.allow_older_release,
            settings_from_lock: from_locks && flags.apt_packages.is_empty(),
            host_root: std::env::var_os("AIRLOCK_APT_ROOT")
                .filter(|root| !root.is_empty())
                .map_or_else(|| PathBuf::from("/"), PathBuf::from),
        });
        Ok(ResolveSettings {
            root: config.root.clone(),
            python: python_request,
            apt: apt_request,
        })
    }
}

/// What `fetch` (and `sync`'s second half) was told on the command line.
#[derive(Debug, Clone, Default)]
pub struct FetchFlags {
    pub lockfiles: Option<PathBuf>,
    pub wheelhouse: Option<PathBuf>,
    pub jobs: Option<usize>,
    pub offline: bool,
}

/// The fetch request: flags over airlock.toml. The signing key is checked here, since fetch
/// is what uses it.
pub fn fetch_request(
    config: &Config,
    flags: &FetchFlags,
    cache_dir: PathBuf,
) -> Result<FetchRequest, SettingsError> {
    if flags.jobs == Some(0) {
        return Err(SettingsError::NoJobs);
    }
    if let Some(key) = &config.apt.signing_key
        && !key.is_file()
    {
        return Err(SettingsError::Invalid(vec![format!(
            "{config}: apt.signing-key: {} does not exist",
            key.display()
        )]));
    }
    let (lockfiles, wheelhouse) = directories(config, &flags.lockfiles, &flags.wheelhouse);
    Ok(FetchRequest {
        lockfiles,
        wheelhouse,
        jobs: flags.jobs.unwrap_or(config.fetch.jobs),
        offline: flags.offline,
        cache_dir: Some(cache_dir),
        apt_signing_key: config.apt.signing_key.clone(),
    })
}

/// What `verify` was told on the command line.
#[derive(Debug, Clone, Default)]
pub struct VerifyFlags {
    pub lockfiles: Option<PathBuf>,
    pub wheelhouse: Option<PathBuf>,
    pub rehearse: bool,
    /// `--build`, with `--builder` (flag or AIRLOCK_BUILDER) and `--keep`.
    pub build: bool,
    pub builder: Option<String>,
    pub keep: bool,
}

/// How `verify --build` builds: the builder is `--builder` > AIRLOCK_BUILDER >
/// `[verify] builder` > auto.
#[derive(Debug, Clone, Copy)]
pub struct BuildSettings {
    pub builder: crate::verify::build::BuilderChoice,
    pub keep: bool,
}

/// What `verify` checks: the locks' freshness (as `resolve --check` would say it, offline),
/// the wheelhouse against the Python locks, and the apt side.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub root: PathBuf,
    pub lockfiles: PathBuf,
    pub wheelhouse: PathBuf,
    /// `None` when there is nothing to check it against (no requirements and no locks).
    pub python_freshness: Option<LockRequest>,
    pub apt_freshness: Option<AptLockRequest>,
    pub python: PythonVerify,
    /// `[apt]` with what a project without airlock.toml recorded in its apt lock.
    pub apt: AptConfig,
    pub rehearse: bool,
    /// `None` without `--build`.
    pub build: Option<BuildSettings>,
}

/// The root a project with no airlock.toml was resolved from: where its locks' recorded
/// requirements files are. That is the current directory when verify runs where resolve ran,
/// else the directory that holds the lockfiles directory (`verify --lockfiles
/// project/lockfiles` from the directory above).
fn recorded_root(lockfiles: &Path) -> PathBuf {
    let here = PathBuf::from(".");
    let beside = lockfiles
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let finds_its_files = |root: &Path| {
        crate::python::pylock::lockfiles_in(lockfiles)
            .unwrap_or_default()
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .filter_map(|text| crate::python::pylock::PyLock::parse(&text, "").ok())
            .filter_map(|lock| lock.tool)
            .any(|tool| {
                tool.airlock
                    .requirements_path(root)
                    .is_ok_and(|path| path.is_file())
            })
    };
    if finds_its_files(&here) || !finds_its_files(&beside) {
        here
    } else {
        beside
    }
}

impl VerifySettings {
    pub fn new(
        config: &Config,
        flags: &VerifyFlags,
        cache_dir: PathBuf,
    ) -> Result<Self, SettingsError> {
        let python = &config.python;
        let lockfiles_flag = flags
            .lockfiles
            .clone()
            .unwrap_or_else(|| python.lockfiles.clone());
        let config = &if config.path.is_none() {
            let mut moved = config.clone();
            moved.root = recorded_root(&lockfiles_flag);
            moved
        } else {
            config.clone()
        };
        let python = &config.python;
        let lockfiles = flags
            .lockfiles
            .clone()
            .unwrap_or_else(|| python.lockfiles.clone());
        let wheelhouse = flags
            .wheelhouse
            .clone()
            .unwrap_or_else(|| config.fetch.wheelhouse.clone());
        // Freshness is `resolve --check` with no flags: airlock.toml's settings, else the
        // locks' own record. verify runs offline, so it never asks the network.
        let check = ResolveSettings::new(
            config,
            &ResolveFlags {
                lockfiles: Some(lockfiles.clone()),
                offline: true,
                ..ResolveFlags::default()
            },
            LockMode::Check,
            cache_dir,
        )?;
        let build = if flags.build {
            let builder = match &flags.builder {
                Some(name) => name
                    .parse()
                    .map_err(|error| SettingsError::Invalid(vec![format!("--builder: {error}")]))?,
                None => config.verify.builder,
            };
            Some(BuildSettings {
                builder,
                keep: flags.keep,
            })
        } else {
            None
        };
        let from_locks = config.path.is_none();
        let python_freshness = check
            .python
            .filter(|request| !request.requirements.is_empty() || has_python_locks(&lockfiles));
        // An apt lock whose record cannot be read is reported by the apt freshness check.
        let apt =
            crate::lock::apt::effective_config(&config.apt, &config.root, &lockfiles, from_locks)
                .unwrap_or_else(|_| config.apt.clone());
        Ok(VerifySettings {
            root: config.root.clone(),
            python: PythonVerify {
                root: config.root.clone(),
                lockfiles: lockfiles.clone(),
                wheelhouse: wheelhouse.clone(),
                prerelease: python_freshness
                    .as_ref()
                    .and_then(|request| request.prerelease)
                    .unwrap_or(python.prerelease),
                binary: python.binary.clone(),
                rehearse_with: flags.rehearse.then(crate::verify::rehearse::python),
            },
            python_freshness,
            apt_freshness: check.apt,
            apt,
            lockfiles,
            wheelhouse,
            rehearse: flags.rehearse,
            build,
        })
    }
}

/// The lockfiles and wheelhouse directories: the flags', else airlock.toml's (or the defaults).
fn directories(
    config: &Config,
    lockfiles: &Option<PathBuf>,
    wheelhouse: &Option<PathBuf>,
) -> (PathBuf, PathBuf) {
    (
        lockfiles
            .clone()
            .unwrap_or_else(|| config.python.lockfiles.clone()),
        wheelhouse
            .clone()
            .unwrap_or_else(|| config.fetch.wheelhouse.clone()),
    )
}

/// What `bundle create` was told on the command line.
#[derive(Debug, Clone, Default)]
pub struct BundleFlags {
    pub lockfiles: Option<PathBuf>,
    pub wheelhouse: Option<PathBuf>,
}

/// What `bundle create` packs: the project's configuration, requirements files (configured,
/// and those the locks record), locks, wheelhouse, and the Dockerfiles verify audits
/// (configured or found) with the build context they use.
pub fn bundle_inputs(config: &Config, flags: &BundleFlags) -> crate::bundle::Inputs {
    let root = &config.root;
    let (lockfiles, wheelhouse) = directories(config, &flags.lockfiles, &flags.wheelhouse);
    crate::bundle::Inputs {
        root: root.clone(),
        config_file: config.path.clone(),
        requirements: config.python.requirements.clone(),
        lockfiles,
        wheelhouse,
        dockerfiles: config
            .verify
            .dockerfiles
            .clone()
            .unwrap_or_else(|| crate::verify::dockerfile::discover(root)),
        context: config.verify.context.clone(),
    }
}

/// The project's name in SBOMs: the name of its root directory.
pub fn project_name(config: &Config) -> String {
    std::path::absolute(&config.root)
        .ok()
        .and_then(|root| root.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".into())
}

/// SOURCE_DATE_EPOCH, when set: the time bundles and SBOMs are dated with (else the locks').
pub fn source_date_epoch() -> Result<Option<u64>, SettingsError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse::<u64>().map(Some).map_err(|_| {
            SettingsError::Invalid(vec![format!(
                "SOURCE_DATE_EPOCH={value:?} is not a number of seconds"
            )])
        }),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path, text: &str) -> Config {
        let path = dir.join("airlock.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }

    #[test]
    fn a_flag_replaces_a_configured_requirements_file_that_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(
            dir.path(),
            "[python]\nrequirements = [\"nope.txt\"]\ntargets = [{ python-version = \"3.12\", python-platform = \"linux\" }]\n",
        );
        let other = dir.path().join("other.txt");
        std::fs::write(&other, "six\n").unwrap();
        let flags = ResolveFlags {
            requirements: vec![other.clone()],
            ..ResolveFlags::default()
        };
        let settings =
            ResolveSettings::new(&config, &flags, LockMode::Write, dir.path().into()).unwrap();
        assert_eq!(settings.python.unwrap().requirements, [other]);
        // Without the flag, the missing file is the problem, named with airlock.toml.
        let error = ResolveSettings::new(
            &config,
            &ResolveFlags::default(),
            LockMode::Write,
            dir.path().into(),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("python.requirements[0]"),
            "{error}"
        );
        assert!(
            error.to_string().contains("nope.txt does not exist"),
            "{error}"
        );
    }

    #[test]
    fn flags_beat_airlock_toml_and_unpaired_targets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(
            dir.path(),
            "[python]\nindex-strategy = \"unsafe-best-match\"\ntargets = [{ python-version = \"3.12\", python-platform = \"linux\" }]\n",
        );
        let requirements = dir.path().join("r.in");
        std::fs::write(&requirements, "six\n").unwrap();
        let flags = ResolveFlags {
            requirements: vec![requirements],
            python_versions: vec!["3.11".into()],
            python_platforms: vec!["macos".into()],
            index_strategy: Some(IndexStrategy::FirstIndex),
            ..ResolveFlags::default()
        };
        let request = ResolveSettings::new(&config, &flags, LockMode::Write, dir.path().into())
            .unwrap()
            .python
            .unwrap();
        assert_eq!(request.targets[0].python_version.to_string(), "3.11");
        assert_eq!(request.index_strategy, Some(IndexStrategy::FirstIndex));
        assert!(!request.settings_from_locks, "airlock.toml is the record");
        let flags = ResolveFlags {
            python_versions: vec!["3.11".into()],
            ..ResolveFlags::default()
        };
        let error =
            ResolveSettings::new(&config, &flags, LockMode::Write, dir.path().into()).unwrap_err();
        assert!(
            matches!(error, SettingsError::UnpairedTargets { .. }),
            "{error}"
        );
    }
}
