//! Reading a wheel's METADATA from pieces of the zip, for HTTP range requests.
//!
//! A zip ends with the End Of Central Directory record (APPNOTE 4.3.16), which points at the
//! central directory; its entry for `*.dist-info/METADATA` gives the local header offset and
//! compressed size; the member follows its local header. So three small reads (tail, maybe the
//! directory, the member) replace downloading a wheel that may be hundreds of megabytes.
//! Pure functions over byte slices: the HTTP side lives in [`crate::python::index`].

use std::io::Read;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZipMetadataError {
    #[error("no end of central directory record in the last {0} bytes")]
    NoEndRecord(usize),
    #[error("the central directory is malformed: {0}")]
    Malformed(&'static str),
    #[error("expected one .dist-info/METADATA, found {0}")]
    MetadataCount(usize),
    #[error("METADATA uses compression method {0}; only stored and deflate are read")]
    Compression(u16),
    #[error("METADATA does not inflate: {0}")]
    Inflate(String),
}

/// Where the central directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryLocation {
    pub offset: u64,
    pub size: u64,
    /// Bytes after the end record and its comment: none in a sound zip (data there is what
    /// polyglot files and appended archives hide in).
    pub trailing: u64,
}

/// The METADATA member as the central directory describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataEntry {
    pub local_header_offset: u64,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub method: u16,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL_ENTRY: u32 = 0x0201_4b50;
const LOCAL_HEADER: u32 = 0x0403_4b50;

/// Finds the central directory from the last bytes of the file. `tail_start` is the offset of
/// `tail` in the file. Zip64 is followed when the locator sits in the tail.
pub fn locate_directory(
    tail: &[u8],
    tail_start: u64,
) -> Result<DirectoryLocation, ZipMetadataError> {
    let malformed = ZipMetadataError::Malformed;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&at| u32_at(tail, at) == Some(EOCD))
        .ok_or(ZipMetadataError::NoEndRecord(tail.len()))?;
    let size = u32_at(tail, eocd + 12).ok_or(malformed("short end record"))?;
    let offset = u32_at(tail, eocd + 16).ok_or(malformed("short end record"))?;
    let comment = usize::from(u16_at(tail, eocd + 20).ok_or(malformed("short end record"))?);
    let trailing = tail
        .len()
        .checked_sub(eocd + 22 + comment)
        .ok_or(malformed(
            "the end record's comment runs past the end of the file",
        ))? as u64;
    if size != u32::MAX && offset != u32::MAX {
        return Ok(DirectoryLocation {
            offset: u64::from(offset),
            size: u64::from(size),
            trailing,
        });
    }
    let locator = eocd
        .checked_sub(20)
        .filter(|&at| u32_at(tail, at) == Some(ZIP64_LOCATOR))
        .ok_or(malformed("zip64 end record locator missing"))?;
    let record_offset = u64_at(tail, locator + 8).ok_or(malformed("short zip64 locator"))?;
    let record = record_offset
        .checked_sub(tail_start)
        .and_then(|at| usize::try_from(at).ok())
        .filter(|&at| u32_at(tail, at) == Some(ZIP64_EOCD))
        .ok_or(malformed("zip64 end record is not in the tail"))?;
    Ok(DirectoryLocation {
        size: u64_at(tail, record + 40).ok_or(malformed("short zip64 end record"))?,
        offset: u64_at(tail, record + 48).ok_or(malformed("short zip64 end record"))?,
        trailing,
    })
}

/// One entry of the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// The raw name, decoded lossily (wheels use UTF-8).
    pub name: String,
    pub local_header_offset: u64,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub method: u16,
    /// The CRC-32 the directory records for the member's data.
    pub crc32: u32,
    /// The file type and mode bits, when the entry was made on a Unix system (APPNOTE 4.4.2
    /// "version made by" 3, and the high half of the external attributes): `None` otherwise.
    pub unix_mode: Option<u32>,
}

