//! A fake package index on 127.0.0.1 for the end-to-end tests.
//!
//! Scenarios are small TOML documents listing packages; wheels are built in memory (a real zip
//! with METADATA, WHEEL and RECORD). The server speaks just enough HTTP/1.1, serves PEP 691 JSON
//! or PEP 503 HTML by the Accept header, PEP 658 metadata files, and injects faults per path.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScenarioPackage {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub requires_dist: Vec<String>,
    /// Wheel tags, e.g. `py3-none-any` (the default) or `cp312-cp312-manylinux_2_17_x86_64`.
    #[serde(default)]
    pub tags: Vec<String>,
    pub requires_python: Option<String>,
    #[serde(default)]
    pub yanked: bool,
    /// Serve a PEP 658 metadata file next to the wheel (default true).
    pub metadata_file: Option<bool>,
    /// Also list an sdist.
    #[serde(default)]
    pub sdist: bool,
    /// Extra stored (uncompressed) bytes inside the wheel, to make it large.
    #[serde(default)]
    pub padding: usize,
    /// More entry names to put in the wheel (for hostile wheels: `../evil.txt`).
    #[serde(default)]
    pub extra_entries: Vec<String>,
}

/// Parses one `[[package]]` of scenario TOML (for tests that build a wheel by hand).
pub fn scenario_package(toml_text: &str) -> ScenarioPackage {
    toml::from_str(toml_text).expect("package TOML")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[serde(rename = "package")]
    packages: Vec<ScenarioPackage>,
}

/// A fault the server injects on one path.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and Retry-After) this many times, then normally.
    Status {
        status: u16,
        retry_after: Option<String>,
        times: usize,
    },
    /// Serve the project page as HTML whatever the Accept header says.
    HtmlOnly,
    /// Serve an HTML error page labelled as PEP 691 JSON.
    HtmlAsJson,
    /// Advertise a metadata hash that does not match the metadata file.
    WrongMetadataHash,
    /// Answer ranged requests with the whole file (200), as some servers do.
    IgnoreRange,
    /// Answer ranged requests with `206` but the whole file, labelled with this
    /// Content-Range (a broken cache or proxy).
    MisplacedRange { content_range: String },
    /// Announce the full length, send only `keep` bytes of the answer, then close; `times`
    /// answers like that, then normal ones.
    CutShort { keep: usize, times: usize },
    /// Send the body in 16 KiB pieces with this pause between them.
    Slow { pause_ms: u64 },
    /// Redirect the path to itself.
    RedirectLoop,
    /// Serve an HTML page (text/html) instead of the file.
    HtmlPage,
}

struct File {
    body: Vec<u8>,
    content_type: &'static str,
}

/// One file on a project page: (filename, sha256, requires-python, yanked, metadata sha256).
type Listing = (String, String, Option<String>, bool, Option<String>);

/// The size of a served file.
fn size_of(files: &HashMap<String, File>, filename: &str) -> usize {
    files
        .get(&format!("/files/{filename}"))
        .map_or(0, |f| f.body.len())
}

#[derive(Default)]
struct State {
    projects: HashMap<String, Vec<Listing>>,
    /// Project pages written by a test, served as they are: (content type, body).
    pages: HashMap<String, (String, Vec<u8>)>,
    files: HashMap<String, File>,
    faults: HashMap<String, Fault>,
    requests: Vec<String>,
    /// Files answered 206 (a range) and 200 (whole), by path.
    partial_responses: Vec<String>,
    full_responses: Vec<String>,
}

