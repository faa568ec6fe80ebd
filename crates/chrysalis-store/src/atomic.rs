//! Crash-safe whole-file replacement.
//!
//! [`write_atomic`] writes the new contents to a temporary file in the
//! target's directory, fsyncs it, renames it over the target and fsyncs the
//! directory. Whatever instant the process dies at, the target holds either
//! the old contents or the new ones, never a mixture or a torn file.
//!
//! The write is split into two steps, [`stage`] (temp file written and
//! durable) and [`StagedWrite::commit`] (rename and directory fsync), so
//! tests can stop between them and see what a crash at that point leaves.
//! A crash there leaves a temp file named `.<target name>.chrysalis-tmp-…`
//! next to the target. Readers never look at it, and the next [`stage`] for
//! the same target deletes it.
//!
//! Files are created readable and writable by their owner only (mode 0600
//! on Unix): what this crate writes (vaults, ledgers) is private.
//!
//! One writer per target is assumed (the callers hold the file's owner
//! lock); concurrent writers cannot tear the target, but the later stage
//! may delete the earlier one's temp file and so make its commit fail.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The marker between the target's name and the unique suffix of a temp file.
const TEMP_MARKER: &str = ".chrysalis-tmp-";

/// Why an atomic write failed. The target is unchanged unless the error
/// came from the final directory fsync (see [`AtomicWriteError::Io`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AtomicWriteError {
    /// The target path has no file name (it is `/` or ends in `..`).
    #[error("{} is not a file path", path.display())]
    NotAFilePath {
        /// The path given.
        path: PathBuf,
    },
    /// The target already exists and the write was asked not to replace it.
    #[error("{} already exists", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// A filesystem operation failed.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("create", "write", "fsync", "rename", …).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AtomicWriteError {
    let path = path.to_path_buf();
    move |source| AtomicWriteError::Io { op, path, source }
}

/// Replaces `target` with `bytes`, atomically and durably.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    stage(target, bytes)?.commit()
}

/// Creates `target` with `bytes`, atomically and durably, refusing with
/// [`AtomicWriteError::AlreadyExists`] if it exists (even if it appears
/// between the check and the write).
pub fn create_atomic(target: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    stage(target, bytes)?.commit_new()
}

/// A new version of a file, written and fsynced next to its target but not
/// yet in place. Dropping it removes the temp file and leaves the target as
/// it was.
#[derive(Debug)]
pub struct StagedWrite {
    target: PathBuf,
    temp: PathBuf,
    /// False once committed or abandoned: nothing left to clean up on drop.
    pending: bool,
}

/// Writes `bytes` to a fresh temp file next to `target` and fsyncs it,
/// first deleting temp files that earlier crashed writes to `target` left.
pub fn stage(target: &Path, bytes: &[u8]) -> Result<StagedWrite, AtomicWriteError> {
    let name = target
        .file_name()
        .ok_or_else(|| AtomicWriteError::NotAFilePath {
            path: target.to_path_buf(),
        })?;
    let dir = parent_dir(target);
    remove_stale_temps(dir, name)?;
    let temp = dir.join(temp_name(name));
    let mut staged = StagedWrite {
        target: target.to_path_buf(),
        temp,
        pending: false,
    };
    let mut file = create_private(&staged.temp)?;
    staged.pending = true;
    file.write_all(bytes)
        .map_err(io_err("write", &staged.temp))?;
    file.sync_all().map_err(io_err("fsync", &staged.temp))?;
    Ok(staged)
}

impl StagedWrite {
    /// The temp file holding the new contents.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The file this write will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the new contents into place (rename over the target) and makes
    /// the rename durable (fsync of the directory).
    ///
    /// If only the directory fsync fails, the new contents are in place but
    /// may not survive a power loss; the error says `fsync`.
    pub fn commit(mut self) -> Result<(), AtomicWriteError> {
        fs::rename(&self.temp, &self.target).map_err(io_err("rename", &self.temp))?;
        self.pending = false;
        sync_dir(parent_dir(&self.target))
    }

