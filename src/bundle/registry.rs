//! `bundle push` and `bundle pull`: a bundle travels through an OCI registry as an artifact
//! (image-spec 1.1: a manifest with an `artifactType` and the empty config).
//!
//! Its layers, in order: the bundle's manifest, its signature (when signed), its SBOM, then
//! the archive (or each volume, then the volumes' sums file). The manifest and SBOM layers
//! let a registry's scanner or a person look at a kit without downloading it; the archive
//! layers are the bundle itself, byte for byte, so a pulled kit is the pushed kit.
//!
//! The protocol (chunked uploads, the token flow, digests) is oci-client's; airlock adds the
//! artifact's shape, credentials (`credentials`), blob reuse, resumable pulls and checks that
//! what was pulled is the bundle the artifact describes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest, Sha256};

use super::credentials::{self, Credentials};
use super::volumes::{self, volume_path};
use super::{BundleError, read_manifest, read_meta};

pub const ARTIFACT_TYPE: &str = "application/vnd.airlock.bundle.v1";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.airlock.bundle.manifest.v1+json";
pub const SIGNATURE_MEDIA_TYPE: &str = "application/pgp-signature";
pub const SBOM_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";
pub const VOLUME_MEDIA_TYPE: &str = "application/vnd.airlock.bundle.volume.v1.tar+zstd";
pub const SUMS_MEDIA_TYPE: &str = "application/vnd.airlock.bundle.sums.v1";
/// image-spec 1.1's empty descriptor: artifacts with no configuration use it.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_CONFIG: &[u8] = b"{}";
const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const TITLE: &str = "org.opencontainers.image.title";
/// Small layers (manifest, signature, SBOM, sums) are read into memory up to this size.
const SMALL_LAYER_LIMIT: i64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference}: {problem}; write oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]")]
    Reference { reference: String, problem: String },
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    // The registry's error is said in the message, not again as a cause.
    #[error(
        "{reference}: {action} failed: {}{}",
        describe(error),
        login_hint(error)
    )]
    Registry {
        reference: String,
        action: String,
        error: oci_client::errors::OciDistributionError,
    },
    #[error("{reference} is not an airlock bundle: {problem}")]
    NotABundle { reference: String, problem: String },
    #[error(
        "{what} from {reference}: sha256 {actual}, size {actual_size}, but the artifact says \
         {expected}, size {expected_size}; nothing was kept, run the pull again"
    )]
    Digest {
        what: String,
        reference: String,
        expected: String,
        expected_size: u64,
        actual: String,
        actual_size: u64,
    },
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
}

/// The library's message, without the empty detail some of its errors end with
/// ("Authentication failure: ").
fn describe(error: &oci_client::errors::OciDistributionError) -> String {
    error
        .to_string()
        .trim_end()
        .trim_end_matches(':')
        .to_string()
}

/// What to do when the registry refused the credentials (or their absence).
fn login_hint(error: &oci_client::errors::OciDistributionError) -> &'static str {
    use oci_client::errors::OciDistributionError as E;
    let refused = match error {
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => true,
        E::RequestError(error) => error
            .status()
            .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403),
        other => {
            let text = other.to_string();
            text.contains("401 Unauthorized") || text.contains("UNAUTHORIZED")
        }
    };
    if refused {
        "; the registry wants a login: `docker login HOST` or `podman login HOST` (airlock reads \
         their credentials), or AIRLOCK_REGISTRY_USERNAME and AIRLOCK_REGISTRY_PASSWORD"
    } else {
        ""
    }
}

