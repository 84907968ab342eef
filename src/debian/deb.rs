//! The outer shape of a binary package (deb(5)): an `ar` archive whose first member is
//! `debian-binary`, holding the format version (`2.0`). dpkg refuses anything else, so a file
//! that is not one is refused before it can sit in the local repository under a `.deb` name,
//! even when its digest is the one the signed index gives.

use std::io::Read;
use std::path::Path;

const AR_MAGIC: &[u8] = b"!<arch>\n";
const MEMBER_HEADER: usize = 60;

/// What is wrong with the start of a `.deb` (its first bytes; 76 are enough), if anything.
pub fn deb_problem(head: &[u8]) -> Option<String> {
    if !head.starts_with(AR_MAGIC) {
        return Some("it is not an ar archive (no `!<arch>` header), so not a .deb".into());
    }
    let Some(header) = head.get(AR_MAGIC.len()..AR_MAGIC.len() + MEMBER_HEADER) else {
        return Some("the ar archive ends before its first member".into());
    };
    if &header[58..60] != b"`\n" {
        return Some("its first ar member header is malformed".into());
    }
    let name = String::from_utf8_lossy(&header[..16]);
    let name = name.trim_end().trim_end_matches('/');
    if name != "debian-binary" {
        return Some(format!(
            "its first member is `{name}`, not `debian-binary`, so dpkg would refuse it"
        ));
    }
    let size: usize = match String::from_utf8_lossy(&header[48..58]).trim().parse() {
        Ok(size) => size,
        Err(_) => return Some("its debian-binary member has no valid size".into()),
    };
    let start = AR_MAGIC.len() + MEMBER_HEADER;
    let content = head.get(start..start + size.min(8)).unwrap_or_default();
    let text = String::from_utf8_lossy(content);
    if !text.starts_with("2.") {
        return Some(format!(
            "its debian-binary says {:?}; dpkg reads format 2.x",
            text.trim_end()
        ));
    }
    None
}

/// Checks the `.deb` at `path` (see [`deb_problem`]).
pub fn check_deb_file(path: &Path) -> Result<(), String> {
    let mut head = Vec::with_capacity(80);
    std::fs::File::open(path)
        .and_then(|file| file.take(80).read_to_end(&mut head))
        .map_err(|error| format!("cannot read it: {error}"))?;
    deb_problem(&head).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(first: &str, content: &str) -> Vec<u8> {
        let mut bytes = AR_MAGIC.to_vec();
        bytes.extend(
            format!(
                "{first:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                100644,
                content.len()
            )
            .as_bytes(),
        );
        bytes.extend(content.as_bytes());
        bytes
    }

    #[test]
    fn only_an_ar_archive_that_starts_with_debian_binary_is_a_deb() {
        assert_eq!(deb_problem(&ar("debian-binary", "2.0\n")), None);
        assert_eq!(
            deb_problem(&ar("debian-binary/", "2.0\n")),
            None,
            "GNU ar's name form"
        );
        let cases = [
            (b"PK\x03\x04 a zip".to_vec(), "not an ar archive"),
            (b"!<arch>\n".to_vec(), "ends before its first member"),
            (ar("control.tar.gz", "x"), "not `debian-binary`"),
            (ar("debian-binary", "3.0\n"), "format 2.x"),
        ];
        for (bytes, expected) in cases {
            let problem = deb_problem(&bytes).expect("refused");
            assert!(problem.contains(expected), "{problem}");
        }
    }
}
