//! A Dockerfile parser for what BuildKit accepts, written from the Dockerfile reference and
//! BuildKit's parser sources (`frontend/dockerfile/parser`, `instructions/commands_runmount.go`).
//!
//! - Parser directives (`syntax`, `escape`, `check`) only at the very top: a line must start
//!   with `#` exactly; a blank line, any other comment, an unknown directive or an instruction
//!   ends the search. A byte-order mark and a leading `#!` line are discarded first, as
//!   BuildKit's `discardBOM`/`discardShebang` do.
//! - The escape character (`\` or `` ` ``) continues lines; comment lines and blank lines inside
//!   a continuation are skipped.
//! - Heredocs (`<<EOF`, `<<-EOF` strips leading tabs, `<<"EOF"` does not expand).
//! - Flags (`--mount=…`) before the arguments; JSON (exec) form or shell form.
//! - `--mount` values are CSV with case-insensitive keys and every alias; ARG and ENV values are
//!   expanded in them (except `from`, which BuildKit refuses to expand).

use std::collections::HashMap;

/// A parser directive that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub delimiter: String,
    pub body: String,
    /// Quoted delimiters (`<<"EOF"`) turn expansion off.
    pub expand: bool,
}

/// One instruction, with its continuation lines and heredocs folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper case.
    pub keyword: String,
    /// The first physical line, 1-based.
    pub line: usize,
    /// `(name, value)` of each `--flag=value` before the arguments (`value` empty for bare flags).
    pub flags: Vec<(String, String)>,
    /// The arguments after the flags, as one line.
    pub args: String,
    /// The exec form's words, when the arguments are a JSON array of strings.
    pub json: Option<Vec<String>>,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Vec<Directive>,
    pub escape: char,
    pub bom: bool,
    /// Comment lines that look like `# syntax=…` but are not directives (too late).
    pub ineffective_syntax: Vec<usize>,
    pub instructions: Vec<Instruction>,
}

impl Dockerfile {
    pub fn directive(&self, name: &str) -> Option<&Directive> {
        self.directives.iter().find(|d| d.name == name)
    }
}

/// `name = value` after the `#` of a directive line (BuildKit's directive regexp).
fn directive_parts(rest: &str) -> Option<(String, String)> {
    let rest = rest.trim_start();
    let (name, value) = rest.split_once('=')?;
    let name = name.trim_end();
    let mut chars = name.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Splits words on whitespace, honouring single and double quotes (quotes removed).
pub fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            Some(_) => current.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    in_word = true;
                }
                '\\' => {
                    if let Some(next) = chars.next() {
                        current.push(next);
                        in_word = true;
                    }
                }
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut current));
                        in_word = false;
                    }
                }
                c => {
                    current.push(c);
                    in_word = true;
                }
            },
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// The heredoc delimiters a line opens, in order: `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`.
fn heredoc_openers(line: &str) -> Vec<(String, bool, bool)> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        let mut after = &rest[at + 2..];
        let strip_tabs = after.starts_with('-');
        if strip_tabs {
            after = &after[1..];
        }
        let (quoted, word): (bool, String) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &after[1..];
                match inner.find(q) {
                    Some(end) => (true, inner[..end].to_string()),
                    None => (true, String::new()),
                }
            }
            _ => (
                false,
                after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect(),
            ),
        };
        if !word.is_empty() && word.chars().next().is_some_and(|c| !c.is_ascii_digit()) {
            found.push((word, strip_tabs, !quoted));
        }
        rest = &rest[at + 2..];
    }
    found
}

