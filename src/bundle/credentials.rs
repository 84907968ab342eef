//! Registry credentials as docker, podman and buildah keep them, so `bundle push|pull` works
//! wherever `docker login` (or `podman login`) was run.
//!
//! Looked up in order, the first that names the registry wins:
//! 1. `AIRLOCK_REGISTRY_USERNAME` + `AIRLOCK_REGISTRY_PASSWORD` (for CI jobs);
//! 2. `REGISTRY_AUTH_FILE` (podman's and buildah's override);
//! 3. `$DOCKER_CONFIG/config.json`, or `~/.docker/config.json`;
//! 4. `$XDG_RUNTIME_DIR/containers/auth.json` (where podman logs in).
//!
//! In a file, a credential helper named for the registry (`credHelpers`) comes first, then the
//! stored `auths` entry, then the default helper (`credsStore`), as docker does. Helpers are
//! run as `docker-credential-NAME get` with the registry on stdin.

use std::path::{Path, PathBuf};

use base64::Engine;

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{file}: {problem}")]
    File { file: String, problem: String },
    #[error("credential helper docker-credential-{helper} for {registry}: {problem}")]
    Helper {
        helper: String,
        registry: String,
        problem: String,
    },
    #[error(
        "AIRLOCK_REGISTRY_USERNAME and AIRLOCK_REGISTRY_PASSWORD go together; set both or neither"
    )]
    HalfSet,
}

/// What to log in with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credentials {
    // The password never reaches a log or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => write!(f, "Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

/// What one configuration file says about a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Basic { username: String, password: String },
    Helper(String),
}

/// The key a config file uses for a registry, reduced to `host[:port]`: docker writes some keys
/// as URLs (`https://host/v1/`).
fn key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// Reads a docker/podman auth file's text for `registry` (`host[:port]`).
pub fn entry_in(text: &str, registry: &str) -> Result<Option<Entry>, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
    let object = json
        .as_object()
        .ok_or("not a JSON object (a docker config.json or a containers auth.json)")?;
    if let Some(helpers) = object.get("credHelpers") {
        let helpers = helpers.as_object().ok_or("credHelpers is not an object")?;
        for (key, helper) in helpers {
            if key_host(key) == registry {
                let helper = helper
                    .as_str()
                    .ok_or_else(|| format!("credHelpers.{key} is not a string"))?;
                return Ok(Some(Entry::Helper(helper.to_string())));
            }
        }
    }
    if let Some(auths) = object.get("auths") {
        let auths = auths.as_object().ok_or("auths is not an object")?;
        for (key, value) in auths {
            if key_host(key) != registry {
                continue;
            }
            if let Some(entry) = auth_entry(key, value)? {
                return Ok(Some(entry));
            }
        }
    }
    if let Some(store) = object.get("credsStore") {
        let store = store.as_str().ok_or("credsStore is not a string")?;
        if !store.is_empty() {
            return Ok(Some(Entry::Helper(store.to_string())));
        }
    }
    Ok(None)
}

