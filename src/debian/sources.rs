//! apt sources: deb822 `*.sources` files and one-line `*.list` entries (sources.list(5)),
//! read from the host by default, so airlock resolves against the mirrors apt already uses.

use std::path::{Path, PathBuf};

use url::Url;

use super::deb822;

#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("cannot read {file}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    // The stanza error is part of this message (it has no line of its own to add), so it
    // is not also a source that the error chain would print again.
    #[error("{file}: {problem}")]
    Deb822 {
        file: String,
        problem: deb822::Deb822Error,
    },
}

/// Where the signing keys of a source come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// The distribution's archive keyrings (no Signed-By given).
    Default,
    /// Key files.
    Files(Vec<PathBuf>),
    /// An ASCII-armoured key embedded in the `.sources` stanza.
    Inline(String),
}

/// One binary source: a URI, a suite, its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uri: Url,
    pub suite: String,
    pub components: Vec<String>,
    pub architectures: Option<Vec<String>>,
    pub signed_by: SignedBy,
    /// `trusted=yes`: signatures are not checked (local repositories).
    pub trusted: bool,
    /// `file:line` it came from.
    pub origin: String,
}

fn invalid(file: &str, line: usize, message: impl Into<String>) -> SourcesError {
    SourcesError::Invalid {
        file: file.to_string(),
        line,
        message: message.into(),
    }
}

fn parse_uri(text: &str, file: &str, line: usize) -> Result<Url, SourcesError> {
    let mut uri =
        Url::parse(text).map_err(|e| invalid(file, line, format!("`{text}` is not a URI: {e}")))?;
    if !matches!(uri.scheme(), "http" | "https" | "file") {
        return Err(invalid(
            file,
            line,
            format!("`{text}`: only http, https and file sources are supported"),
        ));
    }
    if !uri.path().ends_with('/') {
        uri.set_path(&format!("{}/", uri.path()));
    }
    Ok(uri)
}

fn signed_by(value: Option<&str>) -> SignedBy {
    match value.map(str::trim) {
        None | Some("") => SignedBy::Default,
        // apt takes a value with a key block as the key itself, written as a multi-line
        // field (continuation lines indented, an empty line as ` .`).
        Some(value) if value.contains("BEGIN PGP PUBLIC KEY BLOCK") => {
            SignedBy::Inline(deb822::unfold(value).trim().to_string() + "\n")
        }
        Some(value) => SignedBy::Files(
            value
                .split([' ', ',', '\n'])
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
        ),
    }
}