pub struct FakeIndex {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if matches!(c, '_' | '.') {
            '-'
        } else {
            c.to_ascii_lowercase()
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// URL-safe base64 without padding, as RECORD writes digests.
pub fn urlsafe_b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = String::new();
    for byte in bytes {
        bits = (bits << 8) | u32::from(*byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(ALPHABET[((bits >> count) & 63) as usize] as char);
        }
    }
    if count > 0 {
        out.push(ALPHABET[((bits << (6 - count)) & 63) as usize] as char);
    }
    out
}

/// A small but real wheel.
pub fn build_wheel(package: &ScenarioPackage, tag: &str) -> (String, Vec<u8>, Vec<u8>) {
    let dist_name = normalize(&package.name).replace('-', "_");
    let filename = format!("{dist_name}-{}-{tag}.whl", package.version);
    let mut metadata = format!(
        "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
        package.name, package.version
    );
    if let Some(requires_python) = &package.requires_python {
        metadata.push_str(&format!("Requires-Python: {requires_python}\n"));
    }
    for requirement in &package.requires_dist {
        metadata.push_str(&format!("Requires-Dist: {requirement}\n"));
    }
    // Declare every extra the markers use, as build backends do.
    let mut extras: Vec<&str> = package
        .requires_dist
        .iter()
        .filter_map(|r| {
            r.split_once("extra == ")
                .map(|(_, rest)| rest.trim_matches(|c| c == '\'' || c == '"'))
        })
        .collect();
    extras.sort_unstable();
    extras.dedup();
    for extra in extras {
        metadata.push_str(&format!("Provides-Extra: {extra}\n"));
    }
    let dist_info = format!("{dist_name}-{}.dist-info", package.version);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let module = format!("{dist_name}/__init__.py");
    let mut files: Vec<(String, Vec<u8>, bool)> =
        vec![
        (
            module.clone(),
            format!("VERSION = {:?}\n", package.version).into_bytes(),
            false,
        ),
        (format!("{dist_info}/METADATA"), metadata.clone().into_bytes(), false),
        (
            format!("{dist_info}/WHEEL"),
            format!(
                "Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
            )
            .into_bytes(),
            false,
        ),
    ];
    for name in &package.extra_entries {
        files.push((name.clone(), b"planted".to_vec(), false));
    }
    if package.padding > 0 {
        // A cheap pseudo-random sequence, so the bytes are not all alike; stored, not deflated.
        let mut state: u32 = 0x9e37_79b9;
        let data: Vec<u8> = (0..package.padding)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        files.push((format!("{dist_name}/data.bin"), data, true));
    }
    // A true RECORD (PEP 376): every file with its sha256 and size, RECORD itself unhashed.
    let mut record = String::new();
    for (name, content, _) in &files {
        record.push_str(&format!(
            "{name},sha256={},{}\n",
            urlsafe_b64(&Sha256::digest(content)),
            content.len()
        ));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    files.push((format!("{dist_info}/RECORD"), record.into_bytes(), false));
    for (name, content, stored) in &files {
        let options = if *stored {
            options.compression_method(zip::CompressionMethod::Stored)
        } else {
            options
        };
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(content).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    (filename, bytes, metadata.into_bytes())
}

impl FakeIndex {
    pub fn start(scenario: &str) -> FakeIndex {
        let scenario: Scenario = toml::from_str(scenario).expect("scenario TOML");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut state = State::default();
        for package in &scenario.packages {
            let tags = if package.tags.is_empty() {
                vec!["py3-none-any".to_string()]
            } else {
                package.tags.clone()
            };
            let project = state.projects.entry(normalize(&package.name)).or_default();
            for tag in &tags {
                let (filename, wheel, metadata) = build_wheel(package, tag);
                let serve_metadata = package.metadata_file.unwrap_or(true);
                let metadata_hash = serve_metadata.then(|| sha256_hex(&metadata));
                project.push((
                    filename.clone(),
                    sha256_hex(&wheel),
                    package.requires_python.clone(),
                    package.yanked,
                    metadata_hash,
                ));
                if serve_metadata {
                    state.files.insert(
                        format!("/files/{filename}.metadata"),
                        File {
                            body: metadata,
                            content_type: "application/octet-stream",
                        },
                    );
                }
                state.files.insert(
                    format!("/files/{filename}"),
                    File {
                        body: wheel,
                        content_type: "application/octet-stream",
                    },
                );
            }
            if package.sdist {
                let filename = format!("{}-{}.tar.gz", normalize(&package.name), package.version);
                let body = format!("sdist of {}", package.name).into_bytes();
                project.push((filename.clone(), sha256_hex(&body), None, false, None));
                state.files.insert(
                    format!("/files/{filename}"),
                    File {
                        body,
                        content_type: "application/octet-stream",
                    },
                );
            }
        }
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_state, thread_stop) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = thread_state.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        FakeIndex {
            url: format!("http://127.0.0.1:{port}/simple/"),
            state,
            stop,
            port,
        }
    }

    /// Lists `filename` on `project`'s page (with its sha256) and serves `bytes` for it.
    pub fn publish(&self, project: &str, filename: &str, bytes: Vec<u8>) {
        let mut state = self.state.lock().unwrap();
        state.projects.entry(normalize(project)).or_default().push((
            filename.to_string(),
            sha256_hex(&bytes),
            None,
            false,
            None,
        ));
        state.files.insert(
            format!("/files/{filename}"),
            File {
                body: bytes,
                content_type: "application/octet-stream",
            },
        );
    }

    /// Serves `body` as the project page at `path` (`/simple/name/`), labelled `content_type`,
    /// instead of the page the scenario would make: for pages no honest index writes.
    pub fn serve_page(&self, path: &str, content_type: &str, body: &str) {
        self.state.lock().unwrap().pages.insert(
            path.to_string(),
            (content_type.to_string(), body.as_bytes().to_vec()),
        );
    }

    /// Serves `bytes` at `path` (for repositories other than the Python index).
    pub fn serve(&self, path: &str, bytes: Vec<u8>) {
        self.state.lock().unwrap().files.insert(
            path.to_string(),
            File {
                body: bytes,
                content_type: "application/octet-stream",
            },
        );
    }

    /// Serves every file under `from` under `to` as well (a mirror serving one suite under
    /// another name).
    pub fn copy_tree(&self, from: &str, to: &str) {
        let mut state = self.state.lock().unwrap();
        let copies: Vec<(String, Vec<u8>)> = state
            .files
            .iter()
            .filter_map(|(path, file)| {
                path.strip_prefix(from)
                    .map(|rest| (format!("{to}{rest}"), file.body.clone()))
            })
            .collect();
        for (path, body) in copies {
            state.files.insert(
                path,
                File {
                    body,
                    content_type: "application/octet-stream",
                },
            );
        }
    }

    /// The server's root URL.
    pub fn root(&self) -> String {
        self.url.trim_end_matches("simple/").to_string()
    }

    pub fn clear_fault(&self, path: &str) {
        self.state.lock().unwrap().faults.remove(path);
    }

    pub fn fault(&self, path: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .insert(path.to_string(), fault);
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// How many times `path` was answered with a range (206) and with the whole file (200).
    pub fn file_responses(&self, path: &str) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        let count = |list: &Vec<String>| list.iter().filter(|p| *p == path).count();
        (
            count(&state.partial_responses),
            count(&state.full_responses),
        )
    }

    pub fn wheel_sha256(&self, filename: &str) -> String {
        sha256_hex(&self.state.lock().unwrap().files[&format!("/files/{filename}")].body)
    }
}

impl Drop for FakeIndex {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so the thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut accept = String::new();
    let mut range: Option<String> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("accept") {
                accept = value.trim().to_string();
            } else if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut state = state.lock().unwrap();
    state.requests.push(match &range {
        Some(range) => format!("{path} [{range}]"),
        None => path.clone(),
    });
    let fault = state.faults.get(&path).cloned();
    if let Some(Fault::Status {
        status,
        retry_after,
        times,
    }) = &fault
        && *times > 0
    {
        let headers: Vec<(&str, String)> = retry_after
            .iter()
            .map(|value| ("Retry-After", value.clone()))
            .collect();
        state.faults.insert(
            path.clone(),
            Fault::Status {
                status: *status,
                retry_after: retry_after.clone(),
                times: times - 1,
            },
        );
        drop(state);
        respond(&mut stream, *status, &headers, b"fault injected");
        return;
    }
    if let Some((content_type, body)) = state.pages.get(&path).cloned() {
        drop(state);
        respond(&mut stream, 200, &[("Content-Type", content_type)], &body);
        return;
    }
    if let Some(project) = path
        .strip_prefix("/simple/")
        .and_then(|rest| rest.strip_suffix('/'))
    {
        let Some(files) = state.projects.get(project) else {
            drop(state);
            respond(&mut stream, 404, &[], b"not found");
            return;
        };
        let wrong_hash = matches!(fault, Some(Fault::WrongMetadataHash));
        let json =
            accept.contains("vnd.pypi.simple.v1+json") && !matches!(fault, Some(Fault::HtmlOnly));
        if matches!(fault, Some(Fault::HtmlAsJson)) {
            drop(state);
            respond(
                &mut stream,
                200,
                &[("Content-Type", "application/vnd.pypi.simple.v1+json".into())],
                b"<html><body>proxy error</body></html>",
            );
            return;
        }
        let metadata_hash = |hash: &Option<String>| {
            hash.as_ref().map(|h| {
                if wrong_hash {
                    "0".repeat(64)
                } else {
                    h.clone()
                }
            })
        };
        let (body, content_type) = if json {
            let files: Vec<serde_json::Value> = files
                .iter()
                .map(|(filename, sha, requires_python, yanked, metadata)| {
                    let mut file = serde_json::json!({
                        "filename": filename,
                        "url": format!("../../files/{filename}"),
                        "hashes": {"sha256": sha},
                        "yanked": yanked,
                        "upload-time": "2024-01-02T03:04:05.000006Z",
                        "size": size_of(&state.files, filename),
                    });
                    if let Some(requires_python) = requires_python {
                        file["requires-python"] = requires_python.clone().into();
                    }
                    if let Some(hash) = metadata_hash(metadata) {
                        file["core-metadata"] = serde_json::json!({"sha256": hash});
                    }
                    file
                })
                .collect();
            let page = serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "files": files});
            (page.to_string(), "application/vnd.pypi.simple.v1+json")
        } else {
            let mut html = String::from("<!DOCTYPE html><html><body>\n");
            for (filename, sha, requires_python, yanked, metadata) in files {
                let mut attributes = String::new();
                if let Some(requires_python) = requires_python {
                    attributes.push_str(&format!(
                        " data-requires-python=\"{}\"",
                        requires_python.replace('>', "&gt;").replace('<', "&lt;")
                    ));
                }
                if *yanked {
                    attributes.push_str(" data-yanked=\"\"");
                }
                if let Some(hash) = metadata_hash(metadata) {
                    attributes.push_str(&format!(" data-core-metadata=\"sha256={hash}\""));
                }
                html.push_str(&format!(
                    "<a href=\"/files/{filename}#sha256={sha}\"{attributes}>{filename}</a><br/>\n"
                ));
            }
            html.push_str("</body></html>\n");
            (html, "text/html")
        };
        drop(state);
        respond(
            &mut stream,
            200,
            &[("Content-Type", content_type.into())],
            body.as_bytes(),
        );
        return;
    }
    let file = state
        .files
        .get(&path)
        .map(|file| (file.body.clone(), file.content_type));
    let Some((body, content_type)) = file else {
        drop(state);
        respond(&mut stream, 404, &[], b"not found");
        return;
    };
    match &fault {
        Some(Fault::RedirectLoop) => {
            drop(state);
            respond(&mut stream, 302, &[("Location", path.clone())], b"");
            return;
        }
        Some(Fault::HtmlPage) => {
            drop(state);
            respond(
                &mut stream,
                200,
                &[("Content-Type", "text/html".into())],
                b"<html><body>Please log in</body></html>",
            );
            return;
        }
        Some(Fault::CutShort { keep, times }) if *times > 0 => {
            state.faults.insert(
                path.clone(),
                Fault::CutShort {
                    keep: *keep,
                    times: times - 1,
                },
            );
        }
        _ => {}
    }
    let cut = match &fault {
        Some(Fault::CutShort { keep, times }) if *times > 0 => Some(*keep),
        _ => None,
    };
    let pause = match &fault {
        Some(Fault::Slow { pause_ms }) => Some(std::time::Duration::from_millis(*pause_ms)),
        _ => None,
    };
    let honour_range = !matches!(
        fault,
        Some(Fault::IgnoreRange | Fault::MisplacedRange { .. })
    );
    let misplaced = match (&fault, &range) {
        (Some(Fault::MisplacedRange { content_range }), Some(_)) => Some(content_range.clone()),
        _ => None,
    };
    let (status, start, end) = match range
        .as_deref()
        .filter(|_| honour_range)
        .and_then(|r| byte_range(r, body.len()))
    {
        Some((start, end)) => {
            state.partial_responses.push(path.clone());
            (206, start, end)
        }
        None => {
            state.full_responses.push(path.clone());
            (200, 0, body.len().saturating_sub(1))
        }
    };
    drop(state);
    let answer = if body.is_empty() {
        &body[..]
    } else {
        &body[start..=end]
    };
    let mut headers = vec![("Content-Type", content_type.to_string())];
    let status = if let Some(content_range) = misplaced {
        headers.push(("Content-Range", content_range));
        206
    } else {
        status
    };
    if status == 206 && !headers.iter().any(|(name, _)| *name == "Content-Range") {
        headers.push((
            "Content-Range",
            format!("bytes {start}-{end}/{}", body.len()),
        ));
    }
    let reason = if status == 206 {
        "Partial Content"
    } else {
        "OK"
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.len()
    );
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let sent = cut.map_or(answer.len(), |keep| keep.min(answer.len()));
    for piece in answer[..sent].chunks(16 * 1024) {
        if stream.write_all(piece).is_err() {
            return;
        }
        if let Some(pause) = pause {
            let _ = stream.flush();
            std::thread::sleep(pause);
        }
    }
    // Dropping the stream closes it: a cut answer ends early.
}