/// `oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:HEX]`. The registry is always named: there is
/// no default registry to fall back on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl std::fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn valid_repository(repository: &str) -> bool {
    // distribution's grammar: path components of [a-z0-9]+ joined by . _ __ or -+.
    !repository.is_empty()
        && repository.split('/').all(|component| {
            let bytes = component.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes.iter().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        })
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    (1..=128).contains(&bytes.len())
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl std::str::FromStr for ArtifactRef {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let problem = |problem: &str| RegistryError::Reference {
            reference: text.to_string(),
            problem: problem.to_string(),
        };
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| problem("a registry reference starts with oci://"))?;
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| problem("no repository after the registry"))?;
        if registry.is_empty()
            || registry.contains('@')
            || !registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        {
            return Err(problem("the registry is not HOST or HOST:PORT"));
        }
        let (path, digest) = match path.split_once('@') {
            Some((path, digest)) => {
                let hex = digest
                    .strip_prefix("sha256:")
                    .ok_or_else(|| problem("a digest is sha256:HEX"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(problem("a sha256 digest is 64 hexadecimal digits"));
                }
                (path, Some(format!("sha256:{}", hex.to_ascii_lowercase())))
            }
            None => (path, None),
        };
        // A tag follows the last ':' after the last '/'.
        let last = path.rsplit('/').next().unwrap_or(path);
        let (repository, tag) = match last.rsplit_once(':') {
            Some((_, tag)) => (&path[..path.len() - tag.len() - 1], Some(tag.to_string())),
            None => (path, None),
        };
        if !valid_repository(repository) {
            return Err(problem(
                "the repository is lower-case letters, digits and . _ - in /-separated parts",
            ));
        }
        if let Some(tag) = &tag
            && !valid_tag(tag)
        {
            return Err(problem(
                "a tag is at most 128 letters, digits and . _ - (not first)",
            ));
        }
        // No tag and no digest: `latest`, as docker, podman and oras do.
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Self {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }
}

impl ArtifactRef {
    /// A registry on this machine, where plain HTTP crosses no network.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => self.registry.split(':').next().unwrap_or(&self.registry),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    fn reference(&self) -> Reference {
        match (&self.tag, &self.digest) {
            (Some(tag), Some(digest)) => Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone(),
                digest.clone(),
            ),
            (None, Some(digest)) => Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest.clone(),
            ),
            (tag, None) => Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }
}

/// How to reach the registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP to a registry that is not on loopback.
    pub insecure: bool,
}

struct Session {
    client: Client,
    reference: Reference,
    shown: String,
}

