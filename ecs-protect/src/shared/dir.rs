//! The shared directory: its two files, their advisory locks, and the checks that make a
//! bad directory a clear error instead of silently uncoordinated protection.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::record::Record;
use crate::Error;

/// The variable naming the directory.
pub(crate) const VAR: &str = "ECS_PROTECT_SHARED_DIR";
/// Held shared by every process that needs protection; tried exclusively to disable.
const NEED_FILE: &str = "ecs-protect.need";
/// Holds the [`Record`]; locked exclusively around each read-modify-write.
const STATE_FILE: &str = "ecs-protect.state";

/// One process's handles on the shared directory.
///
/// `flock` locks belong to an open file description, so `need` and `sole` (two opens of
/// the same file) exclude each other even within this process: a process that holds
/// `need` cannot get `sole`, exactly like another process. std opens files close-on-exec,
/// so a program this process starts does not inherit them, nor keep their locks alive.
#[derive(Debug)]
pub(crate) struct Dir {
    path: PathBuf,
    need: File,
    sole: File,
    state: File,
}

/// Whether the exclusive lock was had.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sole {
    /// Nobody else needs protection: this process may disable, until `release_sole`.
    Had,
    /// Another process needs protection (or is disabling it).
    Taken,
}

impl Dir {
    /// Opens (creating if needed) the files in `path` and checks that locks work there.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `origin`: the directory is missing, not a directory, not
    /// writable, or on a filesystem whose locks do not exclude each other.
    pub(crate) fn open(path: &Path, origin: &str) -> Result<Dir, Error> {
        let bad = |message: String| Error::config(origin, message);
        let shown = path.display();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(bad(format!("{shown} is not a directory"))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(format!(
                    "directory {shown} does not exist (create it, or mount the task volume \
                     there in every container)"
                )));
            }
            Err(err) => return Err(bad(format!("cannot read directory {shown}: {err}"))),
        }
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path.join(name))
                .map_err(|err| {
                    bad(format!(
                        "cannot create or open {name} in {shown}: {err} (every process of the \
                         task must be able to write there)"
                    ))
                })
        };
        let dir = Dir {
            path: path.to_owned(),
            need: open(NEED_FILE)?,
            sole: open(NEED_FILE)?,
            state: open(STATE_FILE)?,
        };
        dir.check_locks(&open(STATE_FILE)?)
            .map_err(|message| bad(format!("{shown}: {message}")))?;
        Ok(dir)
    }

    /// A lock held on one open of the state file must keep a second open out, as it keeps
    /// other processes out. Filesystems that emulate or ignore `flock` (NFS, EFS, some
    /// FUSE mounts) fail this.
    fn check_locks(&self, probe: &File) -> Result<(), String> {
        self.state
            .lock()
            .map_err(|err| format!("cannot lock {STATE_FILE}: {err}"))?;
        let outcome = match probe.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => Ok(()),
            Ok(()) => Err(format!(
                "file locks do not work on this filesystem (a second lock on {STATE_FILE} was \
                 granted while the first was held): use a local filesystem, such as a \
                 bind-mount task volume, not NFS or EFS"
            )),
            Err(std::fs::TryLockError::Error(err)) => {
                Err(format!("file locks do not work on this filesystem: {err}"))
            }
        };
        // Unlocking can only fail on an invalid descriptor; the probe closes with its file.
        let _ = self.state.unlock();
        outcome
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, what: &str, err: std::io::Error) -> Error {
        Error::config(VAR, format!("{}: {what}: {err}", self.path.display()))
    }

    /// Declares that this process needs protection; waits while another disables it.
    pub(crate) fn hold_need(&self) -> Result<(), Error> {
        self.need
            .lock_shared()
            .map_err(|err| self.io_error("cannot take the shared lock", err))
    }

    /// Declares that this process no longer needs protection.
    pub(crate) fn release_need(&self) {
        if let Err(err) = self.need.unlock() {
            log::error!("{}", self.io_error("cannot release the shared lock", err));
        }
    }

    /// Tries, without waiting, to be the only process concerned with protection.
    pub(crate) fn try_sole(&self) -> Result<Sole, Error> {
        match self.sole.try_lock() {
            Ok(()) => Ok(Sole::Had),
            Err(std::fs::TryLockError::WouldBlock) => Ok(Sole::Taken),
            Err(std::fs::TryLockError::Error(err)) => {
                Err(self.io_error("cannot try the exclusive lock", err))
            }
        }
    }

    pub(crate) fn release_sole(&self) {
        if let Err(err) = self.sole.unlock() {
            log::error!(
                "{}",
                self.io_error("cannot release the exclusive lock", err)
            );
        }
    }

    /// Runs `work` with the state file locked: nobody else reads or writes the record
    /// meanwhile. The lock is released when `work` returns.
    pub(crate) fn locked<T>(
        &self,
        work: impl FnOnce(&Locked<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.state
            .lock()
            .map_err(|err| self.io_error("cannot lock the state file", err))?;
        let locked = Locked { dir: self };
        work(&locked)
    }

    /// The record as it stands.
    #[cfg(test)]
    pub(crate) fn read(&self) -> Result<Record, Error> {
        self.locked(|state| state.read())
    }
}

/// The state file while this process holds its lock; dropping it unlocks, whatever
/// happened meanwhile.
pub(crate) struct Locked<'a> {
    dir: &'a Dir,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Unlocking can only fail on an invalid descriptor.
        let _ = self.dir.state.unlock();
    }
}

impl Locked<'_> {
    /// Reads the record.
    pub(crate) fn read(&self) -> Result<Record, Error> {
        let mut file = &self.dir.state;
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|err| self.dir.io_error("cannot read the state file", err))?;
        Ok(Record::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Replaces the record.
    pub(crate) fn write(&self, record: Record) -> Result<(), Error> {
        let mut file = &self.dir.state;
        let line = record.format();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(line.as_bytes()))
            .map_err(|err| self.dir.io_error("cannot write the state file", err))
    }
}
