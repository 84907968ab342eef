//! The air-gap rules for Dockerfiles. Pure over a parsed [`Dockerfile`] and a
//! [`BuildContext`] (what files the build can see), so every rule is tested with in-memory data.

use super::parser::{
    Dockerfile, Instruction, Mount, MountType, Variables, expand, parse_mount, split_words,
};
use crate::python::target::{Os, Target};
use crate::verify::{Finding, Severity};

/// Rule IDs and one-line descriptions (for SARIF).
pub const RULES: &[(&str, &str)] = &[
    (
        "DF001",
        "The syntax parser directive is missing or not effective",
    ),
    ("DF002", "A byte-order mark precedes the parser directives"),
    (
        "DF010",
        "A pip/uv install has no bind mount of the wheelhouse",
    ),
    (
        "DF011",
        "A pip/uv install may reach an index (no --no-index / --offline)",
    ),
    (
        "DF012",
        "--find-links is missing or not the wheelhouse mount's target",
    ),
    (
        "DF013",
        "An install neither uses --require-hashes nor installs a lock",
    ),
    (
        "DF014",
        "An installed requirements file is not covered by a lockfile",
    ),
    (
        "DF015",
        "An install forbids source builds that the lock needs",
    ),
    ("DF016", "--no-build-isolation while the lock builds sdists"),
    (
        "DF017",
        "A heredoc RUN installs packages without `set -e`, so a failed install can pass",
    ),
    (
        "DF018",
        "An unquoted `<` or `>` in an install's package argument is a shell redirection",
    ),
    ("DF020", "A network fallback after an offline install"),
    ("DF021", "An index URL is configured in the build"),
    ("DF022", "--find-links points at the network"),
    ("DF023", "The build reaches the network"),
    ("DF030", "A bind mount's source is not in the build context"),
    (
        "DF031",
        "A bind mount's source is excluded by .dockerignore",
    ),
    (
        "DF032",
        "`required` on a mount type that builders reject it for",
    ),
    (
        "DF033",
        "A read-only/read-write mount option with a value (Buildah/Podman reject it)",
    ),
    (
        "DF034",
        "A mount's `from=` names a variable, which builders do not expand",
    ),
    ("DF040", "An apt cache mount without sharing=locked"),
    ("DF041", "An apt cache mount without an explicit id"),
    (
        "DF042",
        "An apt cache mount while docker-clean still deletes the downloads",
    ),
    (
        "DF050",
        "The base image's Python does not match a lock target",
    ),
];

/// What the build can see: the files of the build context.
pub trait BuildContext {
    fn exists(&self, path: &str) -> bool;
    fn read(&self, path: &str) -> Option<String>;
    /// The `.dockerignore` text, if any.
    fn dockerignore(&self) -> Option<String>;
}

/// Project facts the rules compare against.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    /// The wheelhouse, relative to the build context (`wheelhouse`).
    pub wheelhouse: String,
    /// The lockfiles directory, relative to the build context.
    pub lockfiles: String,
    /// Configured requirements inputs, relative to the build context.
    pub requirements: Vec<String>,
    /// The lock targets.
    pub targets: Vec<Target>,
    /// Source builds the locks need: (package name, sdist file, its build requirements).
    pub source_builds: Vec<SourceBuild>,
}

/// One sdist a lock builds, as the audit needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceBuild {
    pub package: String,
    pub sdist: String,
    pub build_requires: Vec<String>,
}

/// Removes `./`, duplicate and trailing slashes.
fn clean_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

fn under(path: &str, dir: &str) -> bool {
    let (path, dir) = (clean_path(path), clean_path(dir));
    path == dir || path.starts_with(&format!("{dir}/"))
}

/// One segment of a `.dockerignore` pattern (`*`, `?`; Go's filepath.Match without classes).
fn segment_matches(pattern: &[char], text: &[char]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            segment_matches(&pattern[1..], text)
                || (!text.is_empty() && segment_matches(pattern, &text[1..]))
        }
        (Some('?'), Some(_)) => segment_matches(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => segment_matches(&pattern[1..], &text[1..]),
        _ => false,
    }
}

fn path_matches(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, _) => true, // a pattern matching a parent directory covers what is below it
        (Some(&"**"), _) => {
            path_matches(&pattern[1..], path)
                || (!path.is_empty() && path_matches(pattern, &path[1..]))
        }
        (Some(p), Some(t)) => {
            let (p, t): (Vec<char>, Vec<char>) = (p.chars().collect(), t.chars().collect());
            segment_matches(&p, &t) && path_matches(&pattern[1..], &path[1..])
        }
        (Some(_), None) => false,
    }
}

/// Whether `.dockerignore` excludes `path` (last matching line wins; `!` re-includes).
pub fn dockerignore_excludes(dockerignore: &str, path: &str) -> bool {
    let path = clean_path(path);
    let segments: Vec<&str> = path.split('/').collect();
    let mut excluded = false;
    for line in dockerignore.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let pattern = clean_path(pattern);
        let pattern_segments: Vec<&str> = pattern.split('/').collect();
        if path_matches(&pattern_segments, &segments) {
            excluded = !negated;
        }
    }
    excluded
}

/// How commands in a shell script are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    Start,
    And,
    Or,
    Sequence,
    Pipe,
    Else,
}

