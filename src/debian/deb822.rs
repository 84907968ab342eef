//! deb822 stanzas (Debian Policy §5.1): `Field: value` lines, continuation lines starting with
//! a space or tab, stanzas separated by blank lines. Tolerant where Policy allows (field names
//! compare case-insensitively; `#` comment lines, as `.sources` files use them), and zero-copy:
//! values borrow from the input, so a large `Packages` file is parsed without copying it.

/// One field: its name as written, its value (continuation lines included, trimmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stanza<'a> {
    pub fields: Vec<Field<'a>>,
    /// The 1-based line the stanza starts on, for messages.
    pub line: usize,
    /// The stanza's bytes in the input: its first field line to the end of its last line.
    pub span: std::ops::Range<usize>,
}

impl<'a> Stanza<'a> {
    /// The value of `name`, compared case-insensitively. A field given twice takes its last
    /// value, as apt's tag-file parser indexes it (each occurrence replaces the earlier one
    /// in its lookup table), so airlock reads a stanza as apt would resolve it.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .rfind(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Deb822Error {
    #[error("line {line}: `{text}` is neither `Field: value` nor a continuation line")]
    Malformed { line: usize, text: String },
    #[error("line {line}: a continuation line before any field")]
    OrphanContinuation { line: usize },
}

impl Deb822Error {
    /// The same error for a text that began `lines` lines into a larger one.
    pub fn shifted(self, lines: usize) -> Self {
        match self {
            Deb822Error::Malformed { line, text } => Deb822Error::Malformed {
                line: line + lines,
                text,
            },
            Deb822Error::OrphanContinuation { line } => {
                Deb822Error::OrphanContinuation { line: line + lines }
            }
        }
    }
}

/// A multi-line value as its lines (Policy §5.1): each continuation line loses its leading
/// space or tab, and a line that is only `.` stands for an empty line (how a `.sources`
/// stanza embeds an ASCII-armoured key in `Signed-By`).
pub fn unfold(value: &str) -> String {
    value
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let line = if index == 0 {
                line.trim()
            } else {
                line.strip_prefix([' ', '\t']).unwrap_or(line).trim_end()
            };
            if index > 0 && line.trim() == "." {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses every stanza of `text`.
pub fn parse<'a>(text: &'a str) -> Result<Vec<Stanza<'a>>, Deb822Error> {
    let mut stanzas = Vec::new();
    visit(text, |stanza| {
        stanzas.push(stanza.clone());
        Ok::<(), Deb822Error>(())
    })?;
    Ok(stanzas)
}

/// Hands each stanza of `text` to `each`, in order, reusing one stanza's field list: a
/// `Packages` index has 60k stanzas, and a list of fields for each of them, made and dropped
/// between the packages built from them, left the heap fragmented.
pub fn visit<'a, E: From<Deb822Error>>(
    text: &'a str,
    mut each: impl FnMut(&Stanza<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let mut current = Stanza::default();
    // The open field: (name, start offset of the value, end offset so far).
    let mut open: Option<(&'a str, usize, usize)> = None;
    let mut offset = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line_number = index + 1;
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            if let Some((name, start, end)) = open.take() {
                current.fields.push(Field {
                    name,
                    value: text[start..end].trim(),
                });
            }
            if !current.fields.is_empty() {
                each(&current)?;
                current.fields.clear();
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match &mut open {
                Some((_, _, end)) => *end = line_start + line.len(),
                None => {
                    return Err(Deb822Error::OrphanContinuation { line: line_number }.into());
                }
            }
            current.span.end = offset;
            continue;
        }
        let Some(colon) = line.find(':') else {
            return Err(Deb822Error::Malformed {
                line: line_number,
                text: line.chars().take(80).collect(),
            }
            .into());
        };
        if let Some((name, start, end)) = open.take() {
            current.fields.push(Field {
                name,
                value: text[start..end].trim(),
            });
        }
        if current.fields.is_empty() {
            current.line = line_number;
            current.span.start = line_start;
        }
        current.span.end = offset;
        let value_start = line_start + colon + 1;
        open = Some((&line[..colon], value_start, line_start + line.len()));
    }
    if let Some((name, start, end)) = open.take() {
        current.fields.push(Field {
            name,
            value: text[start..end].trim(),
        });
    }
    if !current.fields.is_empty() {
        each(&current)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stanzas_with_continuations_and_comments() {
        let text = "# a sources file\nTypes: deb\nURIs: http://127.0.0.1/debian\nSuites: bookworm\n  bookworm-updates\ncomponents: main\n\n\nPackage: a\nDescription: short\n second line\n .\n third\n";
        let stanzas = parse(text).unwrap();
        assert_eq!(stanzas.len(), 2);
        assert_eq!(stanzas[0].line, 2);
        assert_eq!(
            stanzas[0].get("suites"),
            Some("bookworm\n  bookworm-updates")
        );
        assert_eq!(
            stanzas[0].get("Components"),
            Some("main"),
            "field names are case-insensitive"
        );
        assert_eq!(
            stanzas[1].get("description"),
            Some("short\n second line\n .\n third")
        );
        assert_eq!(stanzas[1].line, 9);
        assert_eq!(
            &text[stanzas[1].span.clone()],
            "Package: a\nDescription: short\n second line\n .\n third\n"
        );
        assert!(text[stanzas[0].span.clone()].starts_with("Types: deb\n"));
        assert!(text[stanzas[0].span.clone()].ends_with("components: main\n"));
    }

    #[test]
    fn reports_malformed_lines_with_their_number() {
        assert_eq!(
            parse("Package: a\nnot a field\n"),
            Err(Deb822Error::Malformed {
                line: 2,
                text: "not a field".into()
            })
        );
        assert_eq!(
            parse(" continued\n"),
            Err(Deb822Error::OrphanContinuation { line: 1 })
        );
    }

    #[test]
    fn a_field_given_twice_takes_its_last_value_as_apt_reads_it() {
        let stanzas = parse("Package: a\nVersion: 1.0\nDepends: b\nversion: 2.0\n").unwrap();
        assert_eq!(stanzas[0].get("Version"), Some("2.0"));
        assert_eq!(stanzas[0].get("depends"), Some("b"));
    }
}