/// `bytes=-N` or `bytes=A-B` against a body of `len` bytes, as inclusive offsets.
fn byte_range(range: &str, len: usize) -> Option<(usize, usize)> {
    let spec = range.strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    if start.is_empty() {
        let suffix: usize = end.parse().ok()?;
        return Some((len.saturating_sub(suffix), len - 1));
    }
    let start: usize = start.parse().ok()?;
    let end: usize = if end.is_empty() {
        len - 1
    } else {
        end.parse::<usize>().ok()?.min(len - 1)
    };
    (start <= end).then_some((start, end))
}

/// A project directory for one test, with its own cache.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(relative)).unwrap()
    }

    /// `airlock` in the project, isolated from the host's index settings and cache.
    pub fn airlock(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command())
    }

    /// The same, as a plain process (for tests that signal it).
    pub fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("airlock"));
        command
            .current_dir(self.dir.path())
            .env("AIRLOCK_CACHE_DIR", self.dir.path().join(".cache"))
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_DIRS", self.dir.path())
            .env_remove("PIP_INDEX_URL")
            .env_remove("UV_INDEX_URL")
            .env_remove("UV_DEFAULT_INDEX")
            .env_remove("PIP_EXTRA_INDEX_URL")
            .env_remove("UV_EXTRA_INDEX_URL")
            .env_remove("PIP_CONFIG_FILE")
            .env_remove("VIRTUAL_ENV")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("all_proxy")
            // The host's own pip configuration must not reach the tests' pip and index choice.
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("PIP_FIND_LINKS")
            .env_remove("PIP_NO_INDEX")
            // Trust comes from the system store unless a test names a CA file.
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        command
    }
}

