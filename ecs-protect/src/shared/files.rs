//! What the shared-directory protocol does to the world outside its process: the need
//! lock, the exclusive lock, the state file and the clock. [`Dir`](super::dir::Dir) does
//! it with `flock` on real files; the model checker (`model` in the tests) with an
//! in-memory world, so that the protocol it checks is the code that runs.

use std::fmt::Debug;
use std::path::Path;
use std::time::SystemTime;

use super::record::Record;
use crate::Error;

/// Whether the exclusive lock was had.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sole {
    /// Nobody else needs protection: this process may disable, until `release_sole`.
    Had,
    /// Another process needs protection (or is disabling it).
    Taken,
}

/// The shared directory's locks and state file, as one process sees them.
///
/// A process that dies loses its locks (the kernel drops them); what it wrote stays.
pub(crate) trait Files: Debug + Send + Sync {
    /// The directory, for messages.
    fn path(&self) -> &Path;
    /// Declares that this process needs protection (a shared lock); waits while another
    /// process holds the exclusive lock.
    fn hold_need(&self) -> Result<(), Error>;
    /// Declares that this process no longer needs protection.
    fn release_need(&self);
    /// Tries, without waiting, to be the only process concerned with protection (the
    /// exclusive lock on the need file, which this process's own shared lock also keeps
    /// out).
    fn try_sole(&self) -> Result<Sole, Error>;
    fn release_sole(&self);
    /// Locks the state file, waiting for another process's lock.
    fn lock_state(&self) -> Result<(), Error>;
    fn unlock_state(&self);
    /// The state file's bytes (under its lock).
    fn read_state(&self) -> Result<Vec<u8>, Error>;
    /// Writes `bytes` over the start of the state file, leaving what follows (under its
    /// lock).
    fn write_state(&self, bytes: &[u8]) -> Result<(), Error>;
    /// Cuts the state file to `len` bytes (under its lock).
    fn cut_state(&self, len: u64) -> Result<(), Error>;
    /// The time now.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Runs `work` with the state file locked: nobody else reads or writes the record
/// meanwhile. The lock is released when `work` returns.
pub(crate) fn locked<T>(
    files: &dyn Files,
    work: impl FnOnce(&Locked<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    files.lock_state()?;
    let locked = Locked { files };
    work(&locked)
}

/// The state file while this process holds its lock; dropping it unlocks, whatever
/// happened meanwhile.
pub(crate) struct Locked<'a> {
    files: &'a dyn Files,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.files.unlock_state();
    }
}

impl Locked<'_> {
    /// Reads the record.
    pub(crate) fn read(&self) -> Result<Record, Error> {
        let bytes = self.files.read_state()?;
        Ok(Record::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Replaces the record: writes the new line over the old one, then cuts the file to
    /// its length. A process killed in between leaves the new line followed by the old
    /// one's tail, which reads as "maybe on" (never as "off"); the file is never empty.
    pub(crate) fn write(&self, record: Record) -> Result<(), Error> {
        let line = record.format();
        self.files.write_state(line.as_bytes())?;
        self.files.cut_state(line.len() as u64)
    }
}