pub fn parse(text: &str) -> Dockerfile {
    let bom = text.starts_with('\u{feff}');
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut dockerfile = Dockerfile {
        bom,
        escape: '\\',
        ..Dockerfile::default()
    };
    let mut index = 0;
    if lines.first().is_some_and(|l| l.starts_with("#!")) {
        index = 1;
    }
    // Parser directives.
    while index < lines.len() {
        let line = lines[index];
        let Some(rest) = line.strip_prefix('#') else {
            break;
        };
        let Some((name, value)) = directive_parts(rest) else {
            break;
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check")
            || dockerfile.directives.iter().any(|d| d.name == name)
        {
            break;
        }
        dockerfile.directives.push(Directive {
            name,
            value,
            line: index + 1,
        });
        index += 1;
    }
    if dockerfile
        .directive("escape")
        .is_some_and(|d| d.value == "`")
    {
        dockerfile.escape = '`';
    }
    let escape = dockerfile.escape;
    while index < lines.len() {
        let line = lines[index];
        let number = index + 1;
        index += 1;
        if line.trim().is_empty() {
            continue;
        }
        if is_comment(line) {
            if line
                .trim_start()
                .strip_prefix('#')
                .and_then(directive_parts)
                .is_some_and(|(name, _)| name == "syntax")
            {
                dockerfile.ineffective_syntax.push(number);
            }
            continue;
        }
        let mut logical = line.trim_end().to_string();
        while logical.ends_with(escape) {
            logical.pop();
            // Skip comment and blank lines inside the continuation, as BuildKit does.
            while index < lines.len()
                && (lines[index].trim().is_empty() || is_comment(lines[index]))
            {
                index += 1;
            }
            if index >= lines.len() {
                break;
            }
            logical.push(' ');
            logical.push_str(lines[index].trim());
            index += 1;
        }
        let trimmed = logical.trim_start();
        let (keyword, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let keyword = keyword.to_ascii_uppercase();
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (delimiter, strip_tabs, expand) in heredoc_openers(rest) {
                let mut body = String::new();
                while index < lines.len() {
                    let mut content = lines[index];
                    index += 1;
                    if strip_tabs {
                        content = content.trim_start_matches('\t');
                    }
                    if content == delimiter {
                        break;
                    }
                    body.push_str(content);
                    body.push('\n');
                }
                heredocs.push(Heredoc {
                    delimiter,
                    body,
                    expand,
                });
            }
        }
        // Flags come first: `--name=value` or `--name`.
        let mut flags = Vec::new();
        let mut args = rest.trim_start();
        while let Some(after) = args.strip_prefix("--") {
            let end = flag_end(after);
            let flag = &after[..end];
            let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
            let value = value.trim_matches('"').to_string();
            flags.push((name.to_ascii_lowercase(), value));
            args = after[end..].trim_start();
        }
        let json = args
            .trim()
            .starts_with('[')
            .then(|| serde_json::from_str::<Vec<String>>(args.trim()).ok())
            .flatten();
        dockerfile.instructions.push(Instruction {
            keyword,
            line: number,
            flags,
            args: args.to_string(),
            json,
            heredocs,
        });
    }
    dockerfile
}

/// The end of a flag word: the first whitespace outside quotes.
fn flag_end(text: &str) -> usize {
    let mut quote = None;
    for (at, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => return at,
            None => {}
        }
    }
    text.len()
}

/// Variables visible at a point of the build: ARG and ENV values.
pub type Variables = HashMap<String, String>;

/// Expands `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternative}` (and the forms
/// without the colon), as BuildKit's shell lexer does for words. Unset names expand to "".
pub fn expand(text: &str, variables: &Variables) -> String {
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().map(|&(_, c)| c) {
            Some('{') => {
                chars.next();
                let mut inner = String::new();
                let mut depth = 1;
                for (_, c) in chars.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    inner.push(c);
                }
                let name_end = inner
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(inner.len());
                let (name, modifier) = inner.split_at(name_end);
                let value = variables.get(name).filter(|v| !v.is_empty());
                let set = variables.contains_key(name);
                let expanded = if let Some(word) = modifier.strip_prefix(":-") {
                    value.cloned().unwrap_or_else(|| expand(word, variables))
                } else if let Some(word) = modifier.strip_prefix('-') {
                    if set {
                        variables[name].clone()
                    } else {
                        expand(word, variables)
                    }
                } else if let Some(word) = modifier.strip_prefix(":+") {
                    if value.is_some() {
                        expand(word, variables)
                    } else {
                        String::new()
                    }
                } else if let Some(word) = modifier.strip_prefix('+') {
                    if set {
                        expand(word, variables)
                    } else {
                        String::new()
                    }
                } else {
                    variables.get(name).cloned().unwrap_or_default()
                };
                out.push_str(&expanded);
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(variables.get(&name).map_or("", String::as_str));
            }
            _ => out.push('$'),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// A `--mount` flag after aliases and expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    pub source: Option<String>,
    pub target: Option<String>,
    pub from: Option<String>,
    pub id: Option<String>,
    pub sharing: Option<String>,
    pub readonly: bool,
    /// `required` given (BuildKit accepts it only on secret and ssh mounts).
    pub required: bool,
    /// `ro`/`rw`/`readonly`/`readwrite` given with a value (`ro=true`), which Buildah refuses.
    pub valued_readonly: bool,
    /// Keys BuildKit does not know.
    pub unknown_keys: Vec<String>,
}