/// One `auths` entry: `auth` (base64 of `user:password`) or `username` + `password`. An entry
/// with neither (docker writes `{}` when a helper holds the secret) says nothing.
fn auth_entry(key: &str, value: &serde_json::Value) -> Result<Option<Entry>, String> {
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).unwrap_or("");
    if !field("identitytoken").is_empty() {
        return Err(format!(
            "auths.{key} holds an identity token (an OAuth refresh token), which airlock does \
             not use; log in with a user name and password or a registry token"
        ));
    }
    let auth = field("auth");
    if !auth.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| format!("auths.{key}.auth is not base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| format!("auths.{key}.auth is not UTF-8 once decoded"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("auths.{key}.auth does not decode to user:password"))?;
        return Ok(Some(Entry::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    let (username, password) = (field("username"), field("password"));
    if !username.is_empty() && !password.is_empty() {
        return Ok(Some(Entry::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    Ok(None)
}

/// The files looked in, in order, given the environment.
pub fn auth_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(file) = env("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
        files.push(PathBuf::from(file));
    }
    match env("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => files.push(Path::new(&dir).join("config.json")),
        None => {
            if let Some(home) = env("HOME").filter(|v| !v.is_empty()) {
                files.push(Path::new(&home).join(".docker/config.json"));
            }
        }
    }
    if let Some(runtime) = env("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        files.push(Path::new(&runtime).join("containers/auth.json"));
    }
    files
}

/// Runs a credential helper. `Ok(None)`: it has nothing for this registry.
fn run_helper(helper: &str, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
    use std::io::Write;
    let failed = |problem: String| CredentialsError::Helper {
        helper: helper.to_string(),
        registry: registry.to_string(),
        problem,
    };
    if helper.is_empty() || helper.contains(['/', '\\']) {
        return Err(failed("not a helper name".into()));
    }
    let mut child = std::process::Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|error| failed(format!("cannot run it: {error}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .map_err(|error| failed(format!("cannot write to it: {error}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| failed(format!("cannot run it: {error}")))?;
    let says = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() {
        // The protocol's answer for "no credentials": not an error, the registry may be open.
        if says.contains("credentials not found") {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(failed(format!(
            "{}: {}",
            output.status,
            if stderr.is_empty() { says } else { stderr }
        )));
    }
    let json: serde_json::Value = serde_json::from_str(&says)
        .map_err(|error| failed(format!("its answer is not JSON: {error}")))?;
    let username = json.get("Username").and_then(|v| v.as_str()).unwrap_or("");
    let secret = json.get("Secret").and_then(|v| v.as_str()).unwrap_or("");
    if username == "<token>" {
        return Err(failed(
            "it holds an identity token (an OAuth refresh token), which airlock does not use"
                .into(),
        ));
    }
    if username.is_empty() || secret.is_empty() {
        return Err(failed("its answer has no Username and Secret".into()));
    }
    Ok(Some(Credentials::Basic {
        username: username.to_string(),
        password: secret.to_string(),
    }))
}

/// The credentials for `registry` (`host[:port]`), from the environment and the auth files.
pub fn lookup(
    registry: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, CredentialsError> {
    match (
        env("AIRLOCK_REGISTRY_USERNAME").filter(|v| !v.is_empty()),
        env("AIRLOCK_REGISTRY_PASSWORD").filter(|v| !v.is_empty()),
    ) {
        (Some(username), Some(password)) => return Ok(Credentials::Basic { username, password }),
        (None, None) => {}
        _ => return Err(CredentialsError::HalfSet),
    }
    for file in auth_files(env) {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(CredentialsError::File {
                    file: file.display().to_string(),
                    problem: format!("cannot read it: {error}"),
                });
            }
        };
        let entry = entry_in(&text, registry).map_err(|problem| CredentialsError::File {
            file: file.display().to_string(),
            problem,
        })?;
        match entry {
            Some(Entry::Basic { username, password }) => {
                return Ok(Credentials::Basic { username, password });
            }
            Some(Entry::Helper(helper)) => {
                if let Some(credentials) = run_helper(&helper, registry)? {
                    return Ok(credentials);
                }
            }
            None => {}
        }
    }
    Ok(Credentials::Anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(username: &str, password: &str) -> Option<Entry> {
        Some(Entry::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    #[test]
    fn auths_entries_are_matched_by_host_and_port() {
        // "user:pa:ss" in base64: the password may hold colons.
        let text = r#"{"auths": {
            "https://registry.example:5000/v1/": {"auth": "dXNlcjpwYTpzcw=="},
            "other.example": {"username": "u2", "password": "p2"}
        }}"#;
        assert_eq!(
            entry_in(text, "registry.example:5000").unwrap(),
            basic("user", "pa:ss")
        );
        assert_eq!(entry_in(text, "other.example").unwrap(), basic("u2", "p2"));
        assert_eq!(entry_in(text, "registry.example").unwrap(), None);
    }

    #[test]
    fn a_registry_helper_comes_before_auths_and_the_store_after() {
        let text = r#"{"auths": {"a.example": {"auth": "dTpw"}, "b.example": {}},
            "credHelpers": {"a.example": "secretservice"}, "credsStore": "pass"}"#;
        assert_eq!(
            entry_in(text, "a.example").unwrap(),
            Some(Entry::Helper("secretservice".into()))
        );
        // An empty auths entry (the secret is in the store) falls through to credsStore.
        assert_eq!(
            entry_in(text, "b.example").unwrap(),
            Some(Entry::Helper("pass".into()))
        );
    }

    #[test]
    fn broken_files_are_errors_not_anonymous() {
        assert!(entry_in("{", "a").unwrap_err().contains("not valid JSON"));
        assert!(
            entry_in(r#"{"auths": {"a": {"auth": "%%%"}}}"#, "a")
                .unwrap_err()
                .contains("not base64")
        );
        assert!(
            entry_in(r#"{"auths": {"a": {"auth": "bm9jb2xvbg=="}}}"#, "a")
                .unwrap_err()
                .contains("user:password")
        );
        assert!(
            entry_in(r#"{"auths": {"a": {"identitytoken": "t"}}}"#, "a")
                .unwrap_err()
                .contains("identity token")
        );
    }

    #[test]
    fn files_follow_podmans_and_dockers_order() {
        let env = |name: &str| match name {
            "REGISTRY_AUTH_FILE" => Some("/x/auth.json".to_string()),
            "HOME" => Some("/home/u".to_string()),
            "XDG_RUNTIME_DIR" => Some("/run/user/1".to_string()),
            _ => None,
        };
        assert_eq!(
            auth_files(&env),
            vec![
                PathBuf::from("/x/auth.json"),
                PathBuf::from("/home/u/.docker/config.json"),
                PathBuf::from("/run/user/1/containers/auth.json"),
            ]
        );
    }

    #[test]
    fn environment_credentials_come_first_and_go_in_pairs() {
        let both = |name: &str| match name {
            "AIRLOCK_REGISTRY_USERNAME" => Some("ci".to_string()),
            "AIRLOCK_REGISTRY_PASSWORD" => Some("s3cret".to_string()),
            _ => None,
        };
        let found = lookup("r.example", &both).unwrap();
        assert_eq!(
            found,
            Credentials::Basic {
                username: "ci".into(),
                password: "s3cret".into()
            }
        );
        assert!(!format!("{found:?}").contains("s3cret"));
        let half = |name: &str| (name == "AIRLOCK_REGISTRY_USERNAME").then(|| "ci".to_string());
        assert!(matches!(
            lookup("r.example", &half),
            Err(CredentialsError::HalfSet)
        ));
    }
}