impl ZipEntry {
    /// Whether the entry is a symbolic link (a Unix mode of type `S_IFLNK`): installers
    /// would write a link, which can point anywhere.
    pub fn is_symlink(&self) -> bool {
        self.unix_mode
            .is_some_and(|mode| mode & 0o170_000 == 0o120_000)
    }
}

/// Lists every entry of a central directory, zip64 sizes and offsets resolved.
pub fn list_entries(directory: &[u8]) -> Result<Vec<ZipEntry>, ZipMetadataError> {
    let malformed = ZipMetadataError::Malformed;
    let mut at = 0;
    let mut entries = Vec::new();
    while at + 46 <= directory.len() && u32_at(directory, at) == Some(CENTRAL_ENTRY) {
        let made_by = u16_at(directory, at + 4).ok_or(malformed("short entry"))?;
        let method = u16_at(directory, at + 10).ok_or(malformed("short entry"))?;
        let crc32 = u32_at(directory, at + 16).ok_or(malformed("short entry"))?;
        let external = u32_at(directory, at + 38).ok_or(malformed("short entry"))?;
        let mut compressed = u64::from(u32_at(directory, at + 20).ok_or(malformed("short entry"))?);
        let mut uncompressed =
            u64::from(u32_at(directory, at + 24).ok_or(malformed("short entry"))?);
        let name_len = usize::from(u16_at(directory, at + 28).ok_or(malformed("short entry"))?);
        let extra_len = usize::from(u16_at(directory, at + 30).ok_or(malformed("short entry"))?);
        let comment_len = usize::from(u16_at(directory, at + 32).ok_or(malformed("short entry"))?);
        let mut local = u64::from(u32_at(directory, at + 42).ok_or(malformed("short entry"))?);
        let name = directory
            .get(at + 46..at + 46 + name_len)
            .ok_or(malformed("entry name past the end"))?;
        let extra = directory
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or(malformed("entry extra field past the end"))?;
        // Zip64 extended information (header 0x0001) replaces the saturated fields, in order.
        let mut extra_at = 0;
        while extra_at + 4 <= extra.len() {
            let id = u16_at(extra, extra_at).unwrap_or(0);
            let len = usize::from(u16_at(extra, extra_at + 2).unwrap_or(0));
            if id == 1 {
                let mut field = extra_at + 4;
                for value in [&mut uncompressed, &mut compressed, &mut local] {
                    if *value == u64::from(u32::MAX) {
                        *value = u64_at(extra, field).ok_or(malformed("short zip64 extra"))?;
                        field += 8;
                    }
                }
            }
            extra_at += 4 + len;
        }
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            local_header_offset: local,
            compressed_size: compressed,
            uncompressed_size: uncompressed,
            method,
            crc32,
            unix_mode: (made_by >> 8 == 3).then_some(external >> 16),
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

/// The name a local file header (APPNOTE 4.3.7) gives its member, from the header's bytes
/// (at least 30, and the name after them); `None` when the bytes are not a local header.
pub fn local_header_name(header: &[u8]) -> Option<String> {
    if u32_at(header, 0) != Some(LOCAL_HEADER) {
        return None;
    }
    let name_len = usize::from(u16_at(header, 26)?);
    let name = header.get(30..30 + name_len)?;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// Whether `name` is `<something>.dist-info/METADATA` at the top level.
fn is_metadata(name: &str) -> bool {
    let mut parts = name.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(dir), Some("METADATA"), None) if dir.ends_with(".dist-info")
    )
}

/// Finds the single `<name>.dist-info/METADATA` entry in the central directory.
pub fn find_metadata(directory: &[u8]) -> Result<MetadataEntry, ZipMetadataError> {
    let found: Vec<MetadataEntry> = list_entries(directory)?
        .into_iter()
        .filter(|entry| is_metadata(&entry.name))
        .map(|entry| MetadataEntry {
            local_header_offset: entry.local_header_offset,
            compressed_size: entry.compressed_size,
            uncompressed_size: entry.uncompressed_size,
            method: entry.method,
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(ZipMetadataError::MetadataCount(found.len())),
    }
}

/// How many bytes from the local header offset to read so the member is surely included: the
/// local header's name and extra field can differ from the central directory's, so allow slack.
pub fn member_read_length(entry: &MetadataEntry) -> u64 {
    // The size comes from the archive (zip64 allows up to u64::MAX): never wrap.
    entry.compressed_size.saturating_add(30 + 1024 + 1024)
}

/// Extracts the member from bytes starting at its local header. `None` when `bytes` is too
/// short (the caller then reads the exact length this reports through `Err`).
pub fn extract_member(bytes: &[u8], entry: &MetadataEntry) -> Result<Vec<u8>, ZipMetadataError> {
    let malformed = ZipMetadataError::Malformed;
    if u32_at(bytes, 0) != Some(LOCAL_HEADER) {
        return Err(malformed(
            "no local header at the offset the directory gives",
        ));
    }
    let name_len = usize::from(u16_at(bytes, 26).ok_or(malformed("short local header"))?);
    let extra_len = usize::from(u16_at(bytes, 28).ok_or(malformed("short local header"))?);
    let start = 30 + name_len + extra_len;
    let length =
        usize::try_from(entry.compressed_size).map_err(|_| malformed("member too large"))?;
    let data = start
        .checked_add(length)
        .and_then(|end| bytes.get(start..end))
        .ok_or(malformed("member data past the bytes read"))?;
    // Metadata is small; the bound keeps a hostile entry from inflating without limit.
    let limit = entry.uncompressed_size.min(16 * 1024 * 1024);
    let mut out = Vec::new();
    match entry.method {
        0 => out.extend_from_slice(data),
        8 => {
            flate2::read::DeflateDecoder::new(data)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| ZipMetadataError::Inflate(e.to_string()))?;
        }
        other => return Err(ZipMetadataError::Compression(other)),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn wheel(method: zip::CompressionMethod) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        zip.start_file("pkg/__init__.py", options).unwrap();
        zip.write_all(&[b'x'; 5000]).unwrap();
        zip.start_file("pkg-1.0.dist-info/METADATA", options)
            .unwrap();
        zip.write_all(b"Name: pkg\nVersion: 1.0\n").unwrap();
        zip.start_file("pkg-1.0.dist-info/RECORD", options).unwrap();
        zip.finish().unwrap().into_inner()
    }

    fn read_through_ranges(bytes: &[u8], tail_len: usize) -> Vec<u8> {
        let tail_start = bytes.len().saturating_sub(tail_len);
        let location = locate_directory(&bytes[tail_start..], tail_start as u64).unwrap();
        let directory =
            &bytes[location.offset as usize..(location.offset + location.size) as usize];
        let entry = find_metadata(directory).unwrap();
        let start = entry.local_header_offset as usize;
        let end = (start as u64 + member_read_length(&entry)).min(bytes.len() as u64) as usize;
        extract_member(&bytes[start..end], &entry).unwrap()
    }

    #[test]
    fn reads_metadata_from_deflated_and_stored_wheels() {
        for method in [
            zip::CompressionMethod::Deflated,
            zip::CompressionMethod::Stored,
        ] {
            let bytes = wheel(method);
            assert_eq!(
                read_through_ranges(&bytes, 64 * 1024),
                b"Name: pkg\nVersion: 1.0\n"
            );
            assert_eq!(
                read_through_ranges(&bytes, 200),
                b"Name: pkg\nVersion: 1.0\n"
            );
        }
    }

    #[test]
    fn reports_what_is_missing() {
        assert_eq!(
            locate_directory(b"not a zip at all, just text", 0),
            Err(ZipMetadataError::NoEndRecord(27))
        );
        assert_eq!(find_metadata(b""), Err(ZipMetadataError::MetadataCount(0)));
    }
}