/// Splits CSV fields (double quotes group, as Go's encoding/csv does).
fn csv_fields(text: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields
}

pub fn parse_mount(value: &str, variables: &Variables) -> Mount {
    let mut mount = Mount {
        kind: MountType::Bind,
        source: None,
        target: None,
        from: None,
        id: None,
        sharing: None,
        readonly: true,
        required: false,
        valued_readonly: false,
        unknown_keys: Vec::new(),
    };
    let mut readonly_set = false;
    for field in csv_fields(value) {
        let (key, raw) = match field.split_once('=') {
            Some((key, value)) => (key.trim().to_ascii_lowercase(), Some(value)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let value = raw.map(|v| {
            if key == "from" {
                v.to_string()
            } else {
                expand(v, variables)
            }
        });
        match (key.as_str(), value) {
            ("type", Some(v)) => {
                mount.kind = match v.to_ascii_lowercase().as_str() {
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => MountType::Bind,
                }
            }
            ("source" | "src", Some(v)) => mount.source = Some(v),
            ("target" | "dst" | "destination", Some(v)) => mount.target = Some(v),
            ("from", Some(v)) => mount.from = Some(v),
            ("id", Some(v)) => mount.id = Some(v),
            ("sharing", Some(v)) => mount.sharing = Some(v.to_ascii_lowercase()),
            ("required", _) => mount.required = true,
            ("ro" | "readonly", value) => {
                mount.valued_readonly |= value.is_some();
                mount.readonly = value.is_none_or(|v| v.eq_ignore_ascii_case("true"));
                readonly_set = true;
            }
            ("rw" | "readwrite", value) => {
                mount.valued_readonly |= value.is_some();
                mount.readonly = !value.is_none_or(|v| v.eq_ignore_ascii_case("true"));
                readonly_set = true;
            }
            ("mode" | "uid" | "gid" | "size", Some(_)) => {}
            ("", None) => {}
            (other, _) => mount.unknown_keys.push(other.to_string()),
        }
    }
    if !readonly_set {
        // BuildKit: bind mounts default to read-only, cache and tmpfs to read-write.
        mount.readonly = !matches!(mount.kind, MountType::Cache | MountType::Tmpfs);
    }
    mount
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_only_at_the_very_top() {
        let file = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\n");
        assert_eq!(
            file.directive("syntax").unwrap().value,
            "docker/dockerfile:1"
        );
        assert_eq!(file.escape, '`');
        // After any instruction or comment, a directive is just a comment.
        let late = parse("FROM scratch\n# syntax=docker/dockerfile:1\n");
        assert!(late.directive("syntax").is_none());
        assert_eq!(late.ineffective_syntax, [2]);
        let after_comment = parse("# a comment\n# syntax=docker/dockerfile:1\nFROM scratch\n");
        assert!(after_comment.directive("syntax").is_none());
        let after_blank = parse("\n# syntax=docker/dockerfile:1\nFROM scratch\n");
        assert!(after_blank.directive("syntax").is_none());
        let unknown_first = parse("# unknowndirective=value\n# syntax=docker/dockerfile:1\n");
        assert!(unknown_first.directive("syntax").is_none());
        let indented = parse(" # syntax=docker/dockerfile:1\nFROM scratch\n");
        assert!(
            indented.directive("syntax").is_none(),
            "the line must start with #"
        );
        // BuildKit discards a BOM and a shebang before looking.
        let bom = parse("\u{feff}# syntax=docker/dockerfile:1\nFROM scratch\n");
        assert!(bom.bom && bom.directive("syntax").is_some());
        let shebang =
            parse("#!/usr/bin/env buildctl\n# syntax = docker/dockerfile:1\nFROM scratch\n");
        assert_eq!(shebang.directive("syntax").unwrap().line, 2);
        let spaced = parse("#   SYNTAX  =  docker/dockerfile:1.7  \n");
        assert_eq!(
            spaced.directive("syntax").unwrap().value,
            "docker/dockerfile:1.7"
        );
    }

    #[test]
    fn continuations_skip_comments_and_blank_lines_and_honour_escape() {
        let file = parse(
            "FROM python:3.12-slim\nRUN pip install \\\n  # a comment\n\n  --no-index \\\n  six\n",
        );
        let run = &file.instructions[1];
        assert_eq!(run.line, 2);
        assert_eq!(
            split_words(&run.args),
            ["pip", "install", "--no-index", "six"]
        );
        let backtick = parse("# escape=`\nFROM scratch\nRUN echo a `\n  b\nRUN c:\\path\\\n");
        assert_eq!(
            split_words(&backtick.instructions[1].args),
            ["echo", "a", "b"]
        );
        assert_eq!(backtick.instructions[2].args, "c:\\path\\");
    }

    #[test]
    fn heredocs_json_form_and_flags() {
        let text = "FROM alpine\nRUN --mount=type=bind,source=wheelhouse,target=/w <<EOF\npip install --no-index x\nEOF\nRUN <<-'END' cat\n\techo $HOME\n\tEND\nCMD [\"python\", \"-m\", \"app\"]\nRUN --network=none [\"sh\", \"-c\", \"true\"]\n";
        let file = parse(text);
        let run = &file.instructions[1];
        assert_eq!(
            run.flags,
            [(
                "mount".to_string(),
                "type=bind,source=wheelhouse,target=/w".to_string()
            )]
        );
        assert_eq!(run.heredocs[0].body, "pip install --no-index x\n");
        let quoted = &file.instructions[2];
        assert_eq!(quoted.heredocs[0].body, "echo $HOME\n");
        assert!(!quoted.heredocs[0].expand);
        assert_eq!(
            file.instructions[3].json.as_deref().unwrap(),
            ["python", "-m", "app"]
        );
        assert_eq!(
            file.instructions[4].flags[0],
            ("network".to_string(), "none".to_string())
        );
        assert_eq!(
            file.instructions[4].json.as_deref().unwrap(),
            ["sh", "-c", "true"]
        );
        assert_eq!(file.instructions.len(), 5);
    }

    #[test]
    fn mounts_with_aliases_any_order_and_expansion() {
        let mut variables = Variables::new();
        variables.insert("WHEELS".into(), "wheelhouse".into());
        let mount = parse_mount("dst=/wheels,SRC=${WHEELS},type=bind,ro", &variables);
        assert_eq!(mount.kind, MountType::Bind);
        assert_eq!(mount.source.as_deref(), Some("wheelhouse"));
        assert_eq!(mount.target.as_deref(), Some("/wheels"));
        assert!(mount.readonly && !mount.valued_readonly);
        let cache = parse_mount(
            "type=cache,target=/var/cache/apt,sharing=LOCKED,id=apt",
            &variables,
        );
        assert_eq!(cache.kind, MountType::Cache);
        assert_eq!(cache.sharing.as_deref(), Some("locked"));
        assert!(!cache.readonly, "cache mounts default to read-write");
        let valued = parse_mount(
            "type=bind,source=a,destination=/a,readonly=true,required",
            &variables,
        );
        assert!(valued.valued_readonly && valued.required);
        let from = parse_mount("from=$STAGE,source=/x,target=/y", &variables);
        assert_eq!(
            from.from.as_deref(),
            Some("$STAGE"),
            "from is never expanded"
        );
        assert_eq!(
            parse_mount("\"target=/a,b\",source=s", &variables)
                .target
                .as_deref(),
            Some("/a,b")
        );
    }

    #[test]
    fn expands_like_the_shell_lexer() {
        let mut variables = Variables::new();
        variables.insert("A".into(), "1".into());
        variables.insert("EMPTY".into(), String::new());
        assert_eq!(
            expand(
                "$A/${A}/${B:-two}/${A:+yes}/${B:+no}/${EMPTY-set}/${EMPTY:-unset}/$$",
                &variables
            ),
            "1/1/two/yes///unset/$$",
            "EMPTY is set, so the dash form keeps its empty value"
        );
    }
}