impl Project {
    /// Runs `airlock ARGS…` and expects exit `code`.
    fn output_of(&self, args: &[&str], code: i32) -> std::process::Output {
        self.airlock()
            .args(args)
            .assert()
            .code(code)
            .get_output()
            .clone()
    }

    /// Runs `airlock ARGS…`, expects exit `code`, and returns stdout.
    pub fn stdout_of(&self, args: &[&str], code: i32) -> String {
        text(&self.output_of(args, code).stdout)
    }

    /// `airlock export --format requirements-txt -o FILE` (the file the example's Dockerfile
    /// installs), expected to succeed.
    pub fn export_to(&self, file: &str) {
        self.stdout_of(&["export", "--format", "requirements-txt", "-o", file], 0);
    }

    /// Runs `airlock ARGS…`, expects exit `code`, and returns stderr.
    pub fn stderr_of(&self, args: &[&str], code: i32) -> String {
        text(&self.output_of(args, code).stderr)
    }
}

/// Says why a test cannot run on this machine. With `AIRLOCK_TESTS_NO_SKIP=1` (as `.ci/run`
/// sets it) that is a failure instead: a green CI run must have run every test.
#[track_caller]
pub fn skip(reason: &str) {
    if std::env::var_os("AIRLOCK_TESTS_NO_SKIP").is_some_and(|v| v == "1") {
        panic!("this test would be skipped ({reason}), and AIRLOCK_TESTS_NO_SKIP=1 forbids skips");
    }
    eprintln!("skipped: {reason}");
}

