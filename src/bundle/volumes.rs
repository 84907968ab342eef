//! The archive's bytes on disk: one file, or numbered volumes (`kit.tar.zst.001`, `.002`, …)
//! of at most `--split-size` bytes each, with a `kit.tar.zst.sha256` listing every volume's
//! digest in `sha256sum` format, so media can be checked with the tools at hand too.
//!
//! Every volume is written under a temporary name and renamed when the archive is complete: an
//! interrupted `bundle create` leaves no file that looks finished.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `kit.tar.zst` + `.001`.
pub fn volume_path(output: &Path, number: u32) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(format!(".{number:03}"));
    PathBuf::from(name)
}

pub fn sums_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

struct OpenVolume {
    file: File,
    written: u64,
    /// Volumes of a split archive are hashed for the sums file; a single file is not (a
    /// quarter of the packing time; its manifest's digest identifies the bundle).
    hasher: Option<Sha256>,
    path: PathBuf,
}

/// Writes the archive, cutting volumes at `split` bytes.
pub struct VolumeWriter {
    output: PathBuf,
    split: Option<u64>,
    current: Option<OpenVolume>,
    /// Finished volumes: (final path, sha256, size).
    done: Vec<(PathBuf, String, u64)>,
    finished: bool,
}

impl VolumeWriter {
    pub fn new(output: &Path, split: Option<u64>) -> Self {
        Self {
            output: output.to_path_buf(),
            split,
            current: None,
            done: Vec::new(),
            finished: false,
        }
    }

    fn open_next(&mut self) -> std::io::Result<()> {
        let path = match self.split {
            Some(_) => volume_path(&self.output, self.done.len() as u32 + 1),
            None => self.output.clone(),
        };
        let partial = partial_path(&path);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)?;
        self.current = Some(OpenVolume {
            file,
            written: 0,
            hasher: self.split.map(|_| Sha256::new()),
            path,
        });
        Ok(())
    }

    fn close_current(&mut self) -> std::io::Result<()> {
        if let Some(volume) = self.current.take() {
            volume.file.sync_all()?;
            let digest = volume
                .hasher
                .map(|hasher| hex::encode(hasher.finalize()))
                .unwrap_or_default();
            self.done.push((volume.path, digest, volume.written));
        }
        Ok(())
    }

    /// Closes the last volume, writes the sums file (split archives) and renames every volume
    /// to its final name. Returns (path, sha256 — empty for an unsplit archive, size) per
    /// volume.
    pub fn finish(mut self) -> std::io::Result<Vec<(PathBuf, String, u64)>> {
        if self.current.is_none() && self.done.is_empty() {
            self.open_next()?;
        }
        self.close_current()?;
        if self.split.is_some() {
            let mut sums = String::new();
            for (path, digest, _) in &self.done {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                sums.push_str(&format!("{digest}  {name}\n"));
            }
            crate::net::cache::write_atomic(&sums_path(&self.output), sums.as_bytes())?;
        }
        for (path, _, _) in &self.done {
            std::fs::rename(partial_path(path), path)?;
        }
        // Stale volumes of an earlier, longer split must not be taken for this archive's.
        if self.split.is_some() {
            let mut number = self.done.len() as u32 + 1;
            while volume_path(&self.output, number).exists() {
                std::fs::remove_file(volume_path(&self.output, number))?;
                number += 1;
            }
        }
        if let Some(parent) = self.output.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            File::open(parent)?.sync_all()?;
        }
        self.finished = true;
        Ok(std::mem::take(&mut self.done))
    }
}

impl Drop for VolumeWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // An archive that was not finished leaves nothing behind.
        if let Some(volume) = self.current.take() {
            let _ = std::fs::remove_file(partial_path(&volume.path));
        }
        for (path, _, _) in &self.done {
            let _ = std::fs::remove_file(partial_path(path));
        }
    }
}