/// Splits a shell script into simple commands with the separator before each.
fn simple_commands(script: &str) -> Vec<(Join, Vec<String>)> {
    let mut commands = Vec::new();
    let mut current = String::new();
    let mut join = Join::Start;
    let mut quote: Option<char> = None;
    let chars: Vec<char> = script.chars().collect();
    let mut index = 0;
    let flush = |current: &mut String, join: Join, commands: &mut Vec<(Join, Vec<String>)>| {
        let mut words = split_words(current);
        current.clear();
        // Shell keywords start or separate commands; `else` marks a fallback branch.
        let mut join = join;
        while let Some(first) = words.first() {
            match first.as_str() {
                "if" | "then" | "do" | "elif" | "while" | "until" | "!" | "{" | "(" => {
                    words.remove(0);
                }
                "else" => {
                    join = Join::Else;
                    words.remove(0);
                }
                "fi" | "done" | "}" | ")" => {
                    words.remove(0);
                }
                _ => break,
            }
        }
        if !words.is_empty() {
            commands.push((join, words));
        }
    };
    while index < chars.len() {
        let c = chars[index];
        if let Some(q) = quote {
            current.push(c);
            if c == q {
                quote = None;
            }
            index += 1;
            continue;
        }
        let next = chars.get(index + 1).copied();
        let separator = match (c, next) {
            ('&', Some('&')) => Some((Join::And, 2)),
            ('|', Some('|')) => Some((Join::Or, 2)),
            ('|', _) => Some((Join::Pipe, 1)),
            (';', _) | ('\n', _) => Some((Join::Sequence, 1)),
            _ => None,
        };
        match separator {
            Some((next_join, width)) => {
                flush(&mut current, join, &mut commands);
                join = next_join;
                index += width;
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                current.push(c);
                index += 1;
            }
        }
    }
    flush(&mut current, join, &mut commands);
    commands
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Installer {
    Pip,
    Uv,
}

/// Drops `env VAR=… sudo …` prefixes.
fn strip_prefixes(words: &[String]) -> &[String] {
    let mut at = 0;
    while at < words.len() {
        let word = words[at].as_str();
        let assignment = word.contains('=')
            && !word.starts_with('-')
            && word
                .split('=')
                .next()
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if matches!(word, "env" | "sudo" | "exec" | "time" | "command" | "nice") || assignment {
            at += 1;
        } else {
            break;
        }
    }
    &words[at..]
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn is_pip(word: &str) -> bool {
    let name = basename(word);
    name == "pip"
        || name
            .strip_prefix("pip")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_python(word: &str) -> bool {
    let name = basename(word);
    name == "python"
        || name
            .strip_prefix("python")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// `(installer, arguments after "install")` for a pip or uv install.
fn install_command(words: &[String]) -> Option<(Installer, Vec<String>)> {
    let words = strip_prefixes(words);
    let rest: Vec<String> = match words {
        [pip, install, rest @ ..] if is_pip(pip) && install == "install" => {
            return Some((Installer::Pip, rest.to_vec()));
        }
        [python, m, pip, install, rest @ ..]
            if is_python(python) && m == "-m" && pip == "pip" && install == "install" =>
        {
            return Some((Installer::Pip, rest.to_vec()));
        }
        [uv, pip, verb, rest @ ..]
            if basename(uv) == "uv" && pip == "pip" && (verb == "install" || verb == "sync") =>
        {
            rest.to_vec()
        }
        _ => return None,
    };
    Some((Installer::Uv, rest))
}

/// Install options that matter for the rules.
#[derive(Debug, Default)]
struct InstallOptions {
    no_index: bool,
    offline: bool,
    require_hashes: bool,
    find_links: Vec<String>,
    index_urls: Vec<String>,
    requirement_files: Vec<String>,
    packages: Vec<String>,
    /// `--only-binary` values (pip), plus `:all:` for uv's `--no-build`.
    only_binary: Vec<String>,
    /// uv's `--no-build-package`.
    no_build_packages: Vec<String>,
    no_build_isolation: bool,
}

fn install_options(args: &[String]) -> InstallOptions {
    let mut options = InstallOptions::default();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        let mut value_of = |long: &str, short: Option<&str>| -> Option<String> {
            if arg == long || short.is_some_and(|s| arg == s) {
                let value = args.get(index).cloned();
                index += 1;
                value
            } else if let Some(value) = arg.strip_prefix(&format!("{long}=")) {
                Some(value.to_string())
            } else {
                short.and_then(|s| {
                    arg.strip_prefix(s)
                        .filter(|v| !v.is_empty() && !v.starts_with('-'))
                        .map(str::to_string)
                })
            }
        };
        if arg == "--no-index" {
            options.no_index = true;
        } else if arg == "--offline" {
            options.offline = true;
        } else if arg == "--require-hashes" {
            options.require_hashes = true;
        } else if arg == "--no-build" {
            options.only_binary.push(":all:".into());
        } else if arg == "--no-build-isolation" {
            options.no_build_isolation = true;
        } else if let Some(v) = value_of("--only-binary", None) {
            options.only_binary.push(v);
        } else if let Some(v) = value_of("--no-build-package", None) {
            options.no_build_packages.push(v);
        } else if let Some(v) = value_of("--find-links", Some("-f")) {
            options.find_links.push(v);
        } else if let Some(v) = value_of("--index-url", Some("-i")) {
            options.index_urls.push(v);
        } else if let Some(v) = value_of("--extra-index-url", None) {
            options.index_urls.push(v);
        } else if let Some(v) =
            value_of("--index", None).or_else(|| value_of("--default-index", None))
        {
            options.index_urls.push(v);
        } else if let Some(v) = value_of("--requirement", Some("-r")) {
            options.requirement_files.push(v);
        } else if let Some(_v) = value_of("--constraint", Some("-c")) {
        } else if !arg.starts_with('-') {
            options.packages.push(arg.clone());
        }
    }
    options
}

/// Environment variables that point an installer at an index.
const INDEX_VARIABLES: &[&str] = &[
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
];

/// `python:3.12-slim-bookworm` -> (3, 12, libc family, glibc minor if known).
fn python_image(image: &str) -> Option<(u32, u32, bool, Option<u32>)> {
    let name = image.split('@').next().unwrap_or(image);
    let (repository, tag) = name.rsplit_once(':')?;
    if basename(repository) != "python" {
        return None;
    }
    let mut parts = tag.split(['.', '-']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    let musl = tag.contains("alpine");
    let glibc = [
        ("bookworm", 36),
        ("bullseye", 31),
        ("buster", 28),
        ("trixie", 41),
    ]
    .iter()
    .find(|(codename, _)| tag.contains(codename))
    .map(|(_, minor)| *minor);
    Some((major, minor, musl, glibc))
}

struct Stage {
    name: Option<String>,
    base: String,
    line: usize,
    variables: Variables,
    air_gapped: bool,
    /// Another stage's offline install mounts this stage's files (`--mount=from=`): what it
    /// assembles there must be assembled offline too.
    feeds_air_gapped: bool,
    docker_clean_disabled: bool,
    /// COPY destinations -> context sources.
    copies: Vec<(String, String)>,
}

/// The shell's commands of a script as written (quotes kept), split at unquoted newlines,
/// `;`, `&` and `|`.
fn raw_commands(script: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in script.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                current.push(c);
            }
            None => match c {
                '\\' => {
                    escaped = true;
                    current.push(c);
                }
                '\'' | '"' => {
                    quote = Some(c);
                    current.push(c);
                }
                '\n' | ';' | '&' | '|' => commands.push(std::mem::take(&mut current)),
                _ => current.push(c),
            },
        }
    }
    commands.push(current);
    commands.retain(|c| !c.trim().is_empty());
    commands
}

/// The arguments of pip/uv installs with an unquoted `<` or `>` inside a word
/// (`pkg>=1.2`): the shell ends the word there and redirects. File-descriptor redirections
/// (`2>`, `&>`) and whole-word redirections (`> log`) are the user's intent and pass.
fn unquoted_comparisons(script: &str) -> Vec<String> {
    let mut found = Vec::new();
    for raw in raw_commands(script) {
        if install_command(&split_words(&raw)).is_none() {
            continue;
        }
        let chars: Vec<char> = raw.chars().collect();
        let mut quote: Option<char> = None;
        let mut word_start = 0;
        let mut at = 0;
        while at < chars.len() {
            let c = chars[at];
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                }
            } else if c == '\'' || c == '"' {
                quote = Some(c);
            } else if c == '\\' {
                at += 1;
            } else if c.is_whitespace() {
                word_start = at + 1;
            } else if (c == '<' || c == '>') && at > word_start {
                let before: String = chars[word_start..at].iter().collect();
                if !before.chars().all(|b| b.is_ascii_digit() || b == '&') {
                    let end = chars[at..]
                        .iter()
                        .position(|c| c.is_whitespace())
                        .map_or(chars.len(), |p| at + p);
                    found.push(chars[word_start..end].iter().collect());
                    word_start = end;
                    at = end;
                    continue;
                }
            }
            at += 1;
        }
    }
    found
}

/// The script a RUN executes: shell form, exec form's `sh -c` script, and heredoc bodies.
fn run_script(instruction: &Instruction) -> String {
    let mut script = match &instruction.json {
        Some(words) => match words.as_slice() {
            [shell, c, script, ..] if c == "-c" && basename(shell).ends_with("sh") => {
                script.clone()
            }
            _ => words.join(" "),
        },
        None => instruction.args.clone(),
    };
    for heredoc in &instruction.heredocs {
        script.push('\n');
        script.push_str(&heredoc.body);
    }
    script
}