/// Asserts that `text` contains every needle, showing `text` on failure.
#[track_caller]
pub fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }
}

/// Reads the whole output of a finished command as text.
pub fn text(bytes: &[u8]) -> String {
    let mut out = String::new();
    let _ = bytes.take(1 << 20).read_to_string(&mut out);
    out
}

/// A `.tar.gz` whose entries are (path, contents); a contents starting with `->` makes a
/// symbolic link to the rest. Names are written raw, so hostile names survive.
pub fn tar_gz(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, contents) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_mode(0o644);
        header.set_mtime(0);
        if let Some(target) = contents.strip_prefix("->") {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_link_name(target).unwrap();
            header.set_cksum();
            builder.append(&header, std::io::empty()).unwrap();
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(contents.len() as u64);
            header.set_cksum();
            builder.append(&header, contents.as_bytes()).unwrap();
        }
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// A PEP 517 backend written for the tests, shipped inside each test sdist (`backend-path`),
/// driven by the sdist's `build.json`: what `get_requires_for_build_wheel` returns, the
/// Requires-Dist it computes, and whether it can reach `probe` (to prove builds run offline).
pub const TINY_BACKEND: &str = r#"
import base64, hashlib, json, os, socket, zipfile
CONF = json.load(open("build.json"))
DIST = CONF["name"].replace("-", "_")

