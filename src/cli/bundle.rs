//! `airlock bundle create|verify|unpack`: arguments and printing; the work is in
//! `airlock::bundle`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use airlock::bundle;
use airlock::settings::{BundleFlags, bundle_inputs, load_project};

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Pack the project for the far side: config, requirements, locks, the locked wheels,
    /// sdists and .debs, Dockerfiles and their context files, with a manifest and an SBOM.
    Create(CreateArgs),
    /// Check a bundle offline without unpacking it: every file against the manifest, the
    /// manifest against its signature (--key), the SBOM against the manifest.
    Verify(VerifyArgs),
    /// Verify a bundle and unpack it into DIR (default: the current directory).
    Unpack(UnpackArgs),
    /// Push a bundle to an OCI registry as an artifact (its manifest, signature and SBOM as
    /// layers of their own, then the archive or its volumes).
    Push(PushArgs),
    /// Pull a bundle pushed by `bundle push`, resuming an interrupted download, and check it
    /// is byte for byte the artifact's.
    Pull(PullArgs),
}

#[derive(Args)]
pub struct PushArgs {
    /// The bundle (the first volume of a split one: FILE.001).
    file: PathBuf,
    /// Where to: oci://HOST[:PORT]/REPOSITORY[:TAG] (TAG defaults to latest).
    reference: String,
    /// Plain HTTP to a registry that is not on loopback (loopback always speaks HTTP).
    #[arg(long)]
    insecure: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Args)]
pub struct PullArgs {
    /// oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]
    reference: String,
    /// The archive to write (a split bundle: FILE.001, FILE.002, … and FILE.sha256).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Plain HTTP to a registry that is not on loopback (loopback always speaks HTTP).
    #[arg(long)]
    insecure: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The archive to write (with --split-size: FILE.001, FILE.002, … and FILE.sha256).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Pack only what changed since this earlier bundle (a delta; its first volume).
    #[arg(long, value_name = "OLD_BUNDLE")]
    since: Option<PathBuf>,
    /// With --since: have the far side remove files the new locks no longer need.
    #[arg(long, requires = "since")]
    prune: bool,
    /// Cut the archive into volumes of at most SIZE bytes (K, M, G, T: powers of 1024).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    split_size: Option<u64>,
    /// Sign the manifest with this OpenPGP secret key (armoured or binary); its passphrase,
    /// if any, from AIRLOCK_BUNDLE_SIGNING_PASSPHRASE.
    #[arg(long, value_name = "KEY")]
    sign_key: Option<PathBuf>,
    /// Where the lockfiles are (default: [python] lockfiles, or lockfiles/).
    #[arg(long, value_name = "DIR")]
    lockfiles: Option<PathBuf>,
    /// The wheelhouse directory (default: [fetch] wheelhouse, or wheelhouse/).
    #[arg(long, value_name = "DIR")]
    wheelhouse: Option<PathBuf>,
    /// Summary format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    CyclonedxJson,
    SpdxJson,
}

#[derive(Args)]
pub struct SbomArgs {
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "cyclonedx-json")]
    format: SbomFormat,
    /// Where the lockfiles are (default: [python] lockfiles, or lockfiles/).
    #[arg(long, value_name = "DIR")]
    lockfiles: Option<PathBuf>,
}

/// `airlock sbom`: the document a bundle made now would carry, byte for byte (CycloneDX).
pub fn sbom(args: SbomArgs, config: Option<&Path>) -> Result<ExitCode> {
    let project = load_project(config)?;
    let lockfiles = args
        .lockfiles
        .unwrap_or_else(|| project.python.lockfiles.clone());
    let has_locks = airlock::python::pylock::lockfiles_in(&lockfiles)
        .is_ok_and(|locks| !locks.is_empty())
        || lockfiles
            .join(airlock::debian::aptlock::APT_LOCK_FILE)
            .is_file();
    if !has_locks {
        anyhow::bail!(
            "no locks in {}; run `airlock resolve` first",
            lockfiles.display()
        );
    }
    let epoch = match airlock::settings::source_date_epoch()? {
        Some(epoch) => epoch,
        None => bundle::epoch_from_locks(&lockfiles)?,
    };
    let name = airlock::settings::project_name(&project);
    let bytes = match args.format {
        SbomFormat::CyclonedxJson => airlock::sbom::cyclonedx(&lockfiles, &name, epoch)?,
        SbomFormat::SpdxJson => airlock::sbom::spdx(&lockfiles, &name, epoch)?,
    };
    match &args.output {
        Some(path) => airlock::net::cache::write_atomic(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::Write::write_all(&mut std::io::stdout(), &bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The bundle (the first volume of a split one: FILE.001).
    file: PathBuf,
    /// Require a signature by this OpenPGP public key (or keyring).
    #[arg(long, value_name = "PUB")]
    key: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Args)]
pub struct UnpackArgs {
    /// The bundle (the first volume of a split one: FILE.001).
    file: PathBuf,
    /// Where to unpack (default: the current directory).
    dir: Option<PathBuf>,
    /// Require a signature by this OpenPGP public key (or keyring).
    #[arg(long, value_name = "PUB")]
    key: Option<PathBuf>,
    /// Replace files that differ from what the bundle carries even when no earlier bundle put
    /// them there, and links in the way.
    #[arg(long)]
    force: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// `4G`, `700M`, `1.5G`, `4096`: bytes, K/M/G/T as powers of 1024 (a trailing `B`/`iB` is
/// accepted).
fn parse_size(text: &str) -> Result<u64, String> {
    let bytes = parse_size_or_zero(text)?;
    if bytes < 1024 * 1024 {
        return Err(format!("`{text}`: a volume must be at least 1M"));
    }
    Ok(bytes)
}

/// A size such as 4G or 700M (K, M, G, T: powers of 1024), 0 allowed.
pub(crate) fn parse_size_or_zero(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let upper = trimmed.to_ascii_uppercase();
    let upper = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (number, unit) = match upper.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => (&upper[..at], &upper[at..]),
        None => (upper, ""),
    };
    let multiplier: u64 = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("`{text}`: the unit must be K, M, G or T")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 4G or 700M"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}` is not a size such as 4G or 700M"));
    }
    Ok((value * multiplier as f64) as u64)
}