impl Session {
    async fn open(
        target: &ArtifactRef,
        options: &RegistryOptions,
        operation: RegistryOperation,
    ) -> Result<Self, RegistryError> {
        // The process-wide rustls provider, as `net::client` installs it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let protocol = if options.insecure || target.is_loopback() {
            ClientProtocol::HttpsExcept(vec![target.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            user_agent: crate::net::USER_AGENT,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let client = Client::new(config);
        let credentials = credentials::lookup(&target.registry, &|name| std::env::var(name).ok())?;
        let auth = match credentials {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => RegistryAuth::Basic(username, password),
        };
        let reference = target.reference();
        let shown = target.to_string();
        client
            .auth(&reference, &auth, operation)
            .await
            .map_err(|error| RegistryError::Registry {
                reference: shown.clone(),
                action: "logging in".into(),
                error,
            })?;
        Ok(Self {
            client,
            reference,
            shown,
        })
    }

    fn failed(
        &self,
        action: &str,
    ) -> impl FnOnce(oci_client::errors::OciDistributionError) -> RegistryError {
        let reference = self.shown.clone();
        let action = action.to_string();
        move |error| RegistryError::Registry {
            reference,
            action,
            error,
        }
    }
}

fn sha256_of_bytes(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn sha256_of_file(path: &Path) -> Result<(String, u64), RegistryError> {
    let read_error = |error| RegistryError::Read {
        path: path.display().to_string(),
        error,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(read_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), size))
}

/// What push and pull report while they work: a line to show, or how many of the bytes to
/// transfer are done (for a progress bar).
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    Line(&'a str),
    Bytes { done: u64, total: u64 },
}

/// One layer of the artifact, as pushed or pulled.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerReport {
    pub title: String,
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    /// Pushed: the registry did not have it yet. Pulled: downloaded (not already on disk).
    pub transferred: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    pub reference: String,
    /// The artifact manifest's digest.
    pub digest: String,
    /// `oci://HOST/REPOSITORY@DIGEST`: exactly this push, whatever the tag comes to name.
    pub pinned: String,
    pub layers: Vec<LayerReport>,
}

enum Blob {
    Memory(Vec<u8>),
    File(PathBuf),
}

struct PlannedLayer {
    descriptor: OciDescriptor,
    blob: Blob,
}

fn descriptor(media_type: &str, digest: String, size: u64, title: Option<&str>) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_string(),
        digest,
        size: size as i64,
        urls: None,
        annotations: title.map(|t| BTreeMap::from([(TITLE.to_string(), t.to_string())])),
        artifact_type: None,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The artifact for the bundle whose first volume (or only file) is `first`, without touching
/// the network: the layers and the manifest's bytes.
fn plan(first: &Path) -> Result<(Vec<PlannedLayer>, Vec<u8>), RegistryError> {
    let meta = read_meta(first)?;
    let (paths, sums) = volumes::volumes_of(first).map_err(|error| RegistryError::Read {
        path: first.display().to_string(),
        error,
    })?;
    let in_memory = |media_type: &str, bytes: Vec<u8>, title: &str| PlannedLayer {
        descriptor: descriptor(
            media_type,
            sha256_of_bytes(&bytes),
            bytes.len() as u64,
            Some(title),
        ),
        blob: Blob::Memory(bytes),
    };
    let mut layers = vec![in_memory(
        MANIFEST_MEDIA_TYPE,
        meta.manifest_bytes.clone(),
        "manifest.json",
    )];
    if let Some(signature) = meta.signature {
        layers.push(in_memory(
            SIGNATURE_MEDIA_TYPE,
            signature,
            "manifest.json.asc",
        ));
    }
    if let Some(sbom) = meta.sbom {
        layers.push(in_memory(SBOM_MEDIA_TYPE, sbom, "sbom.cdx.json"));
    }
    for (index, path) in paths.iter().enumerate() {
        let (digest, size) = sha256_of_file(path)?;
        // A damaged volume is not sent on: the sums file is the bundle's own record.
        if let Some(listed) = sums.as_ref().and_then(|sums| sums.get(index))
            && format!("sha256:{listed}") != digest
        {
            return Err(RegistryError::Bundle(BundleError::NotABundle {
                file: path.display().to_string(),
                problem: format!(
                    "sha256 {digest}, but the sums file lists {listed}; the volume is damaged"
                ),
            }));
        }
        layers.push(PlannedLayer {
            descriptor: descriptor(VOLUME_MEDIA_TYPE, digest, size, Some(&file_name(path))),
            blob: Blob::File(path.clone()),
        });
    }
    if sums.is_some() {
        let stem = first.to_string_lossy();
        let stem = stem.strip_suffix(".001").unwrap_or(&stem);
        let sums_path = volumes::sums_path(Path::new(stem));
        let bytes = std::fs::read(&sums_path).map_err(|error| RegistryError::Read {
            path: sums_path.display().to_string(),
            error,
        })?;
        layers.push(in_memory(SUMS_MEDIA_TYPE, bytes, &file_name(&sums_path)));
    }
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_string()),
        config: descriptor(
            EMPTY_MEDIA_TYPE,
            sha256_of_bytes(EMPTY_CONFIG),
            EMPTY_CONFIG.len() as u64,
            None,
        ),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        subject: None,
        artifact_type: Some(ARTIFACT_TYPE.to_string()),
        // Only what the bundle fixes, so the same bundle gives the same artifact digest.
        annotations: Some(BTreeMap::from([
            (
                "org.opencontainers.image.created".to_string(),
                crate::sbom::timestamp(meta.manifest.source_date_epoch),
            ),
            (
                "dev.airlock.bundle.airlock-version".to_string(),
                meta.manifest.airlock_version.clone(),
            ),
        ])),
    };
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
    Ok((layers, bytes))
}

