//! Content hashes of deps and outs, memoised on (path, size, mtime, inode).
//!
//! A file's blake3 hash is kept in `artifacts/<pipeline>/.cache/hashes.tsv` with the file's size, mtime (ns) and
//! inode; while those match, the file is not read again, so a no-op rerun only `stat`s. A folder's hash is the hash
//! of its manifest (every file below it: relative path and file hash, sorted), so one changed file costs one file.
//!
//! Entries for files modified in the last [`RACY_SECS`] seconds are not written to disk: a file changed again within
//! the file system's timestamp granularity could keep its size and mtime (git's "racily clean" problem), so such
//! files are simply hashed again next time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// Files modified this recently are hashed but not memoised on disk.
pub const RACY_SECS: i64 = 2;

const HEADER: &str = "birds-hashes 1";

/// What a dep or out is, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// blake3 of the file, or of the folder's manifest; `missing` when the path does not exist.
    pub hash: String,
    /// Total bytes.
    pub bytes: u64,
    /// Number of files, for a folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
}

impl Digest {
    /// The digest of a path that does not exist.
    pub fn missing() -> Self {
        Self {
            hash: String::from("missing"),
            bytes: 0,
            files: None,
        }
    }

    /// Whether the path was absent.
    pub fn is_missing(&self) -> bool {
        self.hash == "missing"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    stat: Stat,
    hash: [u8; 32],
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<PathBuf, Entry>,
    dirty: bool,
    /// Files hashed (read) by this process, for the tests and `-v`.
    hashed: u64,
    /// Folder digests computed by this process since the last [`HashCache::forget_folders`].
    dirs: HashMap<PathBuf, Digest>,
}

/// The memo of file hashes for one pipeline.
#[derive(Debug)]
pub struct HashCache {
    path: PathBuf,
    inner: Mutex<Inner>,
    exclude: Vec<PathBuf>,
}

impl HashCache {
    /// Loads the memo at `path` (a missing or unreadable one is an empty memo).
    pub fn load(path: &Path) -> Self {
        let mut entries = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            let mut lines = text.lines();
            if lines.next() == Some(HEADER) {
                for line in lines {
                    if let Some((p, e)) = parse_line(line) {
                        entries.insert(p, e);
                    }
                }
            }
        }
        Self {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                entries,
                dirty: false,
                hashed: 0,
                dirs: HashMap::new(),
            }),
            exclude: Vec::new(),
        }
    }

    /// The memo of `pipeline`, which leaves the runner's own files (lock file, logs, cache) out of folder hashes,
    /// so a dep folder that contains them does not change because a run wrote them.
    pub fn for_pipeline(pipeline: &crate::model::Pipeline<'_>) -> Self {
        let mut cache = Self::load(&pipeline.cache_dir().join("hashes.tsv"));
        cache.exclude = vec![
            crate::util::normalize(&pipeline.cache_dir()),
            crate::util::normalize(&pipeline.logs_dir()),
            crate::util::normalize(&std::path::absolute(pipeline.lock_path()).unwrap_or_default()),
        ];
        cache
    }

    /// How many files this process has read to hash them.
    pub fn files_hashed(&self) -> u64 {
        self.lock().hashed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the memo if it changed; entries of files modified in the last [`RACY_SECS`] seconds are left out.
    pub fn save(&self) -> Result<()> {
        let inner = self.lock();
        if !inner.dirty {
            return Ok(());
        }
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let cutoff = now_ns - RACY_SECS * 1_000_000_000;
        let mut sorted: BTreeMap<&Path, &Entry> = BTreeMap::new();
        for (p, e) in &inner.entries {
            if e.stat.mtime_ns < cutoff {
                sorted.insert(p, e);
            }
        }
        let mut text = String::with_capacity(sorted.len() * 120 + 16);
        text.push_str(HEADER);
        text.push('\n');
        for (p, e) in sorted {
            let Some(ps) = p.to_str().filter(|s| !s.contains(['\n', '\t'])) else {
                continue;
            };
            use std::fmt::Write;
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}\t{ps}",
                e.stat.ino,
                e.stat.size,
                e.stat.mtime_ns,
                hex(&e.hash)
            );
        }
        drop(inner);
        birds_core::atomic::write_bytes(&self.path, text.as_bytes()).map_err(|e| {
            PipelineError::io("writing", &self.path, std::io::Error::other(e.to_string()))
        })
    }

    /// Drops memo entries not under any of `keep` (called after a run that looked at every stage).
    pub fn retain_under(&self, keep: &[PathBuf]) {
        let mut inner = self.lock();
        let before = inner.entries.len();
        inner
            .entries
            .retain(|p, _| keep.iter().any(|k| p.starts_with(k)));
        if inner.entries.len() != before {
            inner.dirty = true;
        }
    }

    /// Forgets the folder digests of this process: called when a stage has written, before its outs are hashed.
    /// (Folders are walked once per process otherwise, however many stages read them; a folder a stage writes
    /// into is only read by stages downstream of it, which start after this.)
    pub fn forget_folders(&self) {
        self.lock().dirs.clear();
    }

    /// The digest of `path` (a file or a folder); [`Digest::missing`] when it does not exist.
    pub fn digest(&self, path: &Path) -> Result<Digest> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Digest::missing()),
            Err(e) => return Err(PipelineError::io("reading", path, e)),
        };
        if meta.is_dir() {
            if let Some(d) = self.lock().dirs.get(path) {
                return Ok(d.clone());
            }
            let d = self.dir_digest(path)?;
            self.lock().dirs.insert(path.to_path_buf(), d.clone());
            return Ok(d);
        }
        let hash = self.file_hash(path, &meta)?;
        Ok(Digest {
            hash: hex(&hash),
            bytes: meta.size(),
            files: None,
        })
    }

    fn file_hash(&self, path: &Path, meta: &std::fs::Metadata) -> Result<[u8; 32]> {
        let stat = Stat::of(meta);
        if let Some(e) = self.lock().entries.get(path)
            && e.stat == stat
        {
            return Ok(e.hash);
        }
        let hash = hash_file(path)?;
        let mut inner = self.lock();
        inner.hashed += 1;
        inner.dirty = true;
        inner
            .entries
            .insert(path.to_path_buf(), Entry { stat, hash });
        Ok(hash)
    }

    fn dir_digest(&self, dir: &Path) -> Result<Digest> {
        let mut files = Vec::new();
        walk(dir, dir, &self.exclude, &mut files)?;
        files.sort_by(|a, b| a.0.cmp(&b.0));
        // Look up the memo for all files at once; hash only the misses (in parallel).
        let mut known: Vec<Option<[u8; 32]>> = {
            let inner = self.lock();
            files
                .iter()
                .map(|(_, abs, stat)| {
                    inner
                        .entries
                        .get(abs)
                        .filter(|e| e.stat == *stat)
                        .map(|e| e.hash)
                })
                .collect()
        };
        let misses: Vec<usize> = (0..files.len()).filter(|&i| known[i].is_none()).collect();
        if !misses.is_empty() {
            let hashed: Vec<(usize, Result<[u8; 32]>)> = misses
                .par_iter()
                .map(|&i| (i, hash_file(&files[i].1)))
                .collect();
            let mut inner = self.lock();
            for (i, h) in hashed {
                let h = h?;
                inner.hashed += 1;
                inner.dirty = true;
                inner.entries.insert(
                    files[i].1.clone(),
                    Entry {
                        stat: files[i].2,
                        hash: h,
                    },
                );
                known[i] = Some(h);
            }
        }
        let mut manifest = blake3::Hasher::new();
        let mut bytes = 0;
        for ((rel, _, stat), h) in files.iter().zip(&known) {
            manifest.update(rel.as_bytes());
            manifest.update(&[0]);
            manifest.update(h.as_ref().map_or(&[0u8; 32][..], |h| &h[..]));
            bytes += stat.size;
        }
        Ok(Digest {
            hash: manifest.finalize().to_hex().to_string(),
            bytes,
            files: Some(files.len() as u64),
        })
    }
}

