//! Content hashing of files.

use crate::error::{IoContext, Result};
use std::fs::File;
use std::path::Path;

/// Hash and size of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// blake3, lowercase hex.
    pub blake3: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Hashes a file with blake3: memory-mapped and on every core for large files, streamed
/// for small ones.
pub fn hash_file(path: &Path) -> Result<FileDigest> {
    let bytes = File::open(path).and_then(|f| f.metadata()).ctx("opening", path)?.len();
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path).ctx("reading", path)?;
    let counted = hasher.count();
    if counted != bytes {
        return Err(crate::StoreError::io(
            "reading",
            path,
            std::io::Error::other(format!(
                "file changed size while being hashed ({bytes} -> {counted} bytes)"
            )),
        ));
    }
    Ok(FileDigest { blake3: hasher.finalize().to_hex().to_string(), bytes })
}

/// Checks that `path` is a regular file itself, not a symlink (to anything), directory,
/// FIFO or device: an artifact's files are its own, so a link out of the store is never
/// hashed, served or exported as one of them.
pub(crate) fn regular_file(path: &Path) -> Result<std::fs::Metadata> {
    let meta = std::fs::symlink_metadata(path).ctx("inspecting", path)?;
    if meta.file_type().is_file() {
        return Ok(meta);
    }
    Err(crate::StoreError::io(
        "inspecting",
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a regular file but {}", file_kind(&meta.file_type())),
        ),
    ))
}

/// A file type in words, for messages.
pub fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Lists the regular files under `dir`, recursively, as sorted `/`-separated relative paths.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).ctx("listing", dir)? {
        let entry = entry.ctx("listing", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let ty = entry.file_type().ctx("inspecting", entry.path())?;
        if ty.is_dir() {
            walk(&entry.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_one_shot_blake3() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let d = hash_file(&p).unwrap();
        assert_eq!(d.bytes, data.len() as u64);
        assert_eq!(d.blake3, blake3::hash(&data).to_hex().to_string());
    }
}