/// Pushes the bundle whose first volume (or only file) is `first` to `target`. Blobs the
/// repository already has are not sent again.
pub async fn push(
    first: &Path,
    target: &ArtifactRef,
    options: &RegistryOptions,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<PushReport, RegistryError> {
    if target.digest.is_some() {
        return Err(RegistryError::Reference {
            reference: target.to_string(),
            problem: "push names a tag; the digest is the registry's answer".into(),
        });
    }
    let first_owned = first.to_path_buf();
    let (layers, manifest_bytes) = tokio::task::spawn_blocking(move || plan(&first_owned))
        .await
        .expect("planning does not panic")?;
    let session = Session::open(target, options, RegistryOperation::Push).await?;
    let mut reports = Vec::new();
    let empty_digest = sha256_of_bytes(EMPTY_CONFIG);
    let config_there = session
        .client
        .blob_exists(&session.reference, &empty_digest)
        .await
        .map_err(session.failed("checking the config blob"))?;
    if !config_there {
        session
            .client
            .push_blob(&session.reference, EMPTY_CONFIG.to_vec(), &empty_digest)
            .await
            .map_err(session.failed("uploading the config blob"))?;
    }
    let total: u64 = layers.iter().map(|l| l.descriptor.size as u64).sum();
    let mut done = 0u64;
    for layer in layers {
        let title = layer
            .descriptor
            .annotations
            .as_ref()
            .and_then(|a| a.get(TITLE))
            .cloned()
            .unwrap_or_default();
        let digest = layer.descriptor.digest.clone();
        let size = layer.descriptor.size as u64;
        let there = session
            .client
            .blob_exists(&session.reference, &digest)
            .await
            .map_err(session.failed(&format!("checking {title}")))?;
        if !there {
            progress(Progress::Line(&format!("uploading {title} ({size} bytes)")));
            let action = format!("uploading {title}");
            match layer.blob {
                Blob::Memory(bytes) => {
                    session
                        .client
                        .push_blob(&session.reference, bytes, &digest)
                        .await
                        .map_err(session.failed(&action))?;
                }
                Blob::File(path) => {
                    let file = tokio::fs::File::open(&path).await.map_err(|error| {
                        RegistryError::Read {
                            path: path.display().to_string(),
                            error,
                        }
                    })?;
                    // The stream must own what it touches: it counts into a shared number
                    // that this task reads on a timer while the upload runs.
                    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
                    let counter = sent.clone();
                    let stream = tokio_util::io::ReaderStream::with_capacity(file, 4 << 20).map(
                        move |chunk| {
                            if let Ok(bytes) = &chunk {
                                counter.fetch_add(
                                    bytes.len() as u64,
                                    std::sync::atomic::Ordering::Relaxed,
                                );
                            }
                            chunk.map_err(oci_client::errors::OciDistributionError::IoError)
                        },
                    );
                    let upload = session.client.push_blob_stream(
                        &session.reference,
                        stream,
                        &digest,
                        Some(size),
                    );
                    tokio::pin!(upload);
                    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
                    let uploaded = loop {
                        tokio::select! {
                            outcome = &mut upload => break outcome,
                            _ = tick.tick() => progress(Progress::Bytes {
                                done: done + sent.load(std::sync::atomic::Ordering::Relaxed),
                                total,
                            }),
                        }
                    };
                    uploaded.map_err(session.failed(&action))?;
                }
            }
        } else {
            progress(Progress::Line(&format!(
                "{title}: the registry has it already"
            )));
        }
        done += size;
        progress(Progress::Bytes { done, total });
        reports.push(LayerReport {
            title,
            media_type: layer.descriptor.media_type.clone(),
            digest,
            size,
            transferred: !there,
        });
    }
    let digest = sha256_of_bytes(&manifest_bytes);
    session
        .client
        .push_manifest_raw(
            &session.reference,
            manifest_bytes,
            http::HeaderValue::from_static(OCI_MANIFEST_MEDIA_TYPE),
        )
        .await
        .map_err(session.failed("uploading the artifact manifest"))?;
    let pinned = ArtifactRef {
        tag: None,
        digest: Some(digest.clone()),
        ..target.clone()
    };
    Ok(PushReport {
        reference: target.to_string(),
        pinned: pinned.to_string(),
        digest,
        layers: reports,
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PullReport {
    pub reference: String,
    pub digest: String,
    /// The files written: the archive, or its volumes and sums file.
    pub files: Vec<String>,
    pub layers: Vec<LayerReport>,
}

/// Where each archive layer goes: `output`, or `output.001`, … and `output.sha256`.
fn destinations(output: &Path, volumes: usize, has_sums: bool) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = if volumes == 1 && !has_sums {
        vec![output.to_path_buf()]
    } else {
        (1..=volumes as u32)
            .map(|n| volume_path(output, n))
            .collect()
    };
    if has_sums {
        paths.push(volumes::sums_path(output));
    }
    paths
}

/// Checks the artifact manifest names an airlock bundle and returns its layers by role.
fn bundle_layers<'m>(
    manifest: &'m OciImageManifest,
    shown: &str,
) -> Result<
    (
        &'m OciDescriptor,
        Vec<&'m OciDescriptor>,
        Option<&'m OciDescriptor>,
    ),
    RegistryError,
> {
    let not = |problem: String| RegistryError::NotABundle {
        reference: shown.to_string(),
        problem,
    };
    if manifest.artifact_type.as_deref() != Some(ARTIFACT_TYPE) {
        return Err(not(format!(
            "its artifactType is {}, not {ARTIFACT_TYPE}",
            manifest.artifact_type.as_deref().unwrap_or("absent")
        )));
    }
    let of = |media_type: &'static str| {
        manifest
            .layers
            .iter()
            .filter(move |l| l.media_type == media_type)
    };
    let mut manifests = of(MANIFEST_MEDIA_TYPE);
    let bundle_manifest = manifests
        .next()
        .ok_or_else(|| not("it has no bundle manifest layer".into()))?;
    let volumes: Vec<_> = of(VOLUME_MEDIA_TYPE).collect();
    let sums: Vec<_> = of(SUMS_MEDIA_TYPE).collect();
    if manifests.next().is_some() || sums.len() > 1 {
        return Err(not("it has more than one manifest or sums layer".into()));
    }
    if volumes.is_empty() {
        return Err(not("it has no archive layer".into()));
    }
    if volumes.len() > 1 && sums.is_empty() {
        return Err(not("it has several volumes but no sums file".into()));
    }
    for layer in manifest.layers.iter() {
        if layer.size < 0 {
            return Err(not(format!("layer {} has a negative size", layer.digest)));
        }
    }
    if bundle_manifest.size > SMALL_LAYER_LIMIT
        || sums.first().is_some_and(|s| s.size > SMALL_LAYER_LIMIT)
    {
        return Err(not("its manifest or sums layer is implausibly large".into()));
    }
    Ok((bundle_manifest, volumes, sums.first().copied()))
}

fn open_partial(path: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(!truncate).write(true);
    if truncate {
        options.truncate(true);
    }
    // A link planted at the partial name is refused, not followed.
    options.custom_flags(libc::O_NOFOLLOW);
    options.open(path)
}

/// Downloads one layer to `dest`, resuming from `dest.partial`, checking size and digest
/// before the rename. Returns whether anything was downloaded.
async fn pull_layer(
    session: &Session,
    layer: &OciDescriptor,
    dest: &Path,
    shown: &Shown<'_>,
) -> Result<bool, RegistryError> {
    let expected_size = layer.size as u64;
    let write_error = |path: &Path| {
        let path = path.display().to_string();
        move |error| RegistryError::Write { path, error }
    };
    // Already there and whole: nothing to do (a rerun after an interruption).
    if std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_file() && m.len() == expected_size)
        && sha256_of_file(dest)?.0 == layer.digest
    {
        return Ok(false);
    }
    let mut partial_name = dest.as_os_str().to_owned();
    partial_name.push(".partial");
    let partial = PathBuf::from(partial_name);
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    match std::fs::symlink_metadata(&partial) {
        Ok(meta) if meta.is_file() && meta.len() < expected_size => {
            let mut file = std::fs::File::open(&partial).map_err(write_error(&partial))?;
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buffer).map_err(write_error(&partial))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                offset += n as u64;
            }
        }
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(RegistryError::Write {
                path: partial.display().to_string(),
                error: std::io::Error::other("not a regular file; remove it"),
            });
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(write_error(&partial)(error)),
    }
    let mut file;
    if offset > 0 {
        let response = session
            .client
            .pull_blob_stream_partial(&session.reference, layer, offset, None)
            .await
            .map_err(session.failed(&format!("downloading {}", layer.digest)))?;
        let stream = match response {
            oci_client::client::BlobResponse::Partial(stream) => {
                file = open_partial(&partial, false).map_err(write_error(&partial))?;
                stream
            }
            // The registry ignored the range: start over.
            oci_client::client::BlobResponse::Full(stream) => {
                hasher = Sha256::new();
                offset = 0;
                file = open_partial(&partial, true).map_err(write_error(&partial))?;
                stream
            }
        };
        offset = write_stream(
            stream.stream,
            &mut file,
            &mut hasher,
            offset,
            &partial,
            shown,
        )
        .await?;
    } else {
        file = open_partial(&partial, true).map_err(write_error(&partial))?;
        let stream = session
            .client
            .pull_blob_stream(&session.reference, layer)
            .await
            .map_err(session.failed(&format!("downloading {}", layer.digest)))?;
        offset = write_stream(stream.stream, &mut file, &mut hasher, 0, &partial, shown).await?;
    }
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    if actual != layer.digest || offset != expected_size {
        drop(file);
        let _ = std::fs::remove_file(&partial);
        return Err(RegistryError::Digest {
            what: dest.display().to_string(),
            reference: session.shown.clone(),
            expected: layer.digest.clone(),
            expected_size,
            actual,
            actual_size: offset,
        });
    }
    file.sync_all().map_err(write_error(&partial))?;
    drop(file);
    std::fs::rename(&partial, dest).map_err(write_error(dest))?;
    Ok(true)
}

