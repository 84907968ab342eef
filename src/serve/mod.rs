//! `airlock serve`: the far side's package index and apt repository over read-only HTTP.
//! `/simple/` is a PEP 503/691 index of the locked files (content negotiation, sha256,
//! requires-python, PEP 658/714 metadata), `/files/` the files, `/apt/` the local apt
//! repository as published. Range requests, ETag/If-None-Match and HEAD; one log line per
//! request; graceful shutdown.

pub mod catalogue;
pub mod memory;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response, StatusCode, header};

pub use catalogue::{Catalogue, CatalogueError};
use catalogue::{PageFormat, negotiate, normalize, project_page, root_page};
use memory::{Held, MemoryCache};

type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn status(code: StatusCode, message: &str) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(format!("{message}\n")))
        .expect("a valid response")
}

/// A range that cannot be satisfied: the answer is 416.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A `Range: bytes=…` header against a file of `size` bytes: `Ok(None)` for the whole file,
/// `Ok(Some((first, last)))` for one range, `Err(Unsatisfiable)` for a 416.
/// Several ranges are answered with the whole file (allowed, and what simple servers do).
pub fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().map_err(|_| Unsatisfiable)?;
        if suffix == 0 {
            return Err(Unsatisfiable);
        }
        (
            size.saturating_sub(suffix),
            size.checked_sub(1).ok_or(Unsatisfiable)?,
        )
    } else {
        let first: u64 = start.parse().map_err(|_| Unsatisfiable)?;
        let last = if end.is_empty() {
            size.checked_sub(1).ok_or(Unsatisfiable)?
        } else {
            end.parse::<u64>()
                .map_err(|_| Unsatisfiable)?
                .min(size.saturating_sub(1))
        };
        (first, last)
    };
    if range.0 >= size || range.0 > range.1 {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

async fn file_response(
    request: &Request<hyper::body::Incoming>,
    url_path: &str,
    served: &catalogue::ServedFile,
    memory: &MemoryCache,
) -> Response<Body> {
    let etag = format!("\"{}\"", served.sha256);
    let matches = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, &etag)
            .body(full(Bytes::new()))
            .expect("a valid response");
    }
    let range = match request
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(value) => match parse_range(value, served.size) {
            Ok(range) => range,
            Err(Unsatisfiable) => {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{}", served.size))
                    .body(full(Bytes::new()))
                    .expect("a valid response");
            }
        },
        None => None,
    };
    let (first, length) = match range {
        Some((first, last)) => (first, last - first + 1),
        None => (0, served.size),
    };
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, served.content_type)
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag);
    if let Some((first, last)) = range {
        builder = builder.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{}", served.size),
        );
    }
    if request.method() == Method::HEAD {
        return builder.body(full(Bytes::new())).expect("a valid response");
    }
    match memory.get(url_path, served).await {
        Held::Bytes(bytes) => {
            let end = (first + length) as usize;
            return builder
                .body(full(bytes.slice(first as usize..end)))
                .expect("a valid response");
        }
        Held::Refused(problem) => return status(StatusCode::INTERNAL_SERVER_ERROR, &problem),
        Held::Stream => {}
    }
    let file = match tokio::fs::File::open(&served.path).await {
        Ok(file) => file,
        Err(error) => {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot read the file: {error}"),
            );
        }
    };
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = file;
    if first > 0
        && let Err(error) = file.seek(std::io::SeekFrom::Start(first)).await
    {
        return status(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string());
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(length), 1024 * 1024);
    let body = StreamBody::new(futures::StreamExt::map(stream, |chunk| {
        chunk.map(Frame::data)
    }));
    builder.body(body.boxed()).expect("a valid response")
}

