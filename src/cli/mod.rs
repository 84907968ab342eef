//! Command-line definitions and the glue from flags + environment + airlock.toml to the library.
//!
//! Exit codes: 0 success, 1 a check found problems, 2 airlock could not do its job.

mod bundle;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use airlock::config::Config;
use airlock::fetch::{FetchRequest, fetch_all};
use airlock::lock::{LockMode, LockStatus, display_path, lock_all};
use airlock::net::cache::{default_cache_dir, write_atomic};
use airlock::python::export::to_requirements_txt;
use airlock::python::index::IndexStrategy;
use airlock::python::pylock::{PyLock, lockfiles_in};
use airlock::python::resolver::{BinaryArg, PrereleaseMode};
use airlock::settings::{
    FetchFlags, ResolveFlags, ResolveSettings, VerifyFlags, VerifySettings, fetch_request,
    load_project,
};
use airlock::verify;

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Prepare air-gapped builds (Python wheels and Debian packages): resolve, lock, fetch, verify"
)]
struct Cli {
    /// The configuration file (default: airlock.toml here or in a parent directory).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Print only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve requirements files into PEP 751 lockfiles, and [apt] packages into apt.lock.toml.
    Resolve(ResolveArgs),
    /// Download every locked wheel and .deb into the wheelhouse, verified and resumable.
    Fetch(FetchArgs),
    /// Resolve (only where the inputs changed since the lock was written), then fetch.
    Sync(SyncArgs),
    /// Prove offline that the wheelhouse builds will work: integrity, closure, lock freshness
    /// (and with --build, by building the Dockerfiles with no network).
    Verify(VerifyArgs),
    /// Audit Dockerfiles/Containerfiles for air-gapped builds (the Dockerfile part of verify).
    Lint(LintArgs),
    /// Write a lock as a hash-pinned requirements file, or as a PEP 751 lock into the wheelhouse.
    Export(ExportArgs),
    /// The air-gap kit: create, verify and unpack a reproducible, signed archive.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Write the SBOM of the locks (CycloneDX 1.6 or SPDX 2.3 JSON), offline.
    Sbom(bundle::SbomArgs),
    /// Serve the locked files as a package index (PEP 503/691) and the apt repository, read-only.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The project or unpacked bundle to serve (default: the current project).
    dir: Option<PathBuf>,
    /// Where to listen (port 0: any free port; the startup line names it).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Hold up to SIZE bytes of files in memory once asked for (each checked against its lock
    /// first); the rest stream from disk. K, M, G: powers of 1024; 0 turns it off.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = bundle::parse_size_or_zero)]
    memory: u64,
    /// The startup line: text, or one JSON object with the URLs for pip, uv and apt.
    #[arg(long, value_enum, default_value = "text")]
    format: SummaryFormat,
}

#[derive(Args)]
struct LintArgs {
    /// Dockerfiles to audit (default: [verify] dockerfiles, or those found in the project).
    files: Vec<PathBuf>,
    /// Output format: human text, JSON, or SARIF 2.1.0 for code scanning.
    #[arg(long, value_enum, default_value = "text")]
    format: FindingFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FindingFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Args)]
struct VerifyArgs {
    /// Where the lockfiles are (default: [python] lockfiles, or lockfiles/).
    #[arg(long, value_name = "DIR")]
    lockfiles: Option<PathBuf>,
    /// The wheelhouse directory (default: [fetch] wheelhouse, or wheelhouse/).
    #[arg(long, value_name = "DIR")]
    wheelhouse: Option<PathBuf>,
    /// Output format: human text, JSON, or SARIF 2.1.0 for code scanning.
    #[arg(long, value_enum, default_value = "text")]
    format: FindingFormat,
    /// Also run pip's own resolver offline (in `unshare -n`) against the wheelhouse for every
    /// target and compare with the lock. Python: AIRLOCK_PYTHON, else python3.
    #[arg(long)]
    rehearse: bool,
    /// Also build each Dockerfile for real with the network off and nothing pulled; base
    /// images must already be in the builder's local storage.
    #[arg(long)]
    build: bool,
    /// The builder for --build: auto (docker when its daemon answers, then podman, then
    /// buildah), docker, podman or buildah (default: [verify] builder, or auto).
    #[arg(long, value_name = "NAME", env = "AIRLOCK_BUILDER")]
    builder: Option<String>,
    /// Keep the images --build made (tagged localhost/airlock-verify-…) instead of removing them.
    #[arg(long, requires = "build")]
    keep: bool,
}