/// Parses a deb822 `.sources` file; `deb-src` entries and `Enabled: no` stanzas are skipped.
pub fn parse_sources(text: &str, file: &str) -> Result<Vec<AptSource>, SourcesError> {
    let stanzas = deb822::parse(text).map_err(|problem| SourcesError::Deb822 {
        file: file.to_string(),
        problem,
    })?;
    let mut sources = Vec::new();
    for stanza in stanzas {
        let line = stanza.line;
        if stanza
            .get("Enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let types = stanza
            .get("Types")
            .ok_or_else(|| invalid(file, line, "the stanza has no Types"))?;
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        let uris = stanza
            .get("URIs")
            .ok_or_else(|| invalid(file, line, "the stanza has no URIs"))?;
        let suites = stanza
            .get("Suites")
            .ok_or_else(|| invalid(file, line, "the stanza has no Suites"))?;
        let components: Vec<String> = stanza
            .get("Components")
            .map(|c| c.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let architectures = stanza
            .get("Architectures")
            .map(|a| a.split_whitespace().map(str::to_string).collect());
        let trusted = stanza
            .get("Trusted")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        for uri in uris.split_whitespace() {
            let uri = parse_uri(uri, file, line)?;
            for suite in suites.split_whitespace() {
                sources.push(AptSource {
                    uri: uri.clone(),
                    suite: suite.to_string(),
                    components: components.clone(),
                    architectures: architectures.clone(),
                    signed_by: signed_by(stanza.get("Signed-By")),
                    trusted,
                    origin: format!("{file}:{line}"),
                });
            }
        }
    }
    Ok(sources)
}

/// Parses one-line `deb [options] uri suite component...` entries.
pub fn parse_list(text: &str, file: &str) -> Result<Vec<AptSource>, SourcesError> {
    let mut sources = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let entry = raw.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let (kind, mut rest) = entry.split_once(char::is_whitespace).unwrap_or((entry, ""));
        if kind == "deb-src" {
            continue;
        }
        if kind != "deb" {
            return Err(invalid(
                file,
                line,
                format!("`{kind}`: expected deb or deb-src"),
            ));
        }
        let mut options: Vec<(String, String)> = Vec::new();
        rest = rest.trim_start();
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner
                .find(']')
                .ok_or_else(|| invalid(file, line, "unclosed `[`"))?;
            for option in inner[..end].split_whitespace() {
                if let Some((key, value)) = option.split_once('=') {
                    options.push((key.to_ascii_lowercase(), value.to_string()));
                }
            }
            rest = inner[end + 1..].trim_start();
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let [uri, suite, components @ ..] = words.as_slice() else {
            return Err(invalid(file, line, "expected a URI and a suite"));
        };
        let option = |key: &str| {
            options
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        sources.push(AptSource {
            uri: parse_uri(uri, file, line)?,
            suite: suite.to_string(),
            components: components.iter().map(|c| c.to_string()).collect(),
            architectures: option("arch").map(|a| a.split(',').map(str::to_string).collect()),
            signed_by: signed_by(option("signed-by")),
            trusted: option("trusted").is_some_and(|v| v == "yes"),
            origin: format!("{file}:{line}"),
        });
    }
    Ok(sources)
}

/// The host's sources: `etc/apt/sources.list` and `etc/apt/sources.list.d/*.{list,sources}`
/// under `root` (`/` normally), in apt's order (the main file, then the directory sorted).
pub fn host_sources(root: &Path) -> Result<Vec<AptSource>, SourcesError> {
    // As apt: a file it would read and cannot is an error, never a source quietly lost.
    let unreadable = |path: &Path, source: std::io::Error| SourcesError::Unreadable {
        file: path.display().to_string(),
        source,
    };
    let mut sources = Vec::new();
    let main = root.join("etc/apt/sources.list");
    match std::fs::read_to_string(&main) {
        Ok(text) => sources.extend(parse_list(&text, &main.display().to_string())?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(unreadable(&main, error)),
    }
    let parts = root.join("etc/apt/sources.list.d");
    let mut files: Vec<PathBuf> = Vec::new();
    match std::fs::read_dir(&parts) {
        Ok(entries) => {
            for entry in entries {
                let path = entry.map_err(|error| unreadable(&parts, error))?.path();
                let name = path.to_string_lossy();
                if name.ends_with(".sources") || name.ends_with(".list") {
                    files.push(path);
                }
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(unreadable(&parts, error)),
    }
    files.sort();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|error| unreadable(&file, error))?;
        if name.ends_with(".sources") {
            sources.extend(parse_sources(&text, &name)?);
        } else {
            sources.extend(parse_list(&text, &name)?);
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_deb822_sources() {
        let text = "Types: deb deb-src\nURIs: http://127.0.0.1:9/debian\nSuites: bookworm bookworm-updates\nComponents: main contrib\nSigned-By: /usr/share/keyrings/archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://127.0.0.1:9/debian\nSuites: bookworm\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://127.0.0.1:9/x\nSuites: s\n";
        let sources = parse_sources(text, "debian.sources").unwrap();
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].uri.as_str(), "http://127.0.0.1:9/debian/");
        assert_eq!(sources[1].suite, "bookworm-updates");
        assert_eq!(sources[0].components, ["main", "contrib"]);
        assert_eq!(
            sources[0].signed_by,
            SignedBy::Files(vec!["/usr/share/keyrings/archive-keyring.gpg".into()])
        );
        assert_eq!(sources[0].origin, "debian.sources:1");
    }

    #[test]
    fn reads_one_line_lists() {
        let text = "# comment\ndeb [arch=amd64,arm64 signed-by=/etc/apt/keyrings/k.gpg] https://127.0.0.1/repo stable main\ndeb-src http://127.0.0.1/x s main\ndeb [trusted=yes] file:/srv/airlock/apt ./\n";
        let sources = parse_list(text, "x.list").unwrap();
        assert_eq!(sources.len(), 2);
        assert_eq!(
            sources[0].architectures.as_deref().unwrap(),
            ["amd64", "arm64"]
        );
        assert_eq!(sources[0].origin, "x.list:2");
        assert!(sources[1].trusted);
        assert_eq!(sources[1].suite, "./");
        assert!(sources[1].components.is_empty());
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(
            parse_list("deb ftp://127.0.0.1/x s main\n", "a.list")
                .unwrap_err()
                .to_string(),
            "a.list:1: `ftp://127.0.0.1/x`: only http, https and file sources are supported"
        );
        assert_eq!(
            parse_list("\ndeb http://127.0.0.1/x\n", "a.list")
                .unwrap_err()
                .to_string(),
            "a.list:2: expected a URI and a suite"
        );
        assert_eq!(
            parse_sources("Types: deb\nSuites: s\n", "b.sources")
                .unwrap_err()
                .to_string(),
            "b.sources:1: the stanza has no URIs"
        );
    }

    #[test]
    fn reads_the_hosts_layout() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/apt/sources.list.d")).unwrap();
        std::fs::write(
            root.path().join("etc/apt/sources.list"),
            "deb http://127.0.0.1/a s main\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/apt/sources.list.d/b.sources"),
            "Types: deb\nURIs: http://127.0.0.1/b\nSuites: s\nComponents: main\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/apt/sources.list.d/ignored.txt"),
            "deb http://x s\n",
        )
        .unwrap();
        let sources = host_sources(root.path()).unwrap();
        let uris: Vec<&str> = sources.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["http://127.0.0.1/a/", "http://127.0.0.1/b/"]);
    }

    #[test]
    fn an_embedded_signed_by_key_block_is_read_as_apt_reads_it() {
        let key = crate::debian::signature::tests::test_key(3, "Embedded <e@example.invalid>");
        let armour = crate::debian::signature::tests::public_armour(&key);
        // As a .sources file writes it: indented, the empty line after the header as ` .`.
        let folded: String = armour
            .trim_end()
            .lines()
            .map(|line| {
                if line.is_empty() {
                    " .\n".to_string()
                } else {
                    format!(" {line}\n")
                }
            })
            .collect();
        assert!(
            folded.contains("\n .\n"),
            "the armour has an empty line: {folded}"
        );
        let text = format!(
            "Types: deb\nURIs: http://127.0.0.1:9/debian\nSuites: stable\nComponents: main\nSigned-By:\n{folded}"
        );
        let sources = parse_sources(&text, "x.sources").unwrap();
        let SignedBy::Inline(inline) = &sources[0].signed_by else {
            panic!("{:?}", sources[0].signed_by);
        };
        let keyring =
            crate::debian::signature::Keyring::from_bytes(inline.as_bytes(), "x.sources:1")
                .expect("the embedded key reads");
        assert_eq!(keyring.len(), 1);
    }
}
