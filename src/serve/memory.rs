//! Files held in memory while serving: the wheelhouse is immutable while `serve` runs, and a
//! file sent from memory costs one copy into the socket instead of a read into a buffer (on
//! the blocking pool) and a copy out of it. Each file is read once, on its first request, and
//! checked against its lock's sha256 before any byte of it is sent: a file that changed on
//! disk after `fetch` is refused, not served.
//!
//! Files are admitted in the order they are first asked for until the budget is spent;
//! the rest are streamed from disk as before (no eviction: a wheelhouse larger than the budget
//! keeps its most-asked files in memory only if they are asked for first, which is what a
//! build farm starting up does).

use std::collections::HashMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::catalogue::ServedFile;

/// What the cache has for one file.
#[derive(Debug, Clone)]
pub enum Held {
    Bytes(Bytes),
    /// Not held (over the budget): stream it from disk.
    Stream,
    /// Unreadable, or not the bytes its lock names: never served.
    Refused(String),
}

pub struct MemoryCache {
    budget: u64,
    reserved: std::sync::Mutex<u64>,
    slots: HashMap<String, tokio::sync::OnceCell<Held>>,
}

impl MemoryCache {
    /// A cache for these files (URL path -> file) of at most `budget` bytes (0: none).
    pub fn new(files: &HashMap<String, ServedFile>, budget: u64) -> Self {
        Self {
            budget,
            reserved: std::sync::Mutex::new(0),
            slots: if budget == 0 {
                HashMap::new()
            } else {
                files
                    .keys()
                    .map(|path| (path.clone(), tokio::sync::OnceCell::new()))
                    .collect()
            },
        }
    }

    pub fn held_bytes(&self) -> u64 {
        *self
            .reserved
            .lock()
            .expect("never poisoned: no panics while held")
    }

    /// The file's bytes, loading them on the first request (concurrent first requests wait
    /// for one read).
    pub async fn get(&self, url_path: &str, served: &ServedFile) -> Held {
        let Some(slot) = self.slots.get(url_path) else {
            return Held::Stream;
        };
        slot.get_or_init(|| self.load(served)).await.clone()
    }

    async fn load(&self, served: &ServedFile) -> Held {
        {
            let mut reserved = self.reserved.lock().expect("never poisoned");
            if *reserved + served.size > self.budget {
                return Held::Stream;
            }
            *reserved += served.size;
        }
        let path = served.path.clone();
        let expected = served.sha256.clone();
        let size = served.size;
        let loaded = tokio::task::spawn_blocking(move || -> Result<Bytes, String> {
            let bytes = std::fs::read(&path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            let actual = hex::encode(Sha256::digest(&bytes));
            if bytes.len() as u64 != size || actual != expected {
                return Err(format!(
                    "{} changed since it was catalogued: sha256 {actual}, {} bytes; the lock \
                     says {expected}, {size} bytes (run `airlock verify`)",
                    path.display(),
                    bytes.len()
                ));
            }
            Ok(Bytes::from(bytes))
        })
        .await
        .unwrap_or_else(|error| Err(format!("reading the file failed: {error}")));
        match loaded {
            Ok(bytes) => Held::Bytes(bytes),
            Err(problem) => {
                *self.reserved.lock().expect("never poisoned") -= served.size;
                Held::Refused(problem)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(dir: &std::path::Path, name: &str, bytes: &[u8]) -> ServedFile {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        ServedFile {
            path,
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            content_type: "application/octet-stream",
        }
    }

    #[tokio::test]
    async fn files_are_held_within_the_budget_and_checked_against_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let a = served(dir.path(), "a", &[1; 600]);
        let b = served(dir.path(), "b", &[2; 600]);
        let c = served(dir.path(), "c", &[3; 100]);
        let files = HashMap::from([
            ("/files/a".to_string(), a.clone()),
            ("/files/b".to_string(), b.clone()),
            ("/files/c".to_string(), c.clone()),
        ]);
        let cache = MemoryCache::new(&files, 1000);
        assert!(matches!(cache.get("/files/a", &a).await, Held::Bytes(b) if b.len() == 600));
        // 600 + 600 is over the budget: b is streamed, c still fits.
        assert!(matches!(cache.get("/files/b", &b).await, Held::Stream));
        assert!(matches!(cache.get("/files/c", &c).await, Held::Bytes(_)));
        assert_eq!(cache.held_bytes(), 700);

        // A file changed after it was catalogued is refused, and its reservation returned.
        let d = served(dir.path(), "d", &[4; 50]);
        std::fs::write(&d.path, [5; 50]).unwrap();
        let files = HashMap::from([("/files/d".to_string(), d.clone())]);
        let cache = MemoryCache::new(&files, 1000);
        assert!(
            matches!(cache.get("/files/d", &d).await, Held::Refused(p) if p.contains("changed"))
        );
        assert_eq!(cache.held_bytes(), 0);
        // No budget: everything streams.
        let cache = MemoryCache::new(&files, 0);
        assert!(matches!(cache.get("/files/d", &d).await, Held::Stream));
    }
}
