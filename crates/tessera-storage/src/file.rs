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

/// A disk in memory for crash tests: it keeps what was synced apart from
/// what was only written, can crash at a chosen operation (every later
/// operation fails), and yields the image a crash would leave: everything
/// synced, plus any prefix of the unsynced writes (a torn write).
pub mod sim {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::WalFile;

    #[derive(Default)]
    struct State {
        synced: Vec<u8>,
        written: Vec<u8>,
        /// Writes since the last sync, in order: (offset, bytes).
        unsynced: Vec<(u64, Vec<u8>)>,
        operations: usize,
        crash_at: Option<usize>,
        crashed: bool,
    }

    /// A handle on the simulated disk; clones share it.
    #[derive(Clone, Default)]
    pub struct SimDisk(Arc<Mutex<State>>);

    impl SimDisk {
        /// A disk that crashes at its `n`-th operation (1-based).
        pub fn crashing_at(n: usize) -> SimDisk {
            let disk = SimDisk::default();
            disk.lock().crash_at = Some(n);
            disk
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, State> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        pub fn file(&self) -> Box<dyn WalFile> {
            Box::new(SimFile(self.clone()))
        }

        pub fn crashed(&self) -> bool {
            self.lock().crashed
        }

        /// The file after a crash: what was synced, then the first
        /// `torn_bytes` bytes of the unsynced writes applied in order.
        pub fn crash_image(&self, torn_bytes: usize) -> Vec<u8> {
            let state = self.lock();
            let mut image = state.synced.clone();
            let mut left = torn_bytes;
            for (offset, bytes) in &state.unsynced {
                if left == 0 {
                    break;
                }
                let n = bytes.len().min(left);
                write_at(&mut image, *offset, &bytes[..n]);
                left -= n;
            }
            image
        }

        /// How many bytes the unsynced writes hold in all.
        pub fn unsynced_bytes(&self) -> usize {
            self.lock().unsynced.iter().map(|(_, b)| b.len()).sum()
        }
    }

    fn write_at(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
        let end = offset as usize + bytes.len();
        if image.len() < end {
            image.resize(end, 0);
        }
        image[offset as usize..end].copy_from_slice(bytes);
    }

    struct SimFile(SimDisk);

    impl SimFile {
        /// Counts an operation; fails it (and all later ones) at the crash point.
        fn operation(&self) -> io::Result<()> {
            let mut state = self.0.lock();
            state.operations += 1;
            if state.crashed || state.crash_at == Some(state.operations) {
                state.crashed = true;
                return Err(io::Error::other("simulated crash"));
            }
            Ok(())
        }
    }

    impl WalFile for SimFile {
        fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
            self.operation()?;
            let mut state = self.0.lock();
            write_at(&mut state.written, offset, buf);
            state.unsynced.push((offset, buf.to_vec()));
            Ok(())
        }
        fn sync_data(&mut self) -> io::Result<()> {
            self.operation()?;
            let mut state = self.0.lock();
            state.synced = state.written.clone();
            state.unsynced.clear();
            Ok(())
        }
        fn sync_all(&mut self) -> io::Result<()> {
            self.sync_data()
        }
        fn set_len(&mut self, len: u64) -> io::Result<()> {
            self.operation()?;
            let mut state = self.0.lock();
            state.written.resize(len as usize, 0);
            state.synced.resize(len as usize, 0);
            Ok(())
        }
    }
}
