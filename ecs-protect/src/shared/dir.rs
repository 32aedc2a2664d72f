//! The shared directory: its two files, their advisory locks, and the checks that make a
//! bad directory a clear error instead of silently uncoordinated protection.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::files::{self, Files, Locked, Sole};
use super::record::Record;
use super::settings::{self, SETTINGS_FILE, Settings};
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
    /// Shared-locked while this process is here: see [`settings::join`].
    members: File,
}

impl Dir {
    /// Opens (creating if needed) the files in `path`, checks that locks work there, and
    /// records `ours` or checks them against the settings of the processes already there.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `origin`: the directory is missing, not a directory, not
    /// writable, or on a filesystem whose locks do not exclude each other; or naming the
    /// settings that differ from those of the task's other processes.
    pub(crate) fn open(path: &Path, origin: &str, ours: &Settings) -> Result<Dir, Error> {
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
        let need = open(NEED_FILE)?;
        let sole = open(NEED_FILE)?;
        create_state(path).map_err(|err| {
            bad(format!(
                "cannot create {STATE_FILE} in {shown}: {err} (every process of the task must be \
                 able to write there)"
            ))
        })?;
        let dir = Dir {
            path: path.to_owned(),
            need,
            sole,
            state: open(STATE_FILE)?,
            members: open(SETTINGS_FILE)?,
        };
        dir.check_locks(&open(STATE_FILE)?)
            .map_err(|message| bad(format!("{shown}: {message}")))?;
        let joined = dir.locked(|_| Ok(settings::join(&dir.members, ours)))?;
        joined.map_err(|(names, message)| {
            if names.is_empty() {
                bad(format!("{shown}: {message}"))
            } else {
                Error::config(names, format!("{message} (coordinated through {shown})"))
            }
        })?;
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

    fn io_error(&self, what: &str, err: std::io::Error) -> Error {
        Error::config(VAR, format!("{}: {what}: {err}", self.path.display()))
    }

    /// Runs `work` with the state file locked.
    pub(crate) fn locked<T>(
        &self,
        work: impl FnOnce(&Locked<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        files::locked(self, work)
    }
}

/// Creates the state file holding "off", if it does not exist, so that it never exists
/// empty: written under a name of this process's, then linked into place (a hard link
/// fails if another process created it first, and then that one stands). An empty state
/// file reads as "maybe on"; where hard links are not supported, it is created in place.
fn create_state(path: &Path) -> std::io::Result<()> {
    let target = path.join(STATE_FILE);
    if target.exists() {
        return Ok(());
    }
    let line = Record::Off { window_until: None }.format();
    let temp = path.join(format!("{STATE_FILE}.{}.new", std::process::id()));
    let written = File::create(&temp).and_then(|mut file| file.write_all(line.as_bytes()));
    let linked = written.and_then(|()| std::fs::hard_link(&temp, &target));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) => match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
        {
            Ok(mut file) => file.write_all(line.as_bytes()),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(err) => Err(err),
        },
    }
}

impl Files for Dir {
    fn path(&self) -> &Path {
        &self.path
    }

    fn hold_need(&self) -> Result<(), Error> {
        self.need
            .lock_shared()
            .map_err(|err| self.io_error("cannot take the shared lock", err))
    }

    fn release_need(&self) {
        if let Err(err) = self.need.unlock() {
            log::error!("{}", self.io_error("cannot release the shared lock", err));
        }
    }

    fn try_sole(&self) -> Result<Sole, Error> {
        match self.sole.try_lock() {
            Ok(()) => Ok(Sole::Had),
            Err(std::fs::TryLockError::WouldBlock) => Ok(Sole::Taken),
            Err(std::fs::TryLockError::Error(err)) => {
                Err(self.io_error("cannot try the exclusive lock", err))
            }
        }
    }

    fn release_sole(&self) {
        if let Err(err) = self.sole.unlock() {
            log::error!(
                "{}",
                self.io_error("cannot release the exclusive lock", err)
            );
        }
    }

    fn lock_state(&self) -> Result<(), Error> {
        self.state
            .lock()
            .map_err(|err| self.io_error("cannot lock the state file", err))
    }

    fn unlock_state(&self) {
        // Unlocking can only fail on an invalid descriptor.
        let _ = self.state.unlock();
    }

    fn read_state(&self) -> Result<Vec<u8>, Error> {
        let mut file = &self.state;
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|err| self.io_error("cannot read the state file", err))?;
        Ok(bytes)
    }

    fn write_state(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut file = &self.state;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(bytes))
            .map_err(|err| self.io_error("cannot write the state file", err))
    }

    fn cut_state(&self, len: u64) -> Result<(), Error> {
        self.state
            .set_len(len)
            .map_err(|err| self.io_error("cannot write the state file", err))
    }
}