impl Write for VolumeWriter {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            if self.current.is_none() {
                self.open_next()?;
            }
            let room = match self.split {
                Some(limit) => {
                    let written = self.current.as_ref().map_or(0, |v| v.written);
                    if written >= limit {
                        self.close_current()?;
                        continue;
                    }
                    (limit - written).min(buf.len() as u64) as usize
                }
                None => buf.len(),
            };
            let volume = self.current.as_mut().expect("a volume is open");
            volume.file.write_all(&buf[..room])?;
            if let Some(hasher) = &mut volume.hasher {
                hasher.update(&buf[..room]);
            }
            volume.written += room as u64;
            buf = &buf[room..];
        }
        Ok(total)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.current {
            Some(volume) => volume.file.flush(),
            None => Ok(()),
        }
    }
}

/// The volumes of the archive whose first volume (or only file) is `first`, in order. A split
/// archive is named by its `.001`; the others must all be there, and when the sums file is
/// there, each volume is checked against it as it is read.
pub fn volumes_of(first: &Path) -> std::io::Result<(Vec<PathBuf>, Option<Vec<String>>)> {
    let name = first.to_string_lossy();
    let Some(stem) = name.strip_suffix(".001") else {
        return Ok((vec![first.to_path_buf()], None));
    };
    let output = PathBuf::from(stem);
    let mut volumes = Vec::new();
    let mut number = 1;
    while volume_path(&output, number).is_file() {
        volumes.push(volume_path(&output, number));
        number += 1;
    }
    let sums = match std::fs::read_to_string(sums_path(&output)) {
        Ok(text) => Some(
            text.lines()
                .filter_map(|line| line.split_whitespace().next().map(str::to_string))
                .collect(),
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error),
    };
    Ok((volumes, sums))
}

/// Reads the volumes one after the other, checking each against its listed sha256 when it
/// ends.
pub struct VolumeReader {
    volumes: Vec<PathBuf>,
    sums: Option<Vec<String>>,
    at: usize,
    current: Option<(File, Sha256)>,
}

impl VolumeReader {
    pub fn open(first: &Path) -> std::io::Result<Self> {
        let (volumes, sums) = volumes_of(first)?;
        if let Some(sums) = &sums
            && sums.len() != volumes.len()
        {
            return Err(std::io::Error::other(format!(
                "the sums file lists {} volume(s) but {} are here; a volume is missing",
                sums.len(),
                volumes.len()
            )));
        }
        let file = File::open(&volumes[0])?;
        Ok(Self {
            volumes,
            sums,
            at: 0,
            current: Some((file, Sha256::new())),
        })
    }

    pub fn volume_count(&self) -> usize {
        self.volumes.len()
    }

    /// After a read failed: the volumes whose sha256 differs from the sums file, named.
    pub fn damaged_volumes(&self) -> Vec<String> {
        let Some(sums) = &self.sums else {
            return Vec::new();
        };
        self.volumes
            .iter()
            .zip(sums)
            .filter(|(path, expected)| {
                crate::net::download::hash_file(path)
                    .map_or(true, |(digest, _)| digest.as_str() != expected.as_str())
            })
            .map(|(path, expected)| format!("{} (the sums file lists {expected})", path.display()))
            .collect()
    }
}

impl Read for VolumeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some((file, hasher)) = self.current.as_mut() else {
                return Ok(0);
            };
            let read = file.read(buf)?;
            if read > 0 {
                hasher.update(&buf[..read]);
                return Ok(read);
            }
            let (_, hasher) = self.current.take().expect("a volume is open");
            let digest = hex::encode(hasher.finalize());
            if let Some(expected) = self.sums.as_ref().and_then(|s| s.get(self.at))
                && *expected != digest
            {
                return Err(std::io::Error::other(format!(
                    "{} has sha256 {digest}, but the sums file lists {expected}",
                    self.volumes[self.at].display()
                )));
            }
            self.at += 1;
            if let Some(next) = self.volumes.get(self.at) {
                self.current = Some((File::open(next)?, Sha256::new()));
            }
        }
    }
}
