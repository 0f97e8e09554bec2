//! The file interface the WAL writes through.
//!
//! Production uses `std::fs::File`; tests substitute files that hold an
//! fsync back, count syncs, or fail, to prove group commit, that the event
//! loop never waits on the disk, and what a failed write does. Crash, torn
//! write and lost-unsynced-data injection (issue 3) plug in here too.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

pub trait WalFile: Send + 'static {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes written data durable (not necessarily the file size).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Makes written data and the file's metadata durable.
    fn sync_all(&mut self) -> io::Result<()>;
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl WalFile for File {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}