fn is_wheelhouse_mount(mount: &Mount, settings: &AuditSettings) -> bool {
    mount.kind == MountType::Bind
        && mount.from.is_none()
        && mount
            .source
            .as_deref()
            .is_some_and(|s| under(s, &settings.wheelhouse))
}

/// The stage `from` names among `earlier` (by its `AS` name, or by its number as BuildKit
/// allows); `None` for an image.
fn stage_named(earlier: &[Stage], from: &str) -> Option<usize> {
    let lower = from.to_ascii_lowercase();
    earlier
        .iter()
        .position(|stage| stage.name.as_deref() == Some(lower.as_str()))
        .or_else(|| from.parse::<usize>().ok().filter(|&n| n < earlier.len()))
}

/// A bind mount of another stage's files that holds the wheelhouse that stage copied in from
/// the build context (`COPY wheelhouse /wheelhouse` in a `FROM scratch AS wheels` stage, then
/// `--mount=type=bind,from=wheels,source=/wheelhouse,target=/wheelhouse`): returned as the
/// mount of the wheelhouse itself, with the target where the wheelhouse appears.
fn staged_wheelhouse(mount: &Mount, earlier: &[Stage], settings: &AuditSettings) -> Option<Mount> {
    if mount.kind != MountType::Bind {
        return None;
    }
    let stage = &earlier[stage_named(earlier, mount.from.as_deref()?)?];
    let source = clean_path(mount.source.as_deref().unwrap_or("/"));
    let target = mount.target.as_deref()?;
    stage.copies.iter().find_map(|(dest, context_source)| {
        if !under(&clean_path(context_source), &settings.wheelhouse) {
            return None;
        }
        let dest = clean_path(dest);
        // The mount shows the stage's `source` at `target`: the wheelhouse is inside it.
        let inside = if source.is_empty() {
            Some(dest.as_str())
        } else if dest == source {
            Some("")
        } else {
            dest.strip_prefix(&format!("{source}/"))
        }?;
        let mut staged = mount.clone();
        staged.target = Some(if inside.is_empty() {
            target.to_string()
        } else {
            format!("{}/{inside}", target.trim_end_matches('/'))
        });
        Some(staged)
    })
}

/// DF017: a heredoc RUN is one shell script; without `set -e` a failing install in its middle
/// does not fail the step (only the last command's status counts), so a broken air-gapped
/// install can go unnoticed.
fn check_heredoc_errexit(instruction: &Instruction, line: usize, add: &mut Add<'_>) {
    for heredoc in &instruction.heredocs {
        let installs = simple_commands(&heredoc.body).iter().any(|(_, words)| {
            let words = strip_prefixes(words);
            install_command(words).is_some()
                || (words
                    .first()
                    .is_some_and(|w| matches!(basename(w), "apt-get" | "apt"))
                    && words.get(1).is_some_and(|w| w == "install"))
        });
        if !installs {
            continue;
        }
        let errexit = heredoc.body.lines().any(|text| {
            let text = text.trim();
            let shebang_e = text.starts_with("#!")
                && text
                    .split_whitespace()
                    .skip(1)
                    .any(|w| w.starts_with('-') && w.contains('e'));
            let set_e = text.strip_prefix("set ").is_some_and(|rest| {
                rest.split_whitespace().any(|w| {
                    (w.starts_with('-') && !w.starts_with("--") && w.contains('e'))
                        || w == "errexit"
                })
            });
            shebang_e || set_e
        });
        if !errexit {
            add(
                "DF017",
                Severity::Warning,
                line,
                "this heredoc installs packages without `set -e`: the shell runs on after a failed command and only the last one decides the step, so a broken install can pass; start the heredoc with `set -eu`".into(),
            );
        }
    }
}

