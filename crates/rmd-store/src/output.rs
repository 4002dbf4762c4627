//! Writing a user-named output file safely: through a fresh temporary file beside it
//! (created exclusively, so it never follows a symlink planted under its name) that is
//! renamed over the destination only when the destination is absent or a regular file. A
//! symlink, directory, FIFO or device at the destination is refused, never replaced.

use crate::error::{IoContext, Result, StoreError};
use crate::hashing::file_kind;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Refuses `dest` when it exists and is not a regular file (a symlink to anything counts as
/// not regular: it is refused, not followed). The error is an input error (exit 2).
pub fn check_replaceable(dest: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => Err(StoreError::io(
            "writing",
            dest,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "it is {}, not a regular file; refusing to replace it (give a new file name)",
                    file_kind(&m.file_type())
                ),
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("inspecting", dest, e)),
    }
}

/// A new, empty temporary file in `dest`'s directory, named `.<stem>.partial-<pid>-<ns>.<ext>`,
/// created exclusively (`O_CREAT|O_EXCL`: an existing file or symlink of that name fails
/// rather than being opened). Returns the open file and its path.
pub fn temp_file_beside(dest: &Path) -> Result<(File, PathBuf)> {
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    // The destination's extension stays last: writers that choose a format by it (plots) see it.
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    let tmp = dir.join(format!(".{stem}.partial-{}-{nanos}{ext}", std::process::id()));
    let file = File::options().write(true).create_new(true).open(&tmp).ctx("creating", &tmp)?;
    Ok((file, tmp))
}

/// Renames the finished temporary file `tmp` over `dest` (checked with
/// [`check_replaceable`] first); on failure the temporary file is removed.
pub fn publish(tmp: &Path, dest: &Path) -> Result<()> {
    let result =
        check_replaceable(dest).and_then(|()| std::fs::rename(tmp, dest).ctx("renaming into place", dest));
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// Writes `dest` through a temporary file: `fill` writes the temporary file's path (which
/// exists, empty, as a regular file this call created), then it is renamed over `dest`. The
/// result is the whole new content or the old file, never a mix, and never written through a
/// symlink or onto a special file (checked before `fill` runs and again before the rename).
pub fn write_via<E: From<StoreError>>(
    dest: &Path,
    fill: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    check_replaceable(dest)?;
    let (file, tmp) = temp_file_beside(dest)?;
    drop(file);
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    publish(&tmp, dest)?;
    Ok(())
}

/// Writes `bytes` to `dest` through a temporary file ([`write_via`]), synced before the rename.
pub fn write_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_via(dest, |tmp| {
        use std::io::Write;
        let mut f = File::options().write(true).open(tmp).ctx("opening", tmp)?;
        f.write_all(bytes).and_then(|()| f.sync_all()).ctx("writing", tmp)
    })
}

/// [`write_file`] for a file only its owner may read or write (mode 0600 on Unix, set on
/// the temporary file before anything is written to it).
pub fn write_private_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_via(dest, |tmp| {
        use std::io::Write;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o600)).ctx("restricting", tmp)?;
        }
        let mut f = File::options().write(true).open(tmp).ctx("opening", tmp)?;
        f.write_all(bytes).and_then(|()| f.sync_all()).ctx("writing", tmp)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_replaced_and_nothing_else_is() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.txt");
        write_file(&dest, b"one").unwrap();
        write_file(&dest, b"two").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");

        let target = dir.path().join("target.txt");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_file(&link, b"evil").unwrap_err();
        assert!(err.is_input_error() && err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());

        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(write_file(&sub, b"x").unwrap_err().to_string().contains("a directory"));
        // Nothing left behind by the refusals.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 4, "{left:?}");
    }
}