    /// Like [`StagedWrite::commit`], but refuses to replace an existing
    /// target: the temp file is hard-linked to the target name, which fails
    /// atomically if the name is taken, then unlinked.
    pub fn commit_new(mut self) -> Result<(), AtomicWriteError> {
        match fs::hard_link(&self.temp, &self.target) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                return Err(AtomicWriteError::AlreadyExists {
                    path: self.target.clone(),
                });
            }
            Err(err) => return Err(io_err("link", &self.temp)(err)),
        }
        fs::remove_file(&self.temp).map_err(io_err("remove", &self.temp))?;
        self.pending = false;
        sync_dir(parent_dir(&self.target))
    }

    /// Walks away from the write as a crash would: the temp file stays on
    /// disk and the target is untouched. For crash tests.
    pub fn abandon(mut self) -> PathBuf {
        self.pending = false;
        self.temp.clone()
    }
}

impl Drop for StagedWrite {
    fn drop(&mut self) {
        if self.pending {
            // Best effort: a leftover temp file is cleaned by the next stage.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The directory a file lives in (`.` for a bare file name).
fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// `.<name>.chrysalis-tmp-<pid>-<counter>`: unique within the machine.
fn temp_name(name: &std::ffi::OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!("{TEMP_MARKER}{}-{unique}", std::process::id()));
    temp
}

/// Whether `entry` is a temp file of a write to the file called `name`.
fn is_temp_of(entry: &std::ffi::OsStr, name: &std::ffi::OsStr) -> bool {
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(TEMP_MARKER);
    entry
        .as_encoded_bytes()
        .starts_with(prefix.as_encoded_bytes())
}

fn remove_stale_temps(dir: &Path, name: &std::ffi::OsStr) -> Result<(), AtomicWriteError> {
    let entries = fs::read_dir(dir).map_err(io_err("list", dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        if is_temp_of(&entry.file_name(), name) {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_err("remove stale temp file", &path)(err)),
            }
        }
    }
    Ok(())
}

fn create_private(path: &Path) -> Result<File, AtomicWriteError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(io_err("create", path))
}

/// Makes a rename in `dir` durable. Windows has no directory handles to
/// fsync; its renames are journaled by NTFS.
fn sync_dir(dir: &Path) -> Result<(), AtomicWriteError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temps_in(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(TEMP_MARKER))
            .collect()
    }

    #[test]
    fn write_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.bin");
        write_atomic(&target, b"first version, rather long").unwrap();
        write_atomic(&target, b"second").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second");
        assert!(temps_in(dir.path()).is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_crash_before_rename_keeps_the_old_file_and_the_next_write_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.bin");
        write_atomic(&target, b"old").unwrap();
        let leftover = stage(&target, b"new but never committed")
            .unwrap()
            .abandon();
        assert!(leftover.exists());
        assert_eq!(fs::read(&target).unwrap(), b"old");
        write_atomic(&target, b"newer").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"newer");
        assert!(!leftover.exists());
        assert!(temps_in(dir.path()).is_empty());
    }

    #[test]
    fn dropping_a_staged_write_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.bin");
        let staged = stage(&target, b"x").unwrap();
        let temp = staged.temp_path().to_path_buf();
        assert_eq!(staged.target(), target);
        drop(staged);
        assert!(!temp.exists());
        assert!(!target.exists());
    }

    #[test]
    fn temps_of_other_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let ab = dir.path().join("ab");
        let other = stage(&ab, b"other").unwrap().abandon();
        write_atomic(&a, b"1").unwrap();
        assert!(other.exists(), "a temp of `ab` is not a temp of `a`");
    }

    #[test]
    fn create_refuses_to_replace() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vault");
        create_atomic(&target, b"one").unwrap();
        let err = create_atomic(&target, b"two").unwrap_err();
        assert!(
            matches!(err, AtomicWriteError::AlreadyExists { .. }),
            "{err}"
        );
        assert_eq!(fs::read(&target).unwrap(), b"one");
        assert!(temps_in(dir.path()).is_empty());
    }

    #[test]
    fn bad_targets_are_typed_errors() {
        assert!(matches!(
            write_atomic(Path::new("/"), b"x"),
            Err(AtomicWriteError::NotAFilePath { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("file");
        assert!(matches!(
            write_atomic(&missing, b"x"),
            Err(AtomicWriteError::Io { op: "list", .. })
        ));
    }
}