#[derive(Args)]
struct FetchOptions {
    /// The wheelhouse directory (default: [fetch] wheelhouse, or wheelhouse/).
    #[arg(long, value_name = "DIR")]
    wheelhouse: Option<PathBuf>,
    /// Concurrent downloads (default: [fetch] jobs, or 16).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

#[derive(Args)]
struct FetchArgs {
    /// Where the lockfiles are (default: [python] lockfiles, or lockfiles/).
    #[arg(long, value_name = "DIR")]
    lockfiles: Option<PathBuf>,
    #[command(flatten)]
    options: FetchOptions,
    /// Use only the download cache; never touch the network.
    #[arg(long)]
    offline: bool,
    /// Summary format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: SummaryFormat,
}

#[derive(Args)]
struct SyncArgs {
    #[command(flatten)]
    resolve: ResolveArgs,
    #[command(flatten)]
    options: FetchOptions,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SummaryFormat {
    Text,
    Json,
}

#[derive(Args)]
struct ResolveArgs {
    /// A requirements file (pip syntax); repeatable. Default: [python] requirements.
    #[arg(short = 'r', long = "requirements", value_name = "FILE")]
    requirements: Vec<PathBuf>,
    /// Target Python version (e.g. 3.12); pairs with --python-platform, repeatable.
    #[arg(long, value_name = "VERSION")]
    python_version: Vec<String>,
    /// Target platform in uv's syntax (e.g. x86_64-manylinux_2_36); repeatable.
    #[arg(long, value_name = "PLATFORM")]
    python_platform: Vec<String>,
    /// Where lockfiles go (default: [python] lockfiles, or lockfiles/).
    #[arg(long, value_name = "DIR")]
    lockfiles: Option<PathBuf>,
    /// The package index (overrides PIP_INDEX_URL / UV_INDEX_URL and every config file).
    #[arg(long, value_name = "URL")]
    index_url: Option<String>,
    /// An extra index, searched after the primary one; repeatable.
    #[arg(long, value_name = "URL")]
    extra_index_url: Vec<String>,
    /// How several indexes combine.
    #[arg(long, value_enum)]
    index_strategy: Option<StrategyArg>,
    /// When pre-releases may be chosen.
    #[arg(long, value_enum)]
    prerelease: Option<PrereleaseArg>,
    /// Never build these from source: `:all:`, `:none:` or names, comma-separated (pip).
    #[arg(long, value_name = "NAMES")]
    only_binary: Vec<String>,
    /// Build these from source, never use their wheels: `:all:`, `:none:` or names (pip).
    #[arg(long, value_name = "NAMES")]
    no_binary: Vec<String>,
    /// Prefer an older version with a wheel over a newer one that needs a build (pip).
    #[arg(long)]
    prefer_binary: bool,
    /// Never build an sdist: every package must have a wheel for the target (uv).
    #[arg(long)]
    no_build: bool,
    /// Never build this package from source; repeatable (uv).
    #[arg(long, value_name = "NAME")]
    no_build_package: Vec<String>,
    /// Use only the HTTP cache; never touch the network.
    #[arg(long)]
    offline: bool,
    /// Write nothing; exit 1 when a lockfile is missing or out of date with its inputs.
    #[arg(long)]
    check: bool,
    /// A Debian package to lock (`name`, `name=version`, `name:arch`); repeatable. Replaces
    /// [apt] packages.
    #[arg(long, value_name = "PACKAGE")]
    apt_package: Vec<String>,
    /// The target image's installed set: none, minbase, or a dpkg status file. Replaces
    /// [apt] base.
    #[arg(long, value_name = "BASE")]
    apt_base: Option<String>,
    /// Accept a signed Release whose Valid-Until has passed or whose Date is in the future
    /// (a frozen snapshot, a skewed clock). The signature is still checked, and the lock
    /// records what was accepted.
    #[arg(long)]
    allow_expired_release: bool,
    /// Accept a signed Release older than the one the apt lock was made from (going back to
    /// an older snapshot on purpose). The lock records what was accepted.
    #[arg(long)]
    allow_older_release: bool,
    /// Summary format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: SummaryFormat,
}

/// The wheel/sdist switches of the command line, in the order they apply: pip's, then uv's.
fn binary_flags(args: &ResolveArgs) -> Vec<BinaryArg> {
    let mut out = Vec::new();
    out.extend(args.no_binary.iter().cloned().map(BinaryArg::NoBinary));
    out.extend(args.only_binary.iter().cloned().map(BinaryArg::OnlyBinary));
    if args.no_build {
        out.push(BinaryArg::OnlyBinary(":all:".into()));
    }
    out.extend(
        args.no_build_package
            .iter()
            .cloned()
            .map(BinaryArg::OnlyBinary),
    );
    if args.prefer_binary {
        out.push(BinaryArg::PreferBinary);
    }
    out
}

#[derive(Clone, Copy, ValueEnum)]
enum StrategyArg {
    FirstIndex,
    UnsafeBestMatch,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrereleaseArg {
    Disallow,
    Allow,
    IfNecessaryOrExplicit,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    RequirementsTxt,
    /// A PEP 751 lock whose files are paths into the wheelhouse (for `uv pip install -r`).
    Pylock,
}

#[derive(Args)]
struct ExportArgs {
    /// The output format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// The lockfile (default: the only pylock.*.toml in lockfiles/).
    lock: Option<PathBuf>,
    /// Write here instead of stdout (atomically). `--format pylock` writes into the
    /// wheelhouse by default (`wheelhouse/pylock.<name>.toml`).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// `--format pylock`: only this target's files (give with --python-platform; repeat the
    /// pair for more; default: every target of the lock).
    #[arg(long, value_name = "VERSION")]
    python_version: Vec<String>,
    #[arg(long, value_name = "PLATFORM")]
    python_platform: Vec<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = cli.quiet;
    let config = cli.config.as_deref();
    let outcome = match cli.command {
        Command::Resolve(args) => run_resolve(args, config, quiet, cli.verbose, LockMode::Write),
        Command::Fetch(args) => run_fetch(args, config, quiet),
        Command::Sync(args) => run_sync(args, config, quiet, cli.verbose),
        Command::Verify(args) => run_verify(args, config, quiet),
        Command::Lint(args) => run_lint(args, config),
        Command::Export(args) => run_export(args, config),
        Command::Bundle(command) => bundle::run(command, config, quiet),
        Command::Sbom(args) => bundle::sbom(args, config),
        Command::Serve(args) => run_serve(args, config, quiet),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  Caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

/// The flags of `resolve` for the settings layer.
fn resolve_flags(args: &ResolveArgs) -> ResolveFlags {
    ResolveFlags {
        requirements: args.requirements.clone(),
        python_versions: args.python_version.clone(),
        python_platforms: args.python_platform.clone(),
        lockfiles: args.lockfiles.clone(),
        index_url: args.index_url.clone(),
        extra_index_urls: args.extra_index_url.clone(),
        index_strategy: args.index_strategy.map(|strategy| match strategy {
            StrategyArg::FirstIndex => IndexStrategy::FirstIndex,
            StrategyArg::UnsafeBestMatch => IndexStrategy::UnsafeBestMatch,
        }),
        prerelease: args.prerelease.map(|mode| match mode {
            PrereleaseArg::Allow => PrereleaseMode::Allow,
            PrereleaseArg::Disallow => PrereleaseMode::Disallow,
            PrereleaseArg::IfNecessaryOrExplicit => PrereleaseMode::IfNecessaryOrExplicit,
        }),
        binary: binary_flags(args),
        offline: args.offline,
        apt_packages: args.apt_package.clone(),
        apt_base: args.apt_base.clone(),
        allow_expired_release: args.allow_expired_release,
        allow_older_release: args.allow_older_release,
    }
}

fn run_resolve(
    args: ResolveArgs,
    config: Option<&Path>,
    quiet: bool,
    verbose: u8,
    mode: LockMode,
) -> Result<ExitCode> {
    let format = args.format;
    let project = load_project(config)?;
    let (code, summary) = resolve_and_report(&args, &project, quiet, verbose, mode)?;
    if format == SummaryFormat::Json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(code)
}

/// Resolves and reports in text (unless quiet or JSON); returns the exit code and the JSON
/// summary, which the caller prints (`sync` folds it into its own document).
fn resolve_and_report(
    args: &ResolveArgs,
    project: &Config,
    quiet: bool,
    verbose: u8,
    mode: LockMode,
) -> Result<(ExitCode, serde_json::Value)> {
    let started = Instant::now();
    let mode = if args.check { LockMode::Check } else { mode };
    let settings = ResolveSettings::new(project, &resolve_flags(args), mode, default_cache_dir())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let reporter = progress::reporter(quiet || args.format == SummaryFormat::Json);
    let outcome = runtime.block_on(async {
        let reports = match &settings.python {
            Some(request) => lock_all(request, reporter.clone()).await?,
            None => Vec::new(),
        };
        let apt_report = match &settings.apt {
            Some(request) => Some(airlock::lock::lock_apt(request).await?),
            None => None,
        };
        anyhow::Ok((reports, apt_report))
    });
    // Speculative prefetches may still be in flight; they are not needed any more.
    runtime.shutdown_background();
    let (reports, apt_report) = outcome?;
    drop(reporter);
    let elapsed = started.elapsed();
    let failed_check = reports
        .iter()
        .map(|r| r.status)
        .chain(apt_report.iter().map(|r| r.status))
        .any(|status| matches!(status, LockStatus::Missing | LockStatus::Stale));
    let summary = serde_json::json!({
        "command": "resolve",
        "check": args.check,
        "ok": !failed_check,
        "seconds": elapsed.as_secs_f64(),
        "locks": reports,
        "apt": apt_report,
    });
    match args.format {
        SummaryFormat::Json => {}
        SummaryFormat::Text if !quiet => {
            let root = &settings.root;
            for report in &reports {
                let lock = display_path(&report.lockfile, root);
                if verbose > 0 {
                    eprintln!(
                        "{}: indexes {} (primary from {})",
                        display_path(&report.requirements, root),
                        report.indexes.join(", "),
                        report.index_source
                    );
                }
                let line = match report.status {
                    LockStatus::Written => format!(
                        "Resolved {} packages for {} target(s); wrote {lock}",
                        report.packages, report.targets
                    ),
                    LockStatus::Unchanged => format!(
                        "Resolved {} packages for {} target(s); {lock} is unchanged",
                        report.packages, report.targets
                    ),
                    LockStatus::UpToDate => format!("{lock} is up to date with its inputs"),
                    LockStatus::Missing => {
                        format!("{lock} is missing; run `airlock resolve` to create it")
                    }
                    LockStatus::Stale => format!(
                        "{lock} is out of date with {}: {}; run `airlock resolve`",
                        display_path(&report.requirements, root),
                        report
                            .stale_because
                            .as_deref()
                            .unwrap_or("its inputs changed")
                    ),
                };
                eprintln!("{line}");
            }
            if let Some(apt) = &apt_report {
                let lock = display_path(&apt.lockfile, root);
                let line = match apt.status {
                    LockStatus::Written => format!(
                        "Resolved {} Debian packages for {}; wrote {lock}",
                        apt.packages, apt.architecture
                    ),
                    LockStatus::Unchanged => format!(
                        "Resolved {} Debian packages for {}; {lock} is unchanged",
                        apt.packages, apt.architecture
                    ),
                    LockStatus::UpToDate => format!("{lock} is up to date with its inputs"),
                    LockStatus::Missing => {
                        format!("{lock} is missing; run `airlock resolve` to create it")
                    }
                    LockStatus::Stale => format!(
                        "{lock} is out of date with [apt] in airlock.toml; run `airlock resolve`"
                    ),
                };
                eprintln!("{line}");
                for stale in &apt.accepted_stale {
                    eprintln!(
                        "warning: accepted because of --allow-expired-release (recorded in {lock}): {stale}"
                    );
                }
                for older in &apt.accepted_older {
                    eprintln!(
                        "warning: accepted because of --allow-older-release (recorded in {lock}): {older}"
                    );
                }
                for dropped in &apt.dropped_recommends {
                    eprintln!("note: a recommended package is left out, as apt would: {dropped}");
                }
            }
            if !args.check && settings.python.is_some() {
                let requests: u64 = reports.iter().map(|r| r.index_requests).sum();
                let hits: u64 = reports.iter().map(|r| r.cache_hits).sum();
                eprintln!(
                    "{requests} index requests, {hits} answered from the cache, in {:.2}s",
                    elapsed.as_secs_f64()
                );
            }
        }
        SummaryFormat::Text => {}
    }
    let code = if failed_check {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    Ok((code, summary))
}

/// Exit code for Ctrl-C, as shells report a SIGINT death.
const INTERRUPTED: u8 = 130;

fn run_fetch(args: FetchArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let project = load_project(config)?;
    let flags = FetchFlags {
        lockfiles: args.lockfiles.clone(),
        wheelhouse: args.options.wheelhouse.clone(),
        jobs: args.options.jobs,
        offline: args.offline,
    };
    let request = fetch_request(&project, &flags, default_cache_dir())?;
    fetch_and_report(&request, &project.root, quiet, args.format)
}

fn fetch_and_report(
    request: &FetchRequest,
    root: &Path,
    quiet: bool,
    format: SummaryFormat,
) -> Result<ExitCode> {
    let (code, summary) = fetch_and_summarize(request, root, quiet, format)?;
    if let Some(summary) = summary.filter(|_| format == SummaryFormat::Json) {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(code)
}

/// Fetches and reports in text (unless quiet or JSON); returns the exit code and, when the
/// fetch ran to its end, the JSON summary for the caller to print.
fn fetch_and_summarize(
    request: &FetchRequest,
    root: &Path,
    quiet: bool,
    format: SummaryFormat,
) -> Result<(ExitCode, Option<serde_json::Value>)> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let reporter = progress::reporter(quiet || format == SummaryFormat::Json);
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = fetch_all(request, reporter.clone()) => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    runtime.shutdown_background();
    drop(reporter);
    let Some(outcome) = outcome else {
        eprintln!(
            "interrupted: finished files are in place; partial downloads stay as .airlock-partial-* in {} and resume on the next run",
            display_path(&request.wheelhouse, root)
        );
        return Ok((ExitCode::from(INTERRUPTED), None));
    };
    let report = outcome?;
    let summary = serde_json::json!({ "command": "fetch", "ok": true, "report": report });
    match format {
        SummaryFormat::Json => {}
        SummaryFormat::Text if !quiet => {
            // Binary units, as the progress bar shows them.
            let megabytes = report.downloaded_bytes as f64 / (1024.0 * 1024.0);
            eprintln!(
                "{} files from {} lock(s) in {}: {} downloaded ({megabytes:.1} MiB at {:.1} MiB/s{}), {} from the cache, {} already present",
                report.files,
                report.locks,
                display_path(&request.wheelhouse, root),
                report.downloaded,
                megabytes / report.seconds.max(0.001),
                if report.resumed > 0 {
                    format!(", {} resumed", report.resumed)
                } else {
                    String::new()
                },
                report.from_cache,
                report.already_present,
            );
            if !report.replaced.is_empty() {
                eprintln!(
                    "replaced {} file(s) whose digest did not match the lock: {}",
                    report.replaced.len(),
                    report.replaced.join(", ")
                );
            }
            if let Some(repository) = &report.apt_repository {
                let absolute = std::fs::canonicalize(repository)
                    .map_or_else(|_| repository.clone(), |p| p.display().to_string());
                match &report.apt_signed_by {
                    Some(fingerprint) => eprintln!(
                        "published the local apt repository in {}, signed by {fingerprint}; on the air-gapped side use: deb [signed-by=/path/to/its-public-key.asc] file:{absolute} ./",
                        display_path(Path::new(repository), root)
                    ),
                    None => eprintln!(
                        "published the local apt repository in {}; on the air-gapped side use: deb [trusted=yes] file:{absolute} ./",
                        display_path(Path::new(repository), root)
                    ),
                }
            }
            if !report.extraneous.is_empty() {
                eprintln!(
                    "{} file(s) in the wheelhouse are in no lock (left alone): {}",
                    report.extraneous.len(),
                    report.extraneous.join(", ")
                );
            }
        }
        SummaryFormat::Text => {}
    }
    Ok((ExitCode::SUCCESS, Some(summary)))
}

fn run_sync(args: SyncArgs, config: Option<&Path>, quiet: bool, verbose: u8) -> Result<ExitCode> {
    if args.resolve.check {
        return Err(airlock::settings::SettingsError::SyncCheck.into());
    }
    let project = load_project(config)?;
    let format = args.resolve.format;
    // One JSON document for the whole command: the resolve and fetch summaries inside it.
    let print = |resolve: serde_json::Value, fetch: Option<serde_json::Value>| -> Result<()> {
        if format == SummaryFormat::Json {
            let ok = resolve["ok"].as_bool().unwrap_or(false)
                && fetch
                    .as_ref()
                    .is_some_and(|f| f["ok"].as_bool().unwrap_or(false));
            let summary = serde_json::json!({
                "command": "sync",
                "ok": ok,
                "resolve": resolve,
                "fetch": fetch,
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Ok(())
    };
    let (code, resolved) =
        resolve_and_report(&args.resolve, &project, quiet, verbose, LockMode::IfChanged)?;
    if code != ExitCode::SUCCESS {
        print(resolved, None)?;
        return Ok(code);
    }
    let flags = FetchFlags {
        lockfiles: args.resolve.lockfiles.clone(),
        wheelhouse: args.options.wheelhouse.clone(),
        jobs: args.options.jobs,
        offline: args.resolve.offline,
    };
    let request = fetch_request(&project, &flags, default_cache_dir())?;
    let (code, fetched) = fetch_and_summarize(&request, &project.root, quiet, format)?;
    print(resolved, fetched)?;
    Ok(code)
}

fn run_verify(args: VerifyArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let project = load_project(config)?;
    let flags = VerifyFlags {
        lockfiles: args.lockfiles.clone(),
        wheelhouse: args.wheelhouse.clone(),
        rehearse: args.rehearse,
        build: args.build,
        builder: args.builder.clone(),
        keep: args.keep,
    };
    let settings = VerifySettings::new(&project, &flags, default_cache_dir())?;
    let root = &settings.root;
    let mut findings = Vec::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(request) = &settings.python_freshness {
        // Lock freshness is the same check as `resolve --check`: no network.
        match runtime.block_on(lock_all(
            request,
            std::sync::Arc::new(airlock::reporter::NoopReporter),
        )) {
            Ok(reports) => findings.extend(verify::stale_lock_findings(&reports, root)),
            Err(error) => findings.push(verify::Finding::new(
                "AL203",
                verify::Severity::Error,
                display_path(&settings.lockfiles, root),
                None,
                format!(
                    "cannot tell whether the locks are current: {}",
                    airlock::fetch::error_chain(&error)
                ),
            )),
        }
    }
    if let Some(request) = &settings.apt_freshness {
        // The apt lock's freshness, the same check as `resolve --check`: it reads airlock.toml
        // (or the lock's own record), the host's apt sources and dpkg architectures unless
        // [apt] pins them, and the base; no network.
        match runtime.block_on(airlock::lock::lock_apt(request)) {
            Ok(report) => findings.extend(verify::stale_apt_lock_finding(&report, root)),
            Err(error) => findings.push(verify::Finding::new(
                "AP109",
                verify::Severity::Error,
                "airlock.toml",
                None,
                format!(
                    "cannot tell whether the apt lock is current: {}",
                    airlock::fetch::error_chain(&error)
                ),
            )),
        }
    }
    let apt_locked = settings
        .lockfiles
        .join(airlock::debian::aptlock::APT_LOCK_FILE)
        .is_file();
    match verify::verify_python(&settings.python) {
        Ok(found) => findings.extend(found),
        // A project that locks only Debian packages has no pylock to check (a missing apt
        // lock is AP109 above).
        Err(verify::VerifyError::Locks(airlock::fetch::FetchError::NoLocks(_)))
            if apt_locked || settings.apt_freshness.is_some() => {}
        Err(error) => return Err(error.into()),
    }
    if let Some(apt) = verify::apt::verify_apt(
        &settings.lockfiles,
        &settings.wheelhouse,
        &display_path(&settings.wheelhouse, root),
        &settings.apt,
        settings.rehearse,
    ) {
        findings.extend(apt);
    }
    findings.extend(audit_dockerfiles(&project, &[])?);
    if let Some(build) = settings.build {
        let engine = verify::build::ContainerCli::detect(build.builder)?;
        let audit = audit_settings(&project)?;
        let mut jobs = Vec::new();
        for file in dockerfile_list(&project, &[]) {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = verify::dockerfile::parser::parse(&text);
            jobs.push(verify::build::BuildJob {
                uri: display_path(&file, &project.root),
                images: verify::dockerfile::rules::base_images(&parsed, &audit),
                dockerfile: file,
                context: project.verify.context.clone(),
                parsed,
            });
        }
        let view = verify::build::LockView::read(&settings.lockfiles, root);
        let show = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let progress = |what: &str| {
            if show {
                eprintln!("airlock: {what}…");
            }
        };
        findings.extend(verify::build::verify_builds(
            &engine,
            &jobs,
            &view,
            &settings.wheelhouse,
            verify::build::BuildOptions { keep: build.keep },
            &progress,
        )?);
    }
    report_findings(&findings, args.format)
}

fn run_serve(args: ServeArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let project = match (&args.dir, config) {
        (_, Some(config)) => load_project(Some(config))?,
        (Some(dir), None) => {
            let file = dir.join("airlock.toml");
            if file.is_file() {
                load_project(Some(&file))?
            } else {
                airlock::config::Config::empty(dir.clone())
            }
        }
        (None, None) => load_project(None)?,
    };
    let catalogue =
        airlock::serve::Catalogue::load(&project.python.lockfiles, &project.fetch.wheelhouse)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let base = format!("http://{address}");
        let index = format!("{base}/simple/");
        let signed = project
            .fetch
            .wheelhouse
            .join(airlock::debian::publish::APT_DIRECTORY)
            .join("InRelease")
            .is_file();
        let apt = catalogue.apt.then(|| {
            if signed {
                format!("deb [signed-by=/etc/apt/keyrings/airlock.asc] {base}/apt/ ./")
            } else {
                format!("deb [trusted=yes] {base}/apt/ ./")
            }
        });
        let pip =
            format!("pip install --index-url {index} --require-hashes -r requirements.lock.txt");
        let uv =
            format!("uv pip install --index-url {index} --require-hashes -r requirements.lock.txt");
        match args.format {
            SummaryFormat::Json => println!(
                "{}",
                serde_json::json!({
                    "listen": address.to_string(),
                    "index-url": index,
                    "projects": catalogue.projects.len(),
                    "pip": pip,
                    "uv": uv,
                    "apt": apt,
                })
            ),
            SummaryFormat::Text => {
                eprintln!(
                    "serving {} project(s){} on {base}/ (read-only; Ctrl-C stops)",
                    catalogue.projects.len(),
                    if catalogue.apt {
                        " and the apt repository"
                    } else {
                        ""
                    }
                );
                eprintln!("  {pip}");
                eprintln!("  {uv}");
                if let Some(apt) = &apt {
                    eprintln!("  apt source: {apt}");
                }
            }
        }
        use std::io::Write as _;
        std::io::stdout().flush()?;
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                // Without signal handlers the server runs until it is killed.
                _ => std::future::pending::<()>().await,
            }
        };
        airlock::serve::run(
            std::sync::Arc::new(catalogue),
            args.memory,
            listener,
            !quiet,
            shutdown,
        )
        .await?;
        if !quiet {
            eprintln!("stopped");
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn run_lint(args: LintArgs, config: Option<&Path>) -> Result<ExitCode> {
    let config = load_project(config)?;
    let findings = audit_dockerfiles(&config, &args.files)?;
    report_findings(&findings, args.format)
}

/// What the Dockerfile rules compare the files with: the project's paths and locks.
fn audit_settings(config: &Config) -> Result<verify::dockerfile::rules::AuditSettings> {
    let relative = |path: &Path| display_path(path, &config.verify.context);
    Ok(verify::dockerfile::rules::AuditSettings {
        wheelhouse: relative(&config.fetch.wheelhouse),
        lockfiles: relative(&config.python.lockfiles),
        requirements: config
            .python
            .requirements
            .iter()
            .map(|r| relative(r))
            .collect(),
        targets: config.python.targets.clone(),
        source_builds: verify::dockerfile::source_builds(&config.python.lockfiles)?,
    })
}

/// `files`, or the configured Dockerfiles, or those found in the project.
fn dockerfile_list(config: &Config, files: &[PathBuf]) -> Vec<PathBuf> {
    if !files.is_empty() {
        return files.to_vec();
    }
    config
        .verify
        .dockerfiles
        .clone()
        .unwrap_or_else(|| verify::dockerfile::discover(&config.root))
}

/// Audits `files` (or the configured / discovered Dockerfiles) against the project's settings.
fn audit_dockerfiles(config: &Config, files: &[PathBuf]) -> Result<Vec<verify::Finding>> {
    use verify::dockerfile::{DiskContext, audit_file};
    let context = DiskContext {
        root: config.verify.context.clone(),
    };
    let settings = audit_settings(config)?;
    let mut findings = Vec::new();
    for file in dockerfile_list(config, files) {
        let uri = display_path(&file, &config.root);
        findings.extend(
            audit_file(&file, &uri, &context, &settings)
                .with_context(|| format!("cannot read {}", file.display()))?,
        );
    }
    Ok(findings)
}

fn report_findings(findings: &[verify::Finding], format: FindingFormat) -> Result<ExitCode> {
    let format = match format {
        FindingFormat::Text => verify::OutputFormat::Text,
        FindingFormat::Json => verify::OutputFormat::Json,
        FindingFormat::Sarif => verify::OutputFormat::Sarif,
    };
    let rendered = verify::render(findings, format);
    if format == verify::OutputFormat::Text {
        eprint!("{rendered}");
    } else {
        println!("{rendered}");
    }
    Ok(if verify::has_problems(findings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The path from `from` (a directory) to `to`, both made absolute: `../wheelhouse/`.
fn relative_dir(from: &Path, to: &Path) -> Result<String> {
    let from = std::path::absolute(from)?;
    let to = std::path::absolute(to)?;
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Ok(parts.iter().map(|p| format!("{p}/")).collect())
}

/// `export --format pylock`: the lock's chosen targets, with files as paths into the
/// wheelhouse, written into the wheelhouse unless `-o` says otherwise.
fn export_pylock(
    args: &ExportArgs,
    config: Option<&Path>,
    lock_path: &Path,
    text: &str,
    lock: &PyLock,
) -> Result<ExitCode> {
    let project = load_project(config)?;
    let wheelhouse = project.fetch.wheelhouse.clone();
    let file_name = lock_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if airlock::python::export::pylock_name(&file_name).is_none() {
        bail!("{}: not a pylock.<name>.toml file", lock_path.display());
    }
    let recorded = lock
        .tool
        .as_ref()
        .map(|t| t.airlock.targets.clone())
        .unwrap_or_default();
    if args.python_version.len() != args.python_platform.len() {
        bail!("give --python-version and --python-platform in pairs, one pair per target");
    }
    let mut targets = Vec::new();
    for (version, platform) in args.python_version.iter().zip(&args.python_platform) {
        let at = recorded
            .iter()
            .position(|t| &t.python_version == version && &t.python_platform == platform)
            .with_context(|| {
                format!(
                    "{} has no target {version} {platform} (it has: {})",
                    lock_path.display(),
                    recorded
                        .iter()
                        .map(|t| format!("{} {}", t.python_version, t.python_platform))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        targets.push(at);
    }
    if targets.is_empty() {
        targets = (0..recorded.len()).collect();
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| wheelhouse.join(&file_name));
    let out_dir = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = relative_dir(&out_dir, &wheelhouse)?;
    let record = airlock::python::export::ExportRecord {
        source: display_path(lock_path, &project.root),
        source_sha256: airlock::digest::Sha256Hex::of(text.as_bytes()).to_string(),
        targets: targets
            .iter()
            .map(|&i| {
                format!(
                    "{} {}",
                    recorded[i].python_version, recorded[i].python_platform
                )
            })
            .collect(),
    };
    let exported = airlock::python::export::to_wheelhouse_pylock(lock, record, &targets, &prefix)
        .map_err(|problem| anyhow::anyhow!("{}: {problem}", lock_path.display()))?;
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    write_atomic(&output, exported.as_bytes())
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn run_export(args: ExportArgs, config: Option<&Path>) -> Result<ExitCode> {
    let lock_path = match args.lock.clone() {
        Some(path) => path,
        None => {
            let config = load_project(config)?;
            let dir = &config.python.lockfiles;
            let locks =
                lockfiles_in(dir).with_context(|| format!("cannot list {}", dir.display()))?;
            match locks.as_slice() {
                [one] => one.clone(),
                [] => bail!(
                    "no pylock.*.toml in {}; run `airlock resolve` first",
                    dir.display()
                ),
                _ => bail!(
                    "{} holds {} lockfiles; name the one to export",
                    dir.display(),
                    locks.len()
                ),
            }
        }
    };
    let label = lock_path.display().to_string();
    let text =
        std::fs::read_to_string(&lock_path).with_context(|| format!("cannot read {label}"))?;
    let lock = PyLock::parse(&text, &label)?;
    if let ExportFormat::Pylock = args.format {
        return export_pylock(&args, config, &lock_path, &text, &lock);
    }
    let exported = to_requirements_txt(&lock, &label).map_err(|missing| {
        anyhow::anyhow!(
            "{label}: these entries have no hashed wheel, so --require-hashes would reject them: {}",
            missing.join(", ")
        )
    })?;
    match args.output {
        Some(path) => write_atomic(&path, exported.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{exported}"),
    }
    Ok(ExitCode::SUCCESS)
}