/// Where a pull's progress goes: the bytes of the layers before this one, the total, and
/// the callback.
struct Shown<'a> {
    before: u64,
    total: u64,
    progress: &'a (dyn Fn(Progress<'_>) + Sync),
}

async fn write_stream(
    mut stream: futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
    file: &mut std::fs::File,
    hasher: &mut Sha256,
    mut offset: u64,
    partial: &Path,
    shown: &Shown<'_>,
) -> Result<u64, RegistryError> {
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| RegistryError::Read {
            path: partial.display().to_string(),
            error,
        })?;
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|error| RegistryError::Write {
                path: partial.display().to_string(),
                error,
            })?;
        offset += chunk.len() as u64;
        (shown.progress)(Progress::Bytes {
            done: shown.before + offset,
            total: shown.total,
        });
    }
    Ok(offset)
}

/// A small layer into memory, never more bytes than its descriptor says, checked against its
/// digest.
async fn pull_small(
    session: &Session,
    layer: &OciDescriptor,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    let mut stream = session
        .client
        .pull_blob_stream(&session.reference, layer)
        .await
        .map_err(session.failed(&format!("downloading {what}")))?
        .stream;
    let expected_size = layer.size as u64;
    let mut bytes = Vec::new();
    let mismatch = |bytes: &[u8]| RegistryError::Digest {
        what: what.to_string(),
        reference: session.shown.clone(),
        expected: layer.digest.clone(),
        expected_size,
        actual: sha256_of_bytes(bytes),
        actual_size: bytes.len() as u64,
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| RegistryError::Read {
            path: format!("{} ({what})", session.shown),
            error,
        })?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > expected_size {
            return Err(mismatch(&bytes));
        }
    }
    if bytes.len() as u64 != expected_size || sha256_of_bytes(&bytes) != layer.digest {
        return Err(mismatch(&bytes));
    }
    Ok(bytes)
}