/// Answers one request.
pub async fn answer(
    catalogue: &Catalogue,
    memory: &MemoryCache,
    request: &Request<hyper::body::Incoming>,
) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = status(StatusCode::METHOD_NOT_ALLOWED, "read-only: GET and HEAD");
        response
            .headers_mut()
            .insert(header::ALLOW, "GET, HEAD".parse().expect("a valid header"));
        return response;
    }
    let Some(clean) = request_path(request.uri().path()) else {
        return status(StatusCode::NOT_FOUND, "not found");
    };
    let path = clean.as_str();
    if let Some(served) = catalogue.files.get(path) {
        return file_response(request, path, served, memory).await;
    }
    if let Some(bytes) = catalogue.metadata.get(path) {
        let body = if request.method() == Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from(bytes.clone())
        };
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(header::CONTENT_LENGTH, bytes.len())
            .body(full(body))
            .expect("a valid response");
    }
    let Some(rest) = path.strip_prefix("/simple") else {
        return status(StatusCode::NOT_FOUND, "not found");
    };
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let Some(format) = negotiate(accept) else {
        return status(
            StatusCode::NOT_ACCEPTABLE,
            "this index serves application/vnd.pypi.simple.v1+json and +html",
        );
    };
    let content_type = match format {
        PageFormat::Json => catalogue::JSON_TYPE,
        PageFormat::Html => "text/html; charset=utf-8",
    };
    let page = match rest.trim_matches('/') {
        "" if rest.ends_with('/') => root_page(catalogue, format),
        "" => return redirect("/simple/"),
        name if !name.contains('/') => {
            let normalized = normalize(name);
            if normalized != name || !rest.ends_with('/') {
                return redirect(&format!("/simple/{normalized}/"));
            }
            match catalogue.projects.get(name) {
                Some(files) => project_page(name, files, format),
                None => return status(StatusCode::NOT_FOUND, "no such project in the locks"),
            }
        }
        _ => return status(StatusCode::NOT_FOUND, "not found"),
    };
    let length = page.len();
    let body = if request.method() == Method::HEAD {
        String::new()
    } else {
        page
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, length)
        .header(header::VARY, "Accept")
        .body(full(body))
        .expect("a valid response")
}

/// A request path as the catalogue names files: percent-escapes decoded (apt writes `+` as
/// `%2b`), `.` segments dropped (apt asks for `/apt/./Packages` for a flat repository);
/// `None` for `..`, a NUL or bad escapes.
pub fn request_path(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    let text = String::from_utf8(decoded).ok()?;
    if text.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "." => {}
            ".." => return None,
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

fn redirect(to: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header(header::LOCATION, to)
        .body(full(Bytes::new()))
        .expect("a valid response")
}

/// Serves until `shutdown` resolves, then lets open connections finish (at most 10 s). Up to
/// `memory_budget` bytes of files are held in memory once asked for (`memory`).
pub async fn run(
    catalogue: Arc<Catalogue>,
    memory_budget: u64,
    listener: tokio::net::TcpListener,
    log: bool,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let memory = Arc::new(MemoryCache::new(&catalogue.files, memory_budget));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors or a reset before accept: go on serving the others.
                Err(error) => {
                    if log {
                        eprintln!("accept failed: {error}");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let catalogue = catalogue.clone();
        let memory = memory.clone();
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let catalogue = catalogue.clone();
                let memory = memory.clone();
                async move {
                    let started = std::time::Instant::now();
                    let response = answer(&catalogue, &memory, &request).await;
                    if log {
                        log_line(&peer, &request, &response, started);
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

fn log_line(
    peer: &SocketAddr,
    request: &Request<hyper::body::Incoming>,
    response: &Response<Body>,
    started: std::time::Instant,
) {
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    eprintln!(
        "{peer} {} {} {} {length} {:.1}ms",
        request.method(),
        request.uri().path(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
}

#[cfg(test)]
mod tests {
    use super::{Unsatisfiable, parse_range};

    #[test]
    fn request_paths_are_decoded_and_dot_segments_dropped() {
        use super::request_path;
        assert_eq!(
            request_path("/apt/./Packages").as_deref(),
            Some("/apt/Packages")
        );
        assert_eq!(
            request_path("/apt/curl_7.88.1-10%2bdeb12u5_amd64.deb").as_deref(),
            Some("/apt/curl_7.88.1-10+deb12u5_amd64.deb")
        );
        assert_eq!(request_path("/simple/").as_deref(), Some("/simple/"));
        assert_eq!(request_path("/files/../airlock.toml"), None);
        assert_eq!(request_path("/files/%2e%2e/x"), None);
        assert_eq!(request_path("/files/%zz"), None);
        assert_eq!(request_path("/a%00b"), None);
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some((990, 999))));
        assert_eq!(parse_range("bytes=1000-", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=5-2", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(parse_range("items=0-1", 1000), Ok(None));
        assert_eq!(parse_range("bytes=0-", 0), Err(Unsatisfiable));
    }
}
