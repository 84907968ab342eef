//! The only module that touches reqwest: the HTTP client, the retry policy and the HTTP cache.
//!
//! TLS verifies against the system's trust store (rustls' platform verifier, which reads the
//! OS store and honours `SSL_CERT_FILE`/`SSL_CERT_DIR`), so a corporate TLS-intercepting proxy's
//! root works. Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY`.

pub mod cache;
pub mod download;
pub mod retry;

use std::time::{Duration, SystemTime};

use url::Url;

pub use retry::{RetryDecision, RetryPolicy};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{url}: the server's TLS certificate was refused ({reason}); if a proxy on this network \
         intercepts TLS, add its CA to the system's trust store or name the CA file in \
         SSL_CERT_FILE"
    )]
    Certificate { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} asked to retry after {seconds} s, longer than the {limit} s airlock waits")]
    RetryAfterTooLong {
        url: String,
        seconds: u64,
        limit: u64,
    },
    #[error("{url} is not in the cache and --offline forbids the network; run once online first")]
    NotCached { url: String },
    #[error("cache I/O failed at {path}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A URL fit for messages and lockfiles: user name and password removed.
pub fn redact(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

/// Redacts credentials in a URL given as text; text that is not a URL passes unchanged.
pub fn redact_str(url: &str) -> String {
    Url::parse(url).map_or_else(|_| url.to_string(), |u| redact(&u))
}

pub const USER_AGENT: &str = concat!("airlock/", env!("CARGO_PKG_VERSION"));

/// At most this many redirects are followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// Why a redirect to `next` must not be followed, given the URLs visited so far.
pub fn redirect_refusal(previous: &[Url], next: &Url) -> Option<&'static str> {
    if previous.len() >= MAX_REDIRECTS {
        return Some("too many redirects (more than 10)");
    }
    let from_https = previous.last().is_some_and(|url| url.scheme() == "https");
    if from_https && next.scheme() == "http" {
        return Some("refusing a redirect from https to http");
    }
    None
}

/// The shared client: connection pooling, HTTP/2 where offered, bounded redirects that never
/// downgrade from https to http.
pub fn client() -> Result<reqwest::Client, NetError> {
    // rustls needs a process-wide crypto provider; the only way installing it fails is that
    // one is installed already (by an earlier client), which is the one wanted.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        match redirect_refusal(attempt.previous(), attempt.url()) {
            Some(reason) => attempt.error(reason),
            None => attempt.follow(),
        }
    });
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(redirects)
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .map_err(NetError::Client)
}

/// Sends a GET with retries. `prepare` adds headers to each attempt.
pub async fn get_with_retry(
    client: &reqwest::Client,
    url: &Url,
    policy: &RetryPolicy,
    prepare: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, NetError> {
    let mut attempt = 0;
    loop {
        let outcome = prepare(client.get(url.clone())).send().await;
        let decision = match &outcome {
            Ok(response) => policy.decide(
                attempt,
                retry::Outcome::Status {
                    status: response.status().as_u16(),
                    retry_after: response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                },
                SystemTime::now(),
            ),
            // A refused certificate is refused again on every retry.
            Err(error) if tls_refusal(error).is_some() => RetryDecision::GiveUp,
            Err(error) if error.is_connect() || error.is_timeout() || error.is_request() => {
                policy.decide(attempt, retry::Outcome::Transport, SystemTime::now())
            }
            Err(_) => RetryDecision::GiveUp,
        };
        match decision {
            RetryDecision::Retry(delay) => {
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            RetryDecision::TooLong(seconds) => {
                return Err(NetError::RetryAfterTooLong {
                    url: redact(url),
                    seconds,
                    limit: policy.max_retry_after.as_secs(),
                });
            }
            RetryDecision::GiveUp | RetryDecision::Done => {
                return match outcome {
                    Ok(response) => Ok(response),
                    Err(source) if let Some(reason) = tls_refusal(&source) => {
                        Err(NetError::Certificate {
                            url: redact(url),
                            reason,
                        })
                    }
                    Err(source) => Err(NetError::Request {
                        url: redact(url),
                        source,
                    }),
                };
            }
        }
    }
}

/// What rustls said when it ended the handshake, if that is why `error` happened. rustls'
/// error travels inside `io::Error`s (nested two deep by the connector), whose `source()`
/// skips what they wrap, so each link is also opened through `io::Error::get_ref`.
pub(crate) fn tls_refusal(error: &reqwest::Error) -> Option<String> {
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = link {
        let mut inner = Some(current);
        while let Some(candidate) = inner {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return Some(tls.to_string());
            }
            inner = candidate
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|wrapped| wrapped as &(dyn std::error::Error + 'static));
        }
        link = current.source();
    }
    None
}

/// The body of a 2xx answer; any other status is an error naming the URL.
pub async fn success_body(response: reqwest::Response, url: &Url) -> Result<Vec<u8>, NetError> {
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(NetError::Status {
            url: redact(url),
            status,
        });
    }
    let bytes = response.bytes().await.map_err(|source| NetError::Request {
        url: redact(url),
        source,
    })?;
    // Bytes of a whole answer own their buffer: the Vec takes it without a copy.
    Ok(Vec::from(bytes))
}

/// The answer to a ranged GET.
#[derive(Debug)]
pub struct RangeBody {
    /// 206: the server honoured the range. Otherwise `bytes` is the whole file.
    pub partial: bool,
    /// The file's total length, from `Content-Range`.
    pub total: Option<u64>,
    pub bytes: Vec<u8>,
}

/// GET with a `Range` header (`bytes=-65536`, `bytes=100-199`). A server that ignores ranges
/// answers 200 with the whole file, which the caller must be ready for.
pub async fn get_range(
    client: &reqwest::Client,
    url: &Url,
    policy: &RetryPolicy,
    range: &str,
) -> Result<RangeBody, NetError> {
    let response = get_with_retry(client, url, policy, |request| {
        request
            .header(reqwest::header::RANGE, range)
            // A compressed body's ranges would be of the compressed bytes.
            .header(reqwest::header::ACCEPT_ENCODING, "identity")
    })
    .await?;
    let partial = response.status().as_u16() == 206;
    let total = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit_once('/'))
        .and_then(|(_, total)| total.parse().ok());
    let bytes = success_body(response, url).await?;
    Ok(RangeBody {
        partial,
        total,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_bounded_and_never_downgrade() {
        let url = |text: &str| Url::parse(text).unwrap();
        let https = url("https://127.0.0.1/a.whl");
        let http = url("http://127.0.0.1/a.whl");
        assert_eq!(redirect_refusal(std::slice::from_ref(&https), &https), None);
        assert_eq!(redirect_refusal(std::slice::from_ref(&http), &https), None);
        assert_eq!(
            redirect_refusal(&[https], &http),
            Some("refusing a redirect from https to http")
        );
        let chain = vec![http.clone(); MAX_REDIRECTS];
        assert_eq!(
            redirect_refusal(&chain, &http),
            Some("too many redirects (more than 10)")
        );
    }

    #[test]
    fn redacts_credentials() {
        let url = Url::parse("https://user:secret@127.0.0.1/simple/").unwrap();
        assert_eq!(redact(&url), "https://127.0.0.1/simple/");
        assert_eq!(redact_str("not a url"), "not a url");
    }
}