fn bar(quiet: bool, label: &str) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    Some(bar)
}

fn show(bar: &Option<indicatif::ProgressBar>, done: u64, total: u64) {
    if let Some(bar) = bar {
        bar.set_length(total);
        bar.set_position(done);
    }
}

fn keyring(path: Option<&Path>) -> Result<Option<airlock::debian::signature::Keyring>> {
    let Some(path) = path else { return Ok(None) };
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(airlock::debian::signature::Keyring::from_bytes(
        &bytes,
        &path.display().to_string(),
    )?))
}

pub fn run(command: BundleCommand, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    match command {
        BundleCommand::Create(args) => create(args, config, quiet),
        BundleCommand::Verify(args) => verify(args, quiet),
        BundleCommand::Unpack(args) => unpack(args, quiet),
        BundleCommand::Push(args) => push(args, quiet),
        BundleCommand::Pull(args) => pull(args, quiet),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs a push or pull, showing its progress: a bar when stderr is a terminal (lines above
/// it), else the lines alone; nothing when `silent`. The bar is cleared whatever the outcome.
fn transfer<T>(
    silent: bool,
    label: &str,
    work: impl AsyncFnOnce(
        &(dyn Fn(bundle::registry::Progress<'_>) + Sync),
    ) -> Result<T, bundle::registry::RegistryError>,
) -> Result<T> {
    use bundle::registry::Progress;
    let bar = bar(silent, label);
    let shown = |event: Progress<'_>| match event {
        Progress::Line(line) => match &bar {
            Some(bar) => bar.println(line),
            None if !silent => eprintln!("{line}"),
            None => {}
        },
        Progress::Bytes { done, total } => show(&bar, done, total),
    };
    let outcome = runtime()?.block_on(work(&shown));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(outcome?)
}

fn push(args: PushArgs, quiet: bool) -> Result<ExitCode> {
    use bundle::registry;
    let target: registry::ArtifactRef = args.reference.parse()?;
    let options = registry::RegistryOptions {
        insecure: args.insecure,
    };
    let report = transfer(
        quiet || args.format == Format::Json,
        "pushing",
        async |shown| registry::push(&args.file, &target, &options, shown).await,
    )?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text if !quiet => {
            let sent = report.layers.iter().filter(|l| l.transferred).count();
            eprintln!(
                "pushed {} layer(s) ({sent} uploaded, {} already there) to {}",
                report.layers.len(),
                report.layers.len() - sent,
                report.reference
            );
            eprintln!(
                "digest {}\npull it with: airlock bundle pull {} -o FILE",
                report.digest, report.pinned
            );
        }
        Format::Text => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn pull(args: PullArgs, quiet: bool) -> Result<ExitCode> {
    use bundle::registry;
    let source: registry::ArtifactRef = args.reference.parse()?;
    let options = registry::RegistryOptions {
        insecure: args.insecure,
    };
    let report = transfer(
        quiet || args.format == Format::Json,
        "pulling",
        async |shown| registry::pull(&source, &args.output, &options, shown).await,
    )?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text if !quiet => {
            eprintln!("pulled {} ({})", report.reference, report.digest);
            for file in &report.files {
                eprintln!("  {file}");
            }
            eprintln!(
                "check it before use: airlock bundle verify {} --key PUB",
                report.files[0]
            );
        }
        Format::Text => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn create(args: CreateArgs, config: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    let project = load_project(config)?;
    let flags = BundleFlags {
        lockfiles: args.lockfiles,
        wheelhouse: args.wheelhouse,
    };
    let inputs = bundle_inputs(&project, &flags);
    let signer = match &args.sign_key {
        Some(path) => Some(airlock::debian::signing::RepositorySigner::load(
            path,
            std::env::var("AIRLOCK_BUNDLE_SIGNING_PASSPHRASE").ok(),
        )?),
        None => None,
    };
    let epoch = airlock::settings::source_date_epoch()?;
    let name = airlock::settings::project_name(&project);
    let options = bundle::CreateOptions {
        output: args.output,
        since: args.since,
        prune: args.prune,
        split_size: args.split_size,
        signer,
        epoch,
        name,
    };
    let bar = bar(quiet, "packing");
    let started = std::time::Instant::now();
    let report = bundle::create(&inputs, &options, &|done, total| show(&bar, done, total))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "files": report.files,
                "included": report.included,
                "bytes": report.bytes,
                "volumes": report.volumes.iter().map(|(path, sha256, size)| serde_json::json!({"path": path, "sha256": (!sha256.is_empty()).then_some(sha256), "size": size})).collect::<Vec<_>>(),
                "manifest-sha256": report.manifest_sha256,
                "signed-by": report.signed_by,
                "base": report.base,
                "removed": report.removed,
                "left-out": report.left_out,
                "seconds": seconds,
            }))?
        ),
        Format::Text if !quiet => {
            let size: u64 = report.volumes.iter().map(|(_, _, size)| size).sum();
            eprintln!(
                "packed {} of {} file(s) ({:.1} MiB) into {} volume(s), {:.1} MiB, in {seconds:.1}s",
                report.included,
                report.files,
                report.bytes as f64 / 1048576.0,
                report.volumes.len(),
                size as f64 / 1048576.0,
            );
            for (path, sha256, _) in &report.volumes {
                if sha256.is_empty() {
                    eprintln!("  {path}");
                } else {
                    eprintln!("  {path}  sha256 {sha256}");
                }
            }
            eprintln!("manifest sha256 {}", report.manifest_sha256);
            if let Some(base) = &report.base {
                eprintln!(
                    "a delta on top of {base}; {} file(s) for the far side to remove",
                    report.removed
                );
            }
            match &report.signed_by {
                Some(fingerprint) => eprintln!("manifest signed by {fingerprint}"),
                None => eprintln!("manifest not signed (--sign-key signs it)"),
            }
            for left in &report.left_out {
                eprintln!("left out: {left}");
            }
        }
        Format::Text => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn print_read(read: &bundle::ReadReport, format: Format, quiet: bool, done: &str) -> ExitCode {
    let ok = read.problems.is_empty();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": ok, "report": read}))
                .expect("a report serialises")
        ),
        Format::Text => {
            for problem in &read.problems {
                eprintln!("error: {problem}");
            }
            if ok && !quiet {
                eprintln!(
                    "{done}: {} file(s), {:.1} MiB, {} volume(s); {}",
                    read.files_checked,
                    read.bytes as f64 / 1048576.0,
                    read.volumes,
                    match (&read.signed_by, read.signed) {
                        (Some(fingerprint), _) => format!("manifest signed by {fingerprint}"),
                        (None, true) => "signed, signature not checked (give --key)".into(),
                        (None, false) => "not signed".into(),
                    }
                );
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn verify(args: VerifyArgs, quiet: bool) -> Result<ExitCode> {
    let key = keyring(args.key.as_deref())?;
    let bar = bar(quiet, "verifying");
    let read = bundle::verify(&args.file, key.as_ref(), &|done, total| {
        show(&bar, done, total)
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(print_read(&read, args.format, quiet, "verified"))
}

fn unpack(args: UnpackArgs, quiet: bool) -> Result<ExitCode> {
    let key = keyring(args.key.as_deref())?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let bar = bar(quiet, "unpacking");
    let report = bundle::unpack(
        &args.file,
        &dir,
        key.as_ref(),
        args.force,
        &|done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(done);
            }
        },
    )?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let code = print_read(&report.read, args.format, quiet, "verified");
    if report.read.problems.is_empty() && !quiet && args.format == Format::Text {
        eprintln!(
            "unpacked into {}: {} written, {} already there, {} removed",
            dir.display(),
            report.written,
            report.unchanged,
            report.removed
        );
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(super::parse_size("4G"), Ok(4 << 30));
        assert_eq!(super::parse_size("700MiB"), Ok(700 << 20));
        assert_eq!(super::parse_size("1.5g"), Ok(3 << 29));
        assert!(super::parse_size("12").is_err());
        assert!(super::parse_size("4X").is_err());
    }
}