/// `-o` names a file to write, in a directory that exists: said before anything is downloaded.
fn check_output(output: &Path) -> Result<(), RegistryError> {
    let refuse = |problem: &str| RegistryError::Write {
        path: output.display().to_string(),
        error: std::io::Error::other(problem.to_string()),
    };
    if output.is_dir() || output.as_os_str().to_string_lossy().ends_with('/') {
        return Err(refuse(
            "a directory; -o names the bundle file to write (e.g. DIR/kit.tar.zst)",
        ));
    }
    let parent = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(refuse("its directory does not exist"));
    }
    Ok(())
}

/// Pulls the bundle at `source` into `output` (or its volumes `output.001`, …), then checks
/// that the archive's own manifest is the one the artifact carries.
pub async fn pull(
    source: &ArtifactRef,
    output: &Path,
    options: &RegistryOptions,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<PullReport, RegistryError> {
    check_output(output)?;
    let session = Session::open(source, options, RegistryOperation::Pull).await?;
    let (bytes, _) = session
        .client
        .pull_manifest_raw(
            &session.reference,
            &RegistryAuth::Anonymous,
            &[OCI_MANIFEST_MEDIA_TYPE],
        )
        .await
        .map_err(session.failed("reading the artifact manifest"))?;
    let digest = sha256_of_bytes(&bytes);
    if let Some(pinned) = &source.digest
        && *pinned != digest
    {
        return Err(RegistryError::Digest {
            what: "the artifact manifest".into(),
            reference: session.shown.clone(),
            expected: pinned.clone(),
            expected_size: 0,
            actual: digest,
            actual_size: bytes.len() as u64,
        });
    }
    let manifest: OciImageManifest =
        serde_json::from_slice(&bytes).map_err(|error| RegistryError::NotABundle {
            reference: session.shown.clone(),
            problem: format!("its manifest is not an OCI image manifest: {error}"),
        })?;
    let (manifest_layer, volume_layers, sums_layer) = bundle_layers(&manifest, &session.shown)?;
    let expected_manifest = pull_small(&session, manifest_layer, "the bundle manifest").await?;
    let mut archive_layers: Vec<&OciDescriptor> = volume_layers.clone();
    archive_layers.extend(sums_layer);
    let paths = destinations(output, volume_layers.len(), sums_layer.is_some());
    let mut layers = Vec::new();
    let total: u64 = archive_layers.iter().map(|l| l.size as u64).sum();
    let mut before = 0u64;
    for (layer, path) in archive_layers.iter().zip(&paths) {
        progress(Progress::Line(&format!(
            "downloading {} ({} bytes)",
            path.display(),
            layer.size
        )));
        let shown = Shown {
            before,
            total,
            progress,
        };
        let transferred = pull_layer(&session, layer, path, &shown).await?;
        before += layer.size as u64;
        progress(Progress::Bytes {
            done: before,
            total,
        });
        layers.push(LayerReport {
            title: file_name(path),
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size as u64,
            transferred,
        });
    }
    let first = paths[0].clone();
    let (_, archive_manifest) = tokio::task::spawn_blocking(move || read_manifest(&first))
        .await
        .expect("reading a manifest does not panic")?;
    if archive_manifest != expected_manifest {
        return Err(RegistryError::NotABundle {
            reference: session.shown.clone(),
            problem: format!(
                "the archive's own manifest differs from the artifact's manifest layer; \
                 {} is not what was pushed",
                paths[0].display()
            ),
        });
    }
    Ok(PullReport {
        reference: source.to_string(),
        digest,
        files: paths.iter().map(|p| p.display().to_string()).collect(),
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ArtifactRef, RegistryError> {
        text.parse()
    }

    #[test]
    fn references_name_their_registry() {
        let r = parse("oci://127.0.0.1:5000/kits/app:2026.12").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "kits/app");
        assert_eq!(r.tag.as_deref(), Some("2026.12"));
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/kits/app:2026.12");

        let r = parse("oci://registry.example/app").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert!(!r.is_loopback());
        let digest = format!("sha256:{}", "A".repeat(64));
        let r = parse(&format!("oci://[::1]:5000/app@{digest}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest, Some(format!("sha256:{}", "a".repeat(64))));
        assert!(r.is_loopback());
        assert!(parse("oci://localhost/a/b:t").unwrap().is_loopback());
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for (text, says) in [
            ("127.0.0.1:5000/app:1", "starts with oci://"),
            ("oci://app", "no repository"),
            ("oci://host/App:1", "lower-case"),
            ("oci://host/app:-x", "a tag is"),
            ("oci://host/app@sha1:abc", "sha256:HEX"),
            ("oci://host/app@sha256:abc", "64 hexadecimal"),
            ("oci://user@host/app", "HOST or HOST:PORT"),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn pulled_files_are_named_after_the_output_only() {
        assert_eq!(
            destinations(Path::new("out/kit.tar.zst"), 1, false),
            vec![PathBuf::from("out/kit.tar.zst")]
        );
        assert_eq!(
            destinations(Path::new("kit"), 2, true),
            vec![
                PathBuf::from("kit.001"),
                PathBuf::from("kit.002"),
                PathBuf::from("kit.sha256")
            ]
        );
    }

    fn artifact(artifact_type: Option<&str>, layers: Vec<OciDescriptor>) -> OciImageManifest {
        OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.into()),
            config: descriptor(EMPTY_MEDIA_TYPE, sha256_of_bytes(b"{}"), 2, None),
            layers,
            subject: None,
            artifact_type: artifact_type.map(str::to_string),
            annotations: None,
        }
    }

    #[test]
    fn only_airlock_bundles_are_pulled() {
        let layer = |media: &str| descriptor(media, sha256_of_bytes(media.as_bytes()), 1, None);
        let good = artifact(
            Some(ARTIFACT_TYPE),
            vec![layer(MANIFEST_MEDIA_TYPE), layer(VOLUME_MEDIA_TYPE)],
        );
        let (_, volumes, sums) = bundle_layers(&good, "r").unwrap();
        assert_eq!((volumes.len(), sums.is_none()), (1, true));

        let image = artifact(None, vec![layer(VOLUME_MEDIA_TYPE)]);
        assert!(
            bundle_layers(&image, "r")
                .unwrap_err()
                .to_string()
                .contains("artifactType")
        );
        let no_manifest = artifact(Some(ARTIFACT_TYPE), vec![layer(VOLUME_MEDIA_TYPE)]);
        assert!(
            bundle_layers(&no_manifest, "r")
                .unwrap_err()
                .to_string()
                .contains("manifest layer")
        );
        let split_without_sums = artifact(
            Some(ARTIFACT_TYPE),
            vec![
                layer(MANIFEST_MEDIA_TYPE),
                layer(VOLUME_MEDIA_TYPE),
                layer(VOLUME_MEDIA_TYPE),
            ],
        );
        assert!(
            bundle_layers(&split_without_sums, "r")
                .unwrap_err()
                .to_string()
                .contains("sums")
        );
    }
}