/// The first pass over a Dockerfile: its stages, and which ones install packages (the
/// air-gapped ones); also the global ARGs (those before the first FROM).
fn stages_of(file: &Dockerfile, settings: &AuditSettings) -> (Variables, Vec<Stage>) {
    let mut global = Variables::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut current: Option<usize> = None;
    for instruction in &file.instructions {
        match instruction.keyword.as_str() {
            "FROM" => {
                let words = split_words(&instruction.args);
                let base = words
                    .first()
                    .map(|w| expand(w, &global))
                    .unwrap_or_default();
                let name = match words.as_slice() {
                    [_, as_word, name, ..] if as_word.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                let inherited = stages
                    .iter()
                    .find(|s| s.name.as_deref() == Some(&base.to_ascii_lowercase()))
                    .map(|s| (s.variables.clone(), s.docker_clean_disabled))
                    .unwrap_or_default();
                stages.push(Stage {
                    name,
                    base,
                    line: instruction.line,
                    variables: inherited.0,
                    air_gapped: false,
                    feeds_air_gapped: false,
                    docker_clean_disabled: inherited.1,
                    copies: Vec::new(),
                });
                current = Some(stages.len() - 1);
            }
            "ARG" => {
                for word in split_words(&instruction.args) {
                    let (name, value) = match word.split_once('=') {
                        Some((n, v)) => (n.to_string(), Some(v.to_string())),
                        None => (word.clone(), None),
                    };
                    match current {
                        None => {
                            global.insert(name, value.unwrap_or_default());
                        }
                        Some(at) => {
                            let value = value
                                .or_else(|| global.get(&name).cloned())
                                .unwrap_or_default();
                            stages[at].variables.insert(name, value);
                        }
                    }
                }
            }
            "RUN" => {
                if let Some(at) = current {
                    let mounts: Vec<Mount> = instruction
                        .flags
                        .iter()
                        .filter(|(name, _)| name == "mount")
                        .map(|(_, value)| parse_mount(value, &stages[at].variables))
                        .collect();
                    let installs = simple_commands(&run_script(instruction))
                        .iter()
                        .any(|(_, words)| install_command(words).is_some());
                    if installs || mounts.iter().any(|m| is_wheelhouse_mount(m, settings)) {
                        stages[at].air_gapped = true;
                    }
                    if installs {
                        for mount in &mounts {
                            if let Some(source) = mount
                                .from
                                .as_deref()
                                .and_then(|from| stage_named(&stages[..at], from))
                            {
                                stages[source].feeds_air_gapped = true;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (global, stages)
}

/// Audits one Dockerfile. `uri` names it in findings.
pub fn audit(
    file: &Dockerfile,
    uri: &str,
    context: &dyn BuildContext,
    settings: &AuditSettings,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |rule: &'static str, severity: Severity, line: usize, message: String| {
        findings.push(Finding::new(rule, severity, uri, Some(line), message));
    };
    // Parser directives.
    match file.directive("syntax") {
        Some(_) => {}
        None => match file.ineffective_syntax.first() {
            Some(&line) => add(
                "DF001",
                Severity::Error,
                line,
                "this `# syntax=` comes after another line, so BuildKit treats it as a plain comment; move it to line 1".into(),
            ),
            None => add(
                "DF001",
                Severity::Error,
                1,
                "no `# syntax=docker/dockerfile:1` on line 1: the build then depends on the builder's bundled frontend; pin the syntax".into(),
            ),
        },
    }
    if file.bom {
        add(
            "DF002",
            Severity::Note,
            1,
            "the file starts with a byte-order mark; BuildKit discards it before reading directives (parser/directives.go), but other tools may not".into(),
        );
    }
    let dockerignore = context.dockerignore().unwrap_or_default();
    let (global, mut stages) = stages_of(file, settings);
    // Second pass: the rules, with variables as they are at each instruction.
    let mut stage_index: Option<usize> = None;
    let mut variables = Variables::new();
    let mut docker_clean_disabled = false;
    let mut copies: Vec<(String, String)> = Vec::new();
    let mut stage_seen = 0;
    for instruction in &file.instructions {
        let line = instruction.line;
        match instruction.keyword.as_str() {
            "FROM" => {
                let stage = &stages[stage_seen];
                stage_index = Some(stage_seen);
                stage_seen += 1;
                let parent = stages[..stage_index.unwrap_or(0)]
                    .iter()
                    .find(|s| s.name.as_deref() == Some(&stage.base.to_ascii_lowercase()));
                variables = parent.map(|p| p.variables.clone()).unwrap_or_default();
                docker_clean_disabled = parent.is_some_and(|p| p.docker_clean_disabled);
                copies = parent.map(|p| p.copies.clone()).unwrap_or_default();
                if stage.air_gapped {
                    check_base_image(stage, &stages, settings, &mut add);
                }
            }
            "ARG" => {
                for word in split_words(&instruction.args) {
                    let (name, value) = match word.split_once('=') {
                        Some((n, v)) => (n.to_string(), Some(expand(v, &variables))),
                        None => (word.clone(), None),
                    };
                    if stage_index.is_some() {
                        let value = value
                            .or_else(|| global.get(&name).cloned())
                            .unwrap_or_default();
                        if INDEX_VARIABLES.contains(&name.as_str()) && !value.is_empty() {
                            add(
                                "DF021",
                                Severity::Error,
                                line,
                                format!(
                                    "ARG {name} points installers at an index ({value}); remove it for the air-gapped build"
                                ),
                            );
                        }
                        variables.insert(name, value);
                    }
                }
            }
            "ENV" => {
                let words = split_words(&instruction.args);
                let pairs: Vec<(String, String)> = if words.iter().any(|w| w.contains('=')) {
                    words
                        .iter()
                        .filter_map(|w| {
                            w.split_once('=')
                                .map(|(n, v)| (n.to_string(), expand(v, &variables)))
                        })
                        .collect()
                } else {
                    words
                        .split_first()
                        .map(|(n, rest)| vec![(n.clone(), rest.join(" "))])
                        .unwrap_or_default()
                };
                for (name, value) in pairs {
                    if INDEX_VARIABLES.contains(&name.as_str()) {
                        add(
                            "DF021",
                            Severity::Error,
                            line,
                            format!(
                                "ENV {name}={value} points installers at an index; the air-gapped build must use only the wheelhouse"
                            ),
                        );
                    }
                    if name == "PIP_FIND_LINKS"
                        && (value.contains("http://") || value.contains("https://"))
                    {
                        add(
                            "DF022",
                            Severity::Error,
                            line,
                            format!("ENV PIP_FIND_LINKS={value} reaches the network"),
                        );
                    }
                    if name == "PIP_NO_INDEX" {
                        variables.insert("__PIP_NO_INDEX".into(), value.clone());
                    }
                    variables.insert(name, value);
                }
            }
            "COPY" => {
                let words = split_words(&instruction.args);
                if instruction.flags.iter().all(|(name, _)| name != "from")
                    && let Some((dest, sources)) = words.split_last()
                {
                    for source in sources {
                        copies.push((expand(dest, &variables), expand(source, &variables)));
                    }
                    if let Some(at) = stage_index {
                        stages[at].copies = copies.clone();
                    }
                }
            }
            "ADD" => {
                let air_gapped = stage_index.is_some_and(|at| stages[at].air_gapped);
                for word in split_words(&instruction.args) {
                    if word.starts_with("http://")
                        || word.starts_with("https://")
                        || word.starts_with("git@")
                    {
                        let severity = if air_gapped {
                            Severity::Error
                        } else {
                            Severity::Warning
                        };
                        add(
                            "DF023",
                            severity,
                            line,
                            format!(
                                "ADD {word} downloads during the build; put the file in the build context instead"
                            ),
                        );
                    }
                }
            }
            "RUN" => {
                let Some(at) = stage_index else { continue };
                let air_gapped = stages[at].air_gapped || stages[at].feeds_air_gapped;
                let mounts: Vec<Mount> = instruction
                    .flags
                    .iter()
                    .filter(|(name, _)| name == "mount")
                    .map(|(_, value)| parse_mount(value, &variables))
                    .collect();
                for mount in &mounts {
                    if let Some(from) = mount.from.as_deref().filter(|f| f.contains('$')) {
                        add(
                            "DF034",
                            Severity::Error,
                            line,
                            format!(
                                "`from={from}`: BuildKit and Buildah do not expand variables in a mount's `from`, so the build looks for an image literally named `{from}`; write the stage or image name"
                            ),
                        );
                    }
                }
                check_heredoc_errexit(instruction, line, &mut add);
                for argument in unquoted_comparisons(&run_script(instruction)) {
                    add(
                        "DF018",
                        Severity::Error,
                        line,
                        format!(
                            "`{argument}` is not quoted: the shell reads `<`/`>` as a redirection, so the install takes any version (and writes its output to a file); quote it: `'{argument}'`"
                        ),
                    );
                }
                check_mounts(
                    &mounts,
                    line,
                    context,
                    &dockerignore,
                    docker_clean_disabled,
                    &mut add,
                );
                let script = run_script(instruction);
                let commands = simple_commands(&script);
                let staged: Vec<Mount> = mounts
                    .iter()
                    .filter_map(|m| staged_wheelhouse(m, &stages[..at], settings))
                    .collect();
                let wheel_mounts: Vec<&Mount> = mounts
                    .iter()
                    .filter(|m| is_wheelhouse_mount(m, settings))
                    .chain(&staged)
                    .collect();
                let mut offline_install_seen = false;
                for (join, words) in &commands {
                    let expanded: Vec<String> =
                        words.iter().map(|w| expand(w, &variables)).collect();
                    if let Some((installer, args)) = install_command(&expanded) {
                        let options = install_options(&args);
                        let pip_no_index = variables.get("__PIP_NO_INDEX").is_some_and(|v| {
                            !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
                        });
                        let offline = match installer {
                            Installer::Pip => options.no_index || pip_no_index,
                            Installer::Uv => options.offline || options.no_index,
                        };
                        if matches!(join, Join::Or | Join::Else) && offline_install_seen {
                            add(
                                "DF020",
                                Severity::Error,
                                line,
                                format!(
                                    "`{}` runs when the offline install fails: a network fallback that hides a broken wheelhouse; remove it",
                                    expanded.join(" ")
                                ),
                            );
                        }
                        check_install(
                            installer,
                            &options,
                            offline,
                            &wheel_mounts,
                            &mounts,
                            &copies,
                            line,
                            context,
                            settings,
                            &mut add,
                        );
                        offline_install_seen |= offline;
                    } else {
                        check_network_command(
                            &expanded, air_gapped, &script, &mounts, settings, line, &mut add,
                        );
                    }
                }
                if script.contains("docker-clean") || script.contains("Keep-Downloaded-Packages") {
                    docker_clean_disabled = true;
                    stages[at].docker_clean_disabled = true;
                }
                stages[at].copies = copies.clone();
            }
            _ => {}
        }
    }
    findings
}

type Add<'a> = dyn FnMut(&'static str, Severity, usize, String) + 'a;

/// The image a stage really starts from: `FROM <stage>` followed to its own FROM.
fn external_base(stage: &Stage, stages: &[Stage]) -> String {
    let mut base = stage.base.clone();
    for _ in 0..stages.len() {
        let lower = base.to_ascii_lowercase();
        match stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            Some(parent) => base = parent.base.clone(),
            None => break,
        }
    }
    base
}

/// An image a build takes from the builder's storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    /// As the Dockerfile names it, global ARGs expanded.
    pub image: String,
    /// The line of the first FROM that starts from it.
    pub line: usize,
    /// A stage built on it installs packages: its Python is the one the lock must fit.
    pub installs: bool,
}

/// The images `file` starts its stages from (each once, in order of appearance), with
/// whether a stage on it installs packages. `scratch` is no image.
pub fn base_images(file: &Dockerfile, settings: &AuditSettings) -> Vec<BaseImage> {
    let (_, stages) = stages_of(file, settings);
    let mut images: Vec<BaseImage> = Vec::new();
    for stage in &stages {
        let image = external_base(stage, &stages);
        if image.is_empty() || image.eq_ignore_ascii_case("scratch") {
            continue;
        }
        match images.iter_mut().find(|known| known.image == image) {
            Some(known) => known.installs |= stage.air_gapped,
            None => images.push(BaseImage {
                image,
                line: stage.line,
                installs: stage.air_gapped,
            }),
        }
    }
    images
}

fn check_base_image(stage: &Stage, stages: &[Stage], settings: &AuditSettings, add: &mut Add<'_>) {
    let base = external_base(stage, stages).to_ascii_lowercase();
    let Some((major, minor, musl, glibc)) = python_image(&base) else {
        return;
    };
    if settings.targets.is_empty() {
        return;
    }
    let matching: Vec<&Target> = settings
        .targets
        .iter()
        .filter(|t| t.python_version.major == major && t.python_version.minor == minor)
        .filter(|t| matches!(t.platform.os, Os::Musllinux { .. }) == musl)
        .collect();
    if matching.is_empty() {
        let targets: Vec<String> = settings.targets.iter().map(ToString::to_string).collect();
        add(
            "DF050",
            Severity::Error,
            stage.line,
            format!(
                "the image {base} runs CPython {major}.{minor} on {}, but no lock targets it (targets: {}); add a target to airlock.toml",
                if musl { "musl" } else { "glibc" },
                targets.join(", ")
            ),
        );
        return;
    }
    if let Some(glibc) = glibc {
        for target in matching {
            if let Os::Manylinux { minor: needed, .. } = target.platform.os
                && needed > glibc
            {
                add(
                    "DF050",
                    Severity::Error,
                    stage.line,
                    format!(
                        "the image {base} has glibc 2.{glibc}, but the lock target {target} allows wheels that need glibc 2.{needed}; lower the target's manylinux version"
                    ),
                );
            }
        }
    }
}

fn check_mounts(
    mounts: &[Mount],
    line: usize,
    context: &dyn BuildContext,
    dockerignore: &str,
    docker_clean_disabled: bool,
    add: &mut Add<'_>,
) {
    for mount in mounts {
        if mount.required && !matches!(mount.kind, MountType::Secret | MountType::Ssh) {
            add(
                "DF032",
                Severity::Error,
                line,
                "`required` on this mount: BuildKit rejects it (\"unexpected key 'required'\"; only secret and ssh mounts take it) and Buildah rejects it as an invalid mount option, so the build fails before it starts; remove it (a missing bind source fails the build anyway)".into(),
            );
        }
        if mount.valued_readonly {
            add(
                "DF033",
                Severity::Warning,
                line,
                "`ro=…`/`rw=…` with a value: BuildKit accepts it, but Buildah/Podman refuse values on these options; write plain `ro` or `rw`".into(),
            );
        }
        if mount.kind == MountType::Bind && mount.from.is_none() {
            let source = clean_path(mount.source.as_deref().unwrap_or(""));
            let shown = if source.is_empty() {
                ".".to_string()
            } else {
                source.clone()
            };
            if !source.is_empty() && !context.exists(&source) {
                add(
                    "DF030",
                    Severity::Error,
                    line,
                    format!(
                        "the bind mount's source `{shown}` is not in the build context; run `airlock fetch`, or fix the path"
                    ),
                );
            } else if !source.is_empty() && dockerignore_excludes(dockerignore, &source) {
                add(
                    "DF031",
                    Severity::Error,
                    line,
                    format!(
                        "the bind mount's source `{shown}` is excluded by .dockerignore, so the build sees nothing there; add `!{shown}` to .dockerignore"
                    ),
                );
            }
        }
        let apt_cache = mount.kind == MountType::Cache
            && mount
                .target
                .as_deref()
                .is_some_and(|t| under(t, "/var/cache/apt") || under(t, "/var/lib/apt"));
        if apt_cache {
            let target = mount.target.clone().unwrap_or_default();
            if mount.sharing.as_deref() != Some("locked") {
                add(
                    "DF040",
                    Severity::Error,
                    line,
                    format!(
                        "the apt cache mount at {target} needs `sharing=locked`: apt locks its cache, and concurrent builds sharing it fail or corrupt it"
                    ),
                );
            }
            if mount.id.is_none() {
                add(
                    "DF041",
                    Severity::Warning,
                    line,
                    format!(
                        "the apt cache mount at {target} has no `id`; give it one so stages and Dockerfiles share it knowingly"
                    ),
                );
            }
            if !docker_clean_disabled {
                add("DF042", Severity::Warning, line, "the image's /etc/apt/apt.conf.d/docker-clean deletes downloaded packages, so this cache stays empty; remove it in an earlier RUN".into());
            }
        }
    }
}

/// Maps a path inside the image to a file of the build context, through bind mounts and COPY.
fn context_path(path: &str, mounts: &[Mount], copies: &[(String, String)]) -> Option<String> {
    for mount in mounts {
        if mount.kind != MountType::Bind || mount.from.is_some() {
            continue;
        }
        let (Some(target), source) = (
            mount.target.as_deref(),
            mount.source.as_deref().unwrap_or(""),
        ) else {
            continue;
        };
        if under(path, target) {
            let rest = clean_path(path)[clean_path(target).len()..]
                .trim_start_matches('/')
                .to_string();
            return Some(clean_path(&format!("{source}/{rest}")));
        }
    }
    for (dest, source) in copies.iter().rev() {
        let base = source.rsplit('/').next().unwrap_or(source);
        if clean_path(path) == clean_path(dest) {
            return Some(clean_path(source));
        }
        if (dest.ends_with('/') || dest == ".")
            && (clean_path(path) == clean_path(&format!("{dest}/{base}"))
                || clean_path(path) == base)
        {
            return Some(clean_path(source));
        }
        if !path.starts_with('/') && clean_path(path) == base {
            return Some(clean_path(source));
        }
    }
    None
}

/// Whether every requirement line of a file is pinned and hashed (an exported lock).
fn hashed_requirements(text: &str) -> bool {
    let mut logical = String::new();
    let mut any = false;
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or(line).trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            logical.push_str(continued);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let complete = std::mem::take(&mut logical);
        if complete.starts_with('-') && !complete.contains("--hash") {
            continue;
        }
        any = true;
        if !(complete.contains("==") && complete.contains("--hash=sha256:")) {
            return false;
        }
    }
    any
}

#[allow(clippy::too_many_arguments)]
fn check_install(
    installer: Installer,
    options: &InstallOptions,
    offline: bool,
    wheel_mounts: &[&Mount],
    mounts: &[Mount],
    copies: &[(String, String)],
    line: usize,
    context: &dyn BuildContext,
    settings: &AuditSettings,
    add: &mut Add<'_>,
) {
    let tool = match installer {
        Installer::Pip => "pip install",
        Installer::Uv => "uv pip install",
    };
    if wheel_mounts.is_empty() {
        add(
            "DF010",
            Severity::Error,
            line,
            format!(
                "`{tool}` runs without a bind mount of the wheelhouse; add `--mount=type=bind,source={},target=/wheelhouse`",
                settings.wheelhouse
            ),
        );
    }
    // `uv pip install -r /wheelhouse/pylock.<name>.toml`: an `airlock export --format pylock`
    // lock in the mounted wheelhouse names every file by its path there, so uv needs no index
    // and no --find-links, unless sdists are built (their build requirements are found with
    // --offline --find-links).
    let wheelhouse_lock = installer == Installer::Uv
        && options
            .requirement_files
            .iter()
            .any(|file| is_wheelhouse_pylock(file, wheel_mounts));
    let self_contained = wheelhouse_lock && settings.source_builds.is_empty();
    if wheelhouse_lock && !self_contained && (!offline || options.find_links.is_empty()) {
        let target = wheel_mounts
            .iter()
            .find_map(|m| m.target.as_deref())
            .unwrap_or("/wheelhouse");
        add(
            "DF012",
            Severity::Error,
            line,
            format!(
                "the locks build sdists, and uv finds their build requirements only with `--offline --find-links {target}` beside the exported pylock"
            ),
        );
        return;
    }
    if !offline && !self_contained {
        let needed = match installer {
            Installer::Pip => "--no-index",
            Installer::Uv => "--offline (or --no-index)",
        };
        add(
            "DF011",
            Severity::Error,
            line,
            format!(
                "`{tool}` without {needed} reaches for an index; in the air-gapped build it fails or fetches unvetted packages"
            ),
        );
    }
    for url in &options.index_urls {
        add(
            "DF021",
            Severity::Error,
            line,
            format!(
                "`{tool}` names an index ({url}); the air-gapped build must install only from the wheelhouse"
            ),
        );
    }
    let mut at_wheelhouse = false;
    for link in &options.find_links {
        if link.starts_with("http://") || link.starts_with("https://") {
            add(
                "DF022",
                Severity::Error,
                line,
                format!("`--find-links {link}` reaches the network"),
            );
            continue;
        }
        let path = link.strip_prefix("file://").unwrap_or(link);
        if wheel_mounts
            .iter()
            .any(|m| m.target.as_deref().is_some_and(|t| under(path, t)))
        {
            at_wheelhouse = true;
        }
    }
    if !at_wheelhouse && !self_contained {
        let targets: Vec<&str> = wheel_mounts
            .iter()
            .filter_map(|m| m.target.as_deref())
            .collect();
        let hint = targets
            .first()
            .map_or("the wheelhouse mount's target".to_string(), |t| {
                format!("`--find-links {t}`")
            });
        add(
            "DF012",
            Severity::Error,
            line,
            format!("`{tool}` does not read the wheelhouse: use {hint}"),
        );
    }
    for package in &options.packages {
        if package.contains("://") || package.starts_with("git+") {
            add(
                "DF023",
                Severity::Error,
                line,
                format!("`{tool} {package}` installs from a URL"),
            );
        }
    }
    check_source_builds(tool, options, line, settings, add);
    let mut locked = options.require_hashes;
    for file in &options.requirement_files {
        if wheelhouse_lock && is_wheelhouse_pylock(file, wheel_mounts) {
            // Hash-pinned by construction; verify checks it is current (AL108). It must be
            // there to be installed.
            locked = true;
            let in_context = wheel_mounts.iter().find_map(|m| {
                let target = m.target.as_deref()?;
                let rest = clean_path(file)
                    .strip_prefix(&clean_path(target))?
                    .trim_start_matches('/')
                    .to_string();
                Some(format!("{}/{rest}", clean_path(m.source.as_deref()?)))
            });
            if let Some(path) = in_context
                && !context.exists(&path)
            {
                add(
                    "DF014",
                    Severity::Error,
                    line,
                    format!(
                        "`{path}` is installed but is not in the build context; run `airlock export --format pylock`"
                    ),
                );
            }
            continue;
        }
        let Some(path) = context_path(file, mounts, copies) else {
            add(
                "DF014",
                Severity::Warning,
                line,
                format!(
                    "cannot tell which build-context file `{file}` is (no bind mount or COPY brings it in); airlock cannot check it is covered by a lock"
                ),
            );
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or(&path);
        let is_lock = under(&path, &settings.lockfiles)
            && name.starts_with("pylock.")
            && name.ends_with(".toml");
        let hashed = !is_lock
            && context
                .read(&path)
                .is_some_and(|text| hashed_requirements(&text));
        let is_input = settings.requirements.iter().any(|r| clean_path(r) == path);
        if is_lock || hashed {
            locked = true;
        } else if !is_input {
            add(
                "DF014",
                Severity::Error,
                line,
                format!(
                    "`{path}` is installed but no lock in {} covers it; list it in airlock.toml and install its lock or `airlock export` output",
                    settings.lockfiles
                ),
            );
        }
    }
    if !locked {
        add(
            "DF013",
            Severity::Error,
            line,
            format!(
                "`{tool}` installs without --require-hashes and without a lock: pins and hashes are not enforced; install `airlock export --format requirements-txt` output or the pylock"
            ),
        );
    }
}

/// A `pylock.<name>.toml` inside the wheelhouse mount: what `airlock export --format pylock`
/// writes there.
fn is_wheelhouse_pylock(file: &str, wheel_mounts: &[&Mount]) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    crate::python::export::pylock_name(name).is_some()
        && wheel_mounts
            .iter()
            .any(|m| m.target.as_deref().is_some_and(|t| under(file, t)))
}

/// Normalises a project name the way PEP 503 does (a name that is not one stays as written).
fn normalize_name(name: &str) -> String {
    use std::str::FromStr;
    pep508_rs::PackageName::from_str(name.trim())
        .map_or_else(|_| name.trim().to_string(), |n| n.to_string())
}

/// DF015/DF016: the install must be able to build the sdists the locks need. pip's build
/// isolation installs their build requirements from `--find-links`, so an offline build works
/// with the defaults; `--only-binary`/`--no-build` refuses it, and `--no-build-isolation`
/// builds with whatever the image already has.
fn check_source_builds(
    tool: &str,
    options: &InstallOptions,
    line: usize,
    settings: &AuditSettings,
    add: &mut Add<'_>,
) {
    if settings.source_builds.is_empty() {
        return;
    }
    let mut refused: Vec<String> = Vec::new();
    for build in &settings.source_builds {
        let name = normalize_name(&build.package);
        let by_only_binary = options.only_binary.iter().any(|value| {
            value
                .split(',')
                .any(|item| item.trim() == ":all:" || normalize_name(item) == name)
        });
        let by_no_build = options
            .no_build_packages
            .iter()
            .any(|item| normalize_name(item) == name);
        if by_only_binary || by_no_build {
            refused.push(build.sdist.clone());
        }
    }
    refused.sort();
    refused.dedup();
    if !refused.is_empty() {
        add(
            "DF015",
            Severity::Error,
            line,
            format!(
                "`{tool}` refuses source builds, but the lock builds {}: no wheel fits the target; drop --only-binary/--no-build for them (their build requirements are in the wheelhouse)",
                refused.join(", ")
            ),
        );
    }
    if options.no_build_isolation {
        let mut needs: Vec<String> = settings
            .source_builds
            .iter()
            .flat_map(|b| b.build_requires.iter().cloned())
            .collect();
        needs.sort();
        needs.dedup();
        let sdists: Vec<&str> = settings
            .source_builds
            .iter()
            .map(|b| b.sdist.as_str())
            .collect();
        add(
            "DF016",
            Severity::Warning,
            line,
            format!(
                "`{tool} --no-build-isolation` builds {} with what the image already has; install their build requirements ({}) from the wheelhouse in an earlier step, or drop --no-build-isolation",
                sdists.join(", "),
                needs.join(", ")
            ),
        );
    }
}

fn check_network_command(
    words: &[String],
    air_gapped: bool,
    script: &str,
    mounts: &[Mount],
    settings: &AuditSettings,
    line: usize,
    add: &mut Add<'_>,
) {
    let words = strip_prefixes(words);
    let Some(program) = words.first().map(|w| basename(w)) else {
        return;
    };
    let second = words.get(1).map(String::as_str).unwrap_or("");
    let reason = match program {
        "curl" | "wget" => Some(format!("`{program}` downloads during the build")),
        "git"
            if matches!(
                second,
                "clone" | "fetch" | "pull" | "ls-remote" | "submodule"
            ) =>
        {
            Some(format!("`git {second}` reaches a remote"))
        }
        p if is_pip(p) && second == "download" => {
            Some("`pip download` reaches an index".to_string())
        }
        p if is_pip(p) && second == "wheel" && !words.iter().any(|w| w == "--no-index") => {
            Some("`pip wheel` without --no-index reaches an index".to_string())
        }
        "apt-get" | "apt" if second == "update" => {
            // A local repository in the wheelhouse (file: sources) keeps apt offline.
            let local = script.contains("file:")
                || mounts.iter().any(|m| {
                    m.source
                        .as_deref()
                        .is_some_and(|s| under(s, &format!("{}/apt", settings.wheelhouse)))
                });
            (!local).then(|| format!("`{program} update` reads the image's remote apt sources"))
        }
        _ => None,
    };
    if let Some(reason) = reason {
        let (severity, what) = if air_gapped {
            (Severity::Error, "in the air-gapped stage")
        } else {
            (
                Severity::Warning,
                "(this stage does not install from the wheelhouse, but will fail without a network too)",
            )
        };
        add(
            "DF023",
            severity,
            line,
            format!("{reason} {what}; bring the files in through the build context"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::dockerfile::parser::parse;
    use std::collections::HashMap as Map;

    #[derive(Default)]
    pub(crate) struct MemoryContext {
        pub files: Map<String, String>,
        pub dockerignore: Option<String>,
    }

    impl BuildContext for MemoryContext {
        fn exists(&self, path: &str) -> bool {
            let path = clean_path(path);
            self.files.keys().any(|f| under(f, &path))
        }
        fn read(&self, path: &str) -> Option<String> {
            self.files.get(&clean_path(path)).cloned()
        }
        fn dockerignore(&self) -> Option<String> {
            self.dockerignore.clone()
        }
    }

    fn settings() -> AuditSettings {
        AuditSettings {
            wheelhouse: "wheelhouse".into(),
            lockfiles: "lockfiles".into(),
            requirements: vec!["requirements/app.in".into()],
            targets: vec![Target::new("3.12", "x86_64-manylinux_2_36").unwrap()],
            source_builds: Vec::new(),
        }
    }

    fn context() -> MemoryContext {
        let mut files = Map::new();
        files.insert(
            "wheelhouse/six-1.16.0-py2.py3-none-any.whl".to_string(),
            String::new(),
        );
        files.insert("lockfiles/pylock.app.toml".to_string(), String::new());
        files.insert("wheelhouse/pylock.app.toml".to_string(), String::new());
        files.insert(
            "requirements.lock.txt".to_string(),
            format!("six==1.16.0 \\\n    --hash=sha256:{}\n", "a".repeat(64)),
        );
        files.insert("requirements/loose.txt".to_string(), "six\n".to_string());
        MemoryContext {
            files,
            dockerignore: None,
        }
    }

    fn rules_of(text: &str) -> Vec<String> {
        let file = parse(text);
        let mut found: Vec<String> = audit(&file, "Dockerfile", &context(), &settings())
            .into_iter()
            .map(|f| format!("{}@{}", f.rule, f.location.line.unwrap_or(0)))
            .collect();
        found.sort();
        found
    }

    const GOOD: &str = "# syntax=docker/dockerfile:1\nFROM python:3.12-slim-bookworm\nCOPY requirements.lock.txt /tmp/\nRUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \\\n    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/requirements.lock.txt\n";

    #[test]
    fn a_good_dockerfile_has_no_findings() {
        assert_eq!(rules_of(GOOD), Vec::<String>::new());
        let uv = "# syntax=docker/dockerfile:1\nFROM python:3.12-slim\nRUN --mount=type=bind,src=wheelhouse,dst=/w --mount=type=bind,source=lockfiles,target=/locks \\\n    uv pip install --system --offline -f /w -r /locks/pylock.app.toml\n";
        assert_eq!(rules_of(uv), Vec::<String>::new());
    }

    #[test]
    fn an_unquoted_comparison_in_an_install_is_a_redirection() {
        assert_eq!(
            unquoted_comparisons(
                "pip install --no-index -f /w requests>=2.31 'six<2' \"idna>=3\" 2>/dev/null > log"
            ),
            ["requests>=2.31"]
        );
        assert_eq!(
            unquoted_comparisons("uv pip install --system x<3 && echo a>b"),
            ["x<3"]
        );
        assert!(unquoted_comparisons("echo a>=b; ls 2>&1").is_empty());
        let text = "# syntax=docker/dockerfile:1\nFROM python:3.12-slim\nRUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \\\n    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/requirements.lock.txt six>=1.16\n";
        assert!(
            rules_of(text).contains(&"DF018@3".to_string()),
            "{:?}",
            rules_of(text)
        );
        assert!(!rules_of(GOOD).iter().any(|r| r.starts_with("DF018")));
    }

    #[test]
    fn an_exported_pylock_in_the_wheelhouse_mount_is_an_air_gapped_install() {
        for verb in ["install", "sync"] {
            let text = format!(
                "# syntax=docker/dockerfile:1\nFROM python:3.12-slim\nRUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \\\n    uv pip {verb} --system -r /wheelhouse/pylock.app.toml\n"
            );
            assert_eq!(rules_of(&text), Vec::<String>::new(), "uv pip {verb}");
        }
        // Outside the mount, or not a pylock, it is an ordinary install.
        let elsewhere = "# syntax=docker/dockerfile:1\nFROM python:3.12-slim\nRUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \\\n    uv pip install --system -r /tmp/pylock.app.toml\n";
        assert!(rules_of(elsewhere).contains(&"DF011@3".to_string()));
        let absent = "# syntax=docker/dockerfile:1\nFROM python:3.12-slim\nRUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \\\n    uv pip install --system -r /wheelhouse/pylock.other.toml\n";
        assert_eq!(rules_of(absent), ["DF014@3"]);
        // When the locks build sdists, uv needs --offline --find-links for their build
        // requirements.
        let with_builds = AuditSettings {
            source_builds: vec![SourceBuild {
                package: "langdetect".into(),
                sdist: "langdetect-1.0.9.tar.gz".into(),
                build_requires: vec!["setuptools".into()],
            }],
            ..settings()
        };
        let found = |text: &str| -> Vec<&'static str> {
            audit(&parse(text), "Dockerfile", &context(), &with_builds)
                .into_iter()
                .map(|f| f.rule)
                .collect()
        };
        let bare = "# syntax=docker/dockerfile:1\nFROM python:3.12-slim\nRUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \\\n    uv pip install --system -r /wheelhouse/pylock.app.toml\n";
        assert_eq!(found(bare), ["DF012"]);
        let flagged = bare.replace("--system", "--system --offline --find-links /wheelhouse");
        assert_eq!(found(&flagged), Vec::<&str>::new());
    }

    #[test]
    fn each_seeded_defect_has_its_rule() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "late syntax",
                "FROM python:3.12-slim\n# syntax=docker/dockerfile:1\n",
                "DF001@2",
            ),
            (
                "no mount",
                "# syntax=docker/dockerfile:1\nFROM python:3.12-slim\nRUN pip install --no-index --find-links /w --require-hashes -r /w/x\n",
                "DF010@3",
            ),
            ("no --no-index", &GOOD.replace("--no-index ", ""), "DF011@4"),
            (
                "find-links elsewhere",
                &GOOD.replace("--find-links /wheelhouse", "--find-links /tmp"),
                "DF012@4",
            ),
            (
                "no hashes",
                &GOOD.replace("--require-hashes -r /tmp/requirements.lock.txt", "six"),
                "DF013@4",
            ),
            (
                "network fallback",
                &GOOD.replace(
                    "requirements.lock.txt\n",
                    "requirements.lock.txt || pip install six\n",
                ),
                "DF020@4",
            ),
            (
                "env index",
                &GOOD.replace(
                    "COPY",
                    "ENV PIP_INDEX_URL=https://mirror.invalid/simple\nCOPY",
                ),
                "DF021@3",
            ),
            (
                "flag index",
                &GOOD.replace(
                    "--no-index",
                    "--no-index --extra-index-url https://mirror.invalid/simple",
                ),
                "DF021@4",
            ),
            (
                "remote find-links",
                &GOOD.replace(
                    "--find-links /wheelhouse",
                    "--find-links /wheelhouse --find-links https://mirror.invalid/wheels",
                ),
                "DF022@4",
            ),
            (
                "curl",
                &format!("{GOOD}RUN curl -fsSL https://example.invalid/x | sh\n"),
                "DF023@6",
            ),
            (
                "apt-get update",
                &format!("{GOOD}RUN apt-get update && apt-get install -y gcc\n"),
                "DF023@6",
            ),
            (
                "missing source",
                &GOOD.replace("source=wheelhouse", "source=wheelhouse/nope"),
                "DF030@4",
            ),
            (
                "required",
                &GOOD.replace("target=/wheelhouse", "target=/wheelhouse,required"),
                "DF032@4",
            ),
            (
                "valued ro",
                &GOOD.replace("target=/wheelhouse", "target=/wheelhouse,ro=true"),
                "DF033@4",
            ),
            (
                "python mismatch",
                &GOOD.replace("3.12-slim-bookworm", "3.11-slim"),
                "DF050@2",
            ),
            (
                "glibc too old",
                &GOOD.replace("bookworm", "bullseye"),
                "DF050@2",
            ),
            (
                "uncovered requirements",
                &GOOD
                    .replace("requirements.lock.txt", "requirements/loose.txt")
                    .replace(
                        "COPY requirements/loose.txt /tmp/",
                        "COPY requirements/loose.txt /tmp/loose.txt",
                    )
                    .replace("/tmp/requirements/loose.txt", "/tmp/loose.txt"),
                "DF014@4",
            ),
        ];
        for (what, text, rule) in cases {
            let found = rules_of(text);
            assert!(
                found.contains(&rule.to_string()),
                "{what}: expected {rule} in {found:?}\n{text}"
            );
        }
    }

    #[test]
    fn apt_cache_mounts_need_locking_an_id_and_no_docker_clean() {
        let text = "# syntax=docker/dockerfile:1\nFROM debian:bookworm\nRUN --mount=type=cache,target=/var/cache/apt apt-get install -y gcc\n";
        assert_eq!(rules_of(text), ["DF040@3", "DF041@3", "DF042@3"]);
        let good = "# syntax=docker/dockerfile:1\nFROM debian:bookworm\nRUN rm -f /etc/apt/apt.conf.d/docker-clean\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=apt-cache apt-get install -y gcc\n";
        assert_eq!(rules_of(good), Vec::<String>::new());
    }

    #[test]
    fn dockerignore_can_hide_the_wheelhouse() {
        let file = parse(GOOD);
        let mut context = context();
        context.dockerignore = Some("*\n!requirements.lock.txt\n".into());
        let rules: Vec<_> = audit(&file, "Dockerfile", &context, &settings())
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(rules, ["DF031"]);
        context.dockerignore = Some("*\n!wheelhouse\n".into());
        assert!(audit(&file, "Dockerfile", &context, &settings()).is_empty());
        assert!(dockerignore_excludes("**/*.whl\n", "wheelhouse/a.whl"));
        assert!(!dockerignore_excludes(
            "wheelhouse/*.txt\n",
            "wheelhouse/a.whl"
        ));
        assert!(dockerignore_excludes("wheel*\n", "wheelhouse"));
    }

    #[test]
    fn mount_options_expand_args_and_heredocs_are_read() {
        let text = "# syntax=docker/dockerfile:1\nARG WHEELS=wheelhouse\nFROM python:3.12-slim AS build\nARG WHEELS\nCOPY requirements.lock.txt /tmp/\nRUN --mount=type=bind,source=${WHEELS},target=/w <<EOF\nset -e\npip install --no-index --find-links /w --require-hashes -r /tmp/requirements.lock.txt\nEOF\n";
        assert_eq!(rules_of(text), Vec::<String>::new());
        let fallback = text.replace(
            "requirements.lock.txt\nEOF",
            "requirements.lock.txt || pip install six\nEOF",
        );
        assert!(rules_of(&fallback).contains(&"DF020@6".to_string()));
    }

    #[test]
    fn splits_shell_commands_with_their_joins() {
        let commands = simple_commands("a && b || c; d | e\nif x; then y; else z; fi");
        let joins: Vec<(Join, &str)> = commands.iter().map(|(j, w)| (*j, w[0].as_str())).collect();
        assert_eq!(
            joins,
            [
                (Join::Start, "a"),
                (Join::And, "b"),
                (Join::Or, "c"),
                (Join::Sequence, "d"),
                (Join::Pipe, "e"),
                (Join::Sequence, "x"),
                (Join::Sequence, "y"),
                (Join::Else, "z"),
            ]
        );
        assert_eq!(simple_commands("echo 'a && b'").len(), 1);
    }
}