/// Every regular file below `dir` (following symlinks): relative path with `/`, absolute path, stat.
///
/// Entries are walked in name order, and a folder reached a second time (a symlink loop such as `a -> ..`, or two
/// links to the same folder) is skipped with a warning, identified by device and inode: the walk ends, each real
/// file is listed once, and which name is kept does not depend on the order `readdir` returns.
fn walk(
    base: &Path,
    dir: &Path,
    exclude: &[PathBuf],
    out: &mut Vec<(String, PathBuf, Stat)>,
) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| PipelineError::io("reading", dir, e))?;
    let mut seen = HashSet::from([(meta.dev(), meta.ino())]);
    walk_dir(base, dir, exclude, &mut seen, out)
}

fn walk_dir(
    base: &Path,
    dir: &Path,
    exclude: &[PathBuf],
    seen: &mut HashSet<(u64, u64)>,
    out: &mut Vec<(String, PathBuf, Stat)>,
) -> Result<()> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| PipelineError::io("listing", dir, e))? {
        entries.push(entry.map_err(|e| PipelineError::io("listing", dir, e))?);
    }
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if exclude.contains(&path) {
            continue;
        }
        let ft = entry
            .file_type()
            .map_err(|e| PipelineError::io("reading", &path, e))?;
        let meta = if ft.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(_) => continue, // dangling link (or a loop the OS refuses to resolve): not content
            }
        } else {
            entry
                .metadata()
                .map_err(|e| PipelineError::io("reading", &path, e))?
        };
        if meta.is_dir() {
            if !seen.insert((meta.dev(), meta.ino())) {
                tracing::warn!(
                    "hashing {}: skipped `{}`, a link to a folder already hashed (a symlink loop or a second link to it)",
                    base.display(),
                    path.display()
                );
                continue;
            }
            walk_dir(base, &path, exclude, seen, out)?;
        } else if meta.is_file() {
            let rel = path
                .strip_prefix(base)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((rel, path, Stat::of(&meta)));
        }
    }
    Ok(())
}