def get_requires_for_build_wheel(config_settings=None):
    import time
    time.sleep(CONF.get("sleep", 0))
    return CONF.get("requires", [])

def _metadata():
    lines = ["Metadata-Version: 2.1", "Name: " + CONF["name"], "Version: " + CONF["version"]]
    lines += ["Requires-Dist: " + r for r in CONF.get("requires_dist", [])]
    probe = CONF.get("probe")
    if probe:
        try:
            socket.create_connection(("127.0.0.1", probe), timeout=2).close()
            lines.append("Requires-Dist: network-was-reachable")
        except OSError:
            pass
    return "\n".join(lines) + "\n"

def _dist_info():
    return "%s-%s.dist-info" % (DIST, CONF["version"])

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    if CONF.get("fail"):
        raise RuntimeError(CONF["fail"])
    path = os.path.join(metadata_directory, _dist_info())
    os.makedirs(path)
    with open(os.path.join(path, "METADATA"), "w") as out:
        out.write(_metadata())
    return _dist_info()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "%s-%s-py3-none-any.whl" % (DIST, CONF["version"])
    info = _dist_info()
    files = {
        DIST + "/__init__.py": "",
        info + "/METADATA": _metadata(),
        info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: tiny\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, text in files.items():
            data = text.encode()
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
        record.append(info + "/RECORD,,")
        archive.writestr(info + "/RECORD", "\n".join(record) + "\n")
    return name
"#;

/// An sdist built with [`TINY_BACKEND`]: `pkg_info` is its PKG-INFO (static or not), `conf`
/// the JSON that drives the backend.
pub fn tiny_sdist(name: &str, version: &str, pkg_info: &str, conf: &serde_json::Value) -> Vec<u8> {
    let top = format!("{}-{version}", name.replace('-', "_"));
    let pyproject =
        "[build-system]\nrequires = []\nbuild-backend = \"tiny_backend\"\nbackend-path = [\".\"]\n";
    tar_gz(&[
        (&format!("{top}/PKG-INFO"), pkg_info),
        (&format!("{top}/pyproject.toml"), pyproject),
        (&format!("{top}/tiny_backend.py"), TINY_BACKEND),
        (&format!("{top}/build.json"), &conf.to_string()),
    ])
}

/// Whether this machine can run the host builds these tests need: python3 with pip, glibc.
pub fn host_can_build() -> bool {
    std::process::Command::new("python3")
        .args([
            "-c",
            "import pip, platform; assert platform.libc_ver()[0] == 'glibc'",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `unshare -n` works here (builds then run with no network).
pub fn can_unshare_network() -> bool {
    std::process::Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A TLS front for a [`FakeIndex`], with a certificate from a private CA — what a
/// corporate proxy that intercepts TLS presents. Each connection is decrypted, its one
/// request passed to the plain index, and the answer (the index closes after one) sent back.
pub struct TlsFront {
    pub url: String,
    /// The private CA's certificate (PEM), which no system store trusts.
    pub ca_pem: String,
}

impl TlsFront {
    pub fn start(backend: &FakeIndex) -> TlsFront {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "airlock test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let backend_port = backend.port;
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let config = config.clone();
                std::thread::spawn(move || relay(stream, config, backend_port));
            }
        });
        TlsFront {
            url: format!("https://127.0.0.1:{port}/simple/"),
            ca_pem: ca_cert.pem(),
        }
    }
}

fn relay(stream: TcpStream, config: Arc<rustls::ServerConfig>, backend_port: u16) {
    let connection = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, stream);
    // The request head ends at the blank line; the index is only ever sent GETs.
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => request.push(byte[0]),
            // A client that refuses the certificate hangs up here.
            _ => return,
        }
    }
    let mut plain = TcpStream::connect(("127.0.0.1", backend_port)).unwrap();
    plain.write_all(&request).unwrap();
    let mut response = Vec::new();
    plain.read_to_end(&mut response).unwrap();
    let _ = tls.write_all(&response);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