fn hash_file(path: &Path) -> Result<[u8; 32]> {
    let mut file = std::fs::File::open(path).map_err(|e| PipelineError::io("reading", path, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| PipelineError::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(*hasher.finalize().as_bytes())
}

fn hex(bytes: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*bytes).to_hex().to_string()
}

fn parse_line(line: &str) -> Option<(PathBuf, Entry)> {
    let mut parts = line.splitn(5, '\t');
    let ino = parts.next()?.parse().ok()?;
    let size = parts.next()?.parse().ok()?;
    let mtime_ns = parts.next()?.parse().ok()?;
    let hash = blake3::Hash::from_hex(parts.next()?).ok()?;
    let path = PathBuf::from(parts.next()?);
    Some((
        path,
        Entry {
            stat: Stat {
                ino,
                size,
                mtime_ns,
            },
            hash: *hash.as_bytes(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::Duration;

    fn age(path: &Path, secs: u64) -> std::io::Result<()> {
        let f = fs::File::options().write(true).open(path)?;
        f.set_modified(SystemTime::now() - Duration::from_secs(secs))
    }

    #[test]
    fn memo_skips_unchanged_files_and_catches_changes()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("sub"))?;
        for (name, body) in [
            ("a.txt", "alpha"),
            ("b.txt", "beta"),
            ("sub/c.txt", "gamma"),
        ] {
            fs::write(data.join(name), body)?;
            age(&data.join(name), 60)?;
        }
        let memo = dir.path().join("cache/hashes.tsv");
        let cache = HashCache::load(&memo);
        let d1 = cache.digest(&data)?;
        assert_eq!(d1.files, Some(3));
        assert_eq!(d1.bytes, 14);
        assert_eq!(cache.files_hashed(), 3);
        cache.save()?;

        // A new process: nothing is read again.
        let cache = HashCache::load(&memo);
        assert_eq!(cache.digest(&data)?, d1);
        assert_eq!(cache.files_hashed(), 0);

        // Touch without changing content: the file is read again, the digest is the same.
        age(&data.join("a.txt"), 30)?;
        cache.forget_folders();
        assert_eq!(cache.digest(&data)?, d1);
        assert_eq!(cache.files_hashed(), 1);

        // Change one file in place (same size, same inode): its mtime differs → caught.
        fs::write(data.join("sub/c.txt"), "GAMMA")?;
        age(&data.join("sub/c.txt"), 60)?;
        assert_eq!(
            cache.digest(&data)?,
            d1,
            "folder digests are kept until forgotten"
        );
        cache.forget_folders();
        let d2 = cache.digest(&data)?;
        assert_ne!(d2.hash, d1.hash);
        assert_eq!(cache.files_hashed(), 2);

        // A renamed file changes the manifest even with identical content.
        fs::rename(data.join("b.txt"), data.join("b2.txt"))?;
        cache.forget_folders();
        assert_ne!(cache.digest(&data)?.hash, d2.hash);

        assert!(cache.digest(&dir.path().join("nope"))?.is_missing());
        let single = cache.digest(&data.join("a.txt"))?;
        assert_eq!(single.hash, blake3::hash(b"alpha").to_hex().to_string());
        Ok(())
    }

    #[test]
    fn symlink_loops_are_walked_once() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("train/X"))?;
        fs::create_dir_all(data.join("other"))?;
        fs::write(data.join("train/X/1.txt"), "one")?;
        fs::write(data.join("other/2.txt"), "two")?;
        std::os::unix::fs::symlink("..", data.join("train/X/a"))?;
        std::os::unix::fs::symlink("..", data.join("train/X/b"))?;
        std::os::unix::fs::symlink("../other", data.join("train/z-other"))?;
        let cache = HashCache::load(&dir.path().join("hashes.tsv"));
        let d = cache.digest(&data)?;
        assert_eq!(d.files, Some(2), "each real file once");
        assert_eq!(cache.files_hashed(), 2);
        // The name kept is the first in name order: `other/2.txt`, not `train/z-other/2.txt`.
        let mut files = Vec::new();
        walk(&data, &data, &[], &mut files)?;
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["other/2.txt", "train/X/1.txt"]);
        Ok(())
    }

    #[test]
    fn recent_files_are_not_memoised_on_disk() -> std::result::Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("fresh.txt");
        fs::write(&f, "x")?;
        let memo = dir.path().join("hashes.tsv");
        let cache = HashCache::load(&memo);
        cache.digest(&f)?;
        cache.save()?;
        let cache = HashCache::load(&memo);
        cache.digest(&f)?;
        assert_eq!(
            cache.files_hashed(),
            1,
            "a just-written file is hashed again"
        );
        Ok(())
    }
}
