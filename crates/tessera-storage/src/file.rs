//! The file interfaces the WAL and checkpoints go through.
//!
//! [`WalFile`] is one open file; [`FileSystem`] opens, lists, renames and
//! removes files and makes directory changes durable. Production uses
//! `std::fs` ([`OsFileSystem`]); tests substitute files that hold an fsync
//! back, count syncs or fail, and [`sim::SimFs`], a file system in memory
//! that crashes at a chosen operation and yields the state a crash leaves:
//! synced bytes plus a torn prefix of the rest, and the directory entries
//! made durable plus a prefix of those that were not.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

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

/// Files and directories, as the WAL's segments and the checkpoints use
/// them. A new, renamed or removed directory entry is durable only after
/// [`FileSystem::sync_dir`] of its directory.
pub trait FileSystem: Send + Sync + 'static {
    /// Opens `path` for reading and writing, creating it empty if absent.
    fn open(&self, path: &Path) -> io::Result<Box<dyn WalFile>>;
    /// The whole content of `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// A sequential reader of `path`.
    fn reader(&self, path: &Path) -> io::Result<Box<dyn io::Read + Send>>;
    /// At most `len` bytes of `path` from `offset` (fewer at its end), and
    /// the file's length.
    fn read_range(&self, path: &Path, offset: u64, len: usize) -> io::Result<(Vec<u8>, u64)> {
        let data = self.read(path)?;
        let from = (offset as usize).min(data.len());
        let to = from.saturating_add(len).min(data.len());
        Ok((data[from..to].to_vec(), data.len() as u64))
    }
    /// The names of the entries in `dir`; none if it does not exist.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Replaces `to` by `from` atomically (both in one directory).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals of entries in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
pub struct OsFileSystem;

impl FileSystem for OsFileSystem {
    fn open(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Box::new(file))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn reader(&self, path: &Path) -> io::Result<Box<dyn io::Read + Send>> {
        Ok(Box::new(io::BufReader::with_capacity(
            1 << 20,
            File::open(path)?,
        )))
    }
    fn read_range(&self, path: &Path, offset: u64, len: usize) -> io::Result<(Vec<u8>, u64)> {
        use std::os::unix::fs::FileExt;
        let file = File::open(path)?;
        let total = file.metadata()?.len();
        let len = len.min(total.saturating_sub(offset) as usize);
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, offset)?;
        Ok((buf, total))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// A file system in memory for crash tests.
///
/// Every change (a write, a sync, a size change, creating, renaming or
/// removing an entry, syncing a directory) counts as one operation; the disk
/// can crash at a chosen one, after which every change fails. A crash
/// image keeps, per file, what was synced plus a prefix of the unsynced
/// writes (a torn write), and per directory, the entries made durable by
/// `sync_dir` plus a prefix of the later changes in the order they were
/// made. Size changes are durable at once (the WAL syncs them right away).
pub mod sim {
    use std::collections::BTreeMap;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Condvar, Mutex};

    use super::{FileSystem, WalFile};

    #[derive(Default, Clone)]
    struct Inode {
        synced: Vec<u8>,
        written: Vec<u8>,
        /// Writes since the last sync, in order: (offset, bytes).
        unsynced: Vec<(u64, Vec<u8>)>,
    }

    impl Inode {
        /// What a crash leaves: the synced bytes and the first `torn`
        /// bytes of the unsynced writes.
        fn after_crash(&self, torn: usize) -> Vec<u8> {
            let mut image = self.synced.clone();
            let mut left = torn;
            for (offset, bytes) in &self.unsynced {
                if left == 0 {
                    break;
                }
                let n = bytes.len().min(left);
                write_at(&mut image, *offset, &bytes[..n]);
                left -= n;
            }
            image
        }
    }

    #[derive(Clone)]
    enum Change {
        Link(PathBuf, usize),
        Unlink(PathBuf),
        Rename(PathBuf, PathBuf),
    }

    impl Change {
        fn apply(&self, names: &mut BTreeMap<PathBuf, usize>) {
            match self {
                Change::Link(path, inode) => {
                    names.insert(path.clone(), *inode);
                }
                Change::Unlink(path) => {
                    names.remove(path);
                }
                Change::Rename(from, to) => {
                    if let Some(inode) = names.remove(from) {
                        names.insert(to.clone(), inode);
                    }
                }
            }
        }
    }

    #[derive(Default)]
    struct State {
        inodes: Vec<Inode>,
        /// The entries as the running process sees them.
        names: BTreeMap<PathBuf, usize>,
        /// The entries a crash keeps for sure.
        durable_names: BTreeMap<PathBuf, usize>,
        /// Entry changes not yet made durable, in order, with their directory.
        pending: Vec<(PathBuf, Change)>,
        operations: usize,
        crash_at: Option<usize>,
        crashed: bool,
        /// Bytes all files may hold together; growing past it fails as a
        /// full disk does.
        room: Option<u64>,
    }

    impl State {
        /// Counts an operation; fails it (and all later ones) at the crash point.
        fn operation(&mut self) -> io::Result<()> {
            self.operations += 1;
            if self.crashed || self.crash_at == Some(self.operations) {
                self.crashed = true;
                return Err(io::Error::other("simulated crash"));
            }
            Ok(())
        }

        fn used_bytes(&self) -> u64 {
            self.names
                .values()
                .map(|i| self.inodes[*i].written.len() as u64)
                .sum()
        }
    }

    fn parent(path: &Path) -> PathBuf {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    fn write_at(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
        let end = offset as usize + bytes.len();
        if image.len() < end {
            image.resize(end, 0);
        }
        image[offset as usize..end].copy_from_slice(bytes);
    }

    /// A handle on the simulated file system; clones share it.
    #[derive(Clone, Default)]
    pub struct SimFs(Arc<Mutex<State>>, SyncGate);

    /// Holds file syncs back while closed (see [`SimFs::hold_syncs`]).
    #[derive(Clone, Default)]
    struct SyncGate(Arc<(Mutex<bool>, Condvar)>);

    impl SyncGate {
        fn wait_open(&self) {
            let (held, cv) = &*self.0;
            let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
            while *held {
                held = cv.wait(held).unwrap_or_else(|e| e.into_inner());
            }
        }
        fn set(&self, hold: bool) {
            let (held, cv) = &*self.0;
            *held.lock().unwrap_or_else(|e| e.into_inner()) = hold;
            cv.notify_all();
        }
    }

    impl SimFs {
        pub fn new() -> SimFs {
            SimFs::default()
        }

        /// A file system that crashes at its `n`-th operation (1-based).
        pub fn crashing_at(n: usize) -> SimFs {
            let fs = SimFs::default();
            fs.lock().crash_at = Some(n);
            fs
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, State> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        pub fn crashed(&self) -> bool {
            self.lock().crashed
        }

        /// Operations counted so far.
        pub fn operations(&self) -> usize {
            self.lock().operations
        }

        /// Makes every file sync wait until [`SimFs::release_syncs`], so a
        /// test can keep records appended but not durable.
        pub fn hold_syncs(&self) {
            self.1.set(true);
        }

        pub fn release_syncs(&self) {
            self.1.set(false);
        }

        /// The bytes all files hold.
        pub fn used_bytes(&self) -> u64 {
            self.lock().used_bytes()
        }

        /// Limits the bytes all files may hold (`None`: no limit).
        pub fn set_room(&self, bytes: Option<u64>) {
            self.lock().room = bytes;
        }

        /// The most unsynced bytes any one file holds.
        pub fn unsynced_bytes(&self) -> usize {
            let state = self.lock();
            state
                .inodes
                .iter()
                .map(|i| i.unsynced.iter().map(|(_, b)| b.len()).sum())
                .max()
                .unwrap_or(0)
        }

        /// Directory changes not yet made durable.
        pub fn pending_changes(&self) -> usize {
            self.lock().pending.len()
        }

        /// The file system a crash now would leave: the durable entries
        /// plus the first `changes` pending ones, each file with its synced
        /// bytes plus the first `torn` bytes of its unsynced writes. It
        /// does not crash.
        pub fn crash_image(&self, torn: usize, changes: usize) -> SimFs {
            let state = self.lock();
            let mut names = state.durable_names.clone();
            for (_, change) in state.pending.iter().take(changes) {
                change.apply(&mut names);
            }
            let mut image = State::default();
            for (path, inode) in names {
                let bytes = state.inodes[inode].after_crash(torn);
                image.inodes.push(Inode {
                    synced: bytes.clone(),
                    written: bytes,
                    unsynced: vec![],
                });
                let id = image.inodes.len() - 1;
                image.names.insert(path.clone(), id);
                image.durable_names.insert(path, id);
            }
            SimFs(Arc::new(Mutex::new(image)), SyncGate::default())
        }

        /// A file that already exists durably, opened without counting an
        /// operation (test set-up).
        pub fn existing_file(&self, path: &Path) -> Box<dyn WalFile> {
            let mut state = self.lock();
            let inode = match state.names.get(path) {
                Some(i) => *i,
                None => {
                    state.inodes.push(Inode::default());
                    let i = state.inodes.len() - 1;
                    state.names.insert(path.to_path_buf(), i);
                    state.durable_names.insert(path.to_path_buf(), i);
                    i
                }
            };
            Box::new(SimFile {
                fs: self.clone(),
                inode,
            })
        }

        /// The bytes of `path` as the running process sees them.
        pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
            let state = self.lock();
            state
                .names
                .get(path)
                .map(|i| state.inodes[*i].written.clone())
        }

        /// Replaces the bytes of an existing file durably, without counting
        /// an operation (tests damage files with it).
        pub fn overwrite(&self, path: &Path, bytes: Vec<u8>) {
            let mut state = self.lock();
            if let Some(i) = state.names.get(path).copied() {
                let inode = &mut state.inodes[i];
                inode.synced = bytes.clone();
                inode.written = bytes;
                inode.unsynced.clear();
            }
        }

        /// Every path, in order.
        pub fn paths(&self) -> Vec<PathBuf> {
            self.lock().names.keys().cloned().collect()
        }
    }

    struct SimFile {
        fs: SimFs,
        inode: usize,
    }

    impl WalFile for SimFile {
        fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
            let mut state = self.fs.lock();
            state.operation()?;
            let end = offset + buf.len() as u64;
            let len = state.inodes[self.inode].written.len() as u64;
            if let Some(room) = state.room {
                if end > len && state.used_bytes() + (end - len) > room {
                    return Err(io::Error::from_raw_os_error(28));
                }
            }
            let inode = &mut state.inodes[self.inode];
            write_at(&mut inode.written, offset, buf);
            inode.unsynced.push((offset, buf.to_vec()));
            Ok(())
        }
        fn sync_data(&mut self) -> io::Result<()> {
            self.fs.1.wait_open();
            let mut state = self.fs.lock();
            state.operation()?;
            let inode = &mut state.inodes[self.inode];
            inode.synced = inode.written.clone();
            inode.unsynced.clear();
            Ok(())
        }
        fn sync_all(&mut self) -> io::Result<()> {
            self.sync_data()
        }
        fn set_len(&mut self, len: u64) -> io::Result<()> {
            let mut state = self.fs.lock();
            state.operation()?;
            let inode = &mut state.inodes[self.inode];
            inode.written.resize(len as usize, 0);
            inode.synced.resize(len as usize, 0);
            Ok(())
        }
    }

    impl FileSystem for SimFs {
        fn open(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
            let mut state = self.lock();
            let inode = match state.names.get(path) {
                Some(i) => *i,
                None => {
                    state.operation()?;
                    state.inodes.push(Inode::default());
                    let i = state.inodes.len() - 1;
                    state.names.insert(path.to_path_buf(), i);
                    state
                        .pending
                        .push((parent(path), Change::Link(path.to_path_buf(), i)));
                    i
                }
            };
            Ok(Box::new(SimFile {
                fs: self.clone(),
                inode,
            }))
        }
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            self.contents(path)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn reader(&self, path: &Path) -> io::Result<Box<dyn io::Read + Send>> {
            Ok(Box::new(io::Cursor::new(self.read(path)?)))
        }
        fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
            let state = self.lock();
            Ok(state
                .names
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
                .collect())
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            let mut state = self.lock();
            if !state.names.contains_key(from) {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            state.operation()?;
            let change = Change::Rename(from.to_path_buf(), to.to_path_buf());
            change.apply(&mut state.names);
            state.pending.push((parent(from), change));
            Ok(())
        }
        fn remove(&self, path: &Path) -> io::Result<()> {
            let mut state = self.lock();
            if !state.names.contains_key(path) {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            state.operation()?;
            let change = Change::Unlink(path.to_path_buf());
            change.apply(&mut state.names);
            state.pending.push((parent(path), change));
            Ok(())
        }
        fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
            // Directories are implied by the paths of their files.
            Ok(())
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            let mut state = self.lock();
            state.operation()?;
            let pending = std::mem::take(&mut state.pending);
            for (d, change) in pending {
                if d == dir {
                    change.apply(&mut state.durable_names);
                } else {
                    state.pending.push((d, change));
                }
            }
            Ok(())
        }
    }

    /// One simulated file (the WAL tests' disk): a [`SimFs`] holding one file.
    #[derive(Clone, Default)]
    pub struct SimDisk(SimFs);

    const DISK_FILE: &str = "wal";

    impl SimDisk {
        /// A disk that crashes at its `n`-th operation (1-based).
        pub fn crashing_at(n: usize) -> SimDisk {
            SimDisk(SimFs::crashing_at(n))
        }

        pub fn file(&self) -> Box<dyn WalFile> {
            self.0.existing_file(Path::new(DISK_FILE))
        }

        pub fn crashed(&self) -> bool {
            self.0.crashed()
        }

        /// The file after a crash: what was synced, then the first
        /// `torn_bytes` bytes of the unsynced writes applied in order.
        pub fn crash_image(&self, torn_bytes: usize) -> Vec<u8> {
            self.0
                .crash_image(torn_bytes, 0)
                .contents(Path::new(DISK_FILE))
                .unwrap_or_default()
        }

        /// How many bytes the unsynced writes hold in all.
        pub fn unsynced_bytes(&self) -> usize {
            self.0.unsynced_bytes()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_crash_keeps_synced_bytes_durable_entries_and_a_prefix_of_the_rest() {
            let fs = SimFs::new();
            let dir = Path::new("d");
            let mut a = fs.open(&dir.join("a")).unwrap();
            a.write_all_at(b"hello", 0).unwrap();
            a.sync_data().unwrap();
            fs.sync_dir(dir).unwrap();
            a.write_all_at(b" world", 5).unwrap();
            let mut tmp = fs.open(&dir.join("b.tmp")).unwrap();
            tmp.write_all_at(b"new", 0).unwrap();
            tmp.sync_all().unwrap();
            fs.rename(&dir.join("b.tmp"), &dir.join("b")).unwrap();
            assert_eq!(fs.pending_changes(), 2);

            let none = fs.crash_image(0, 0);
            assert_eq!(none.paths(), vec![dir.join("a")]);
            assert_eq!(none.contents(&dir.join("a")).unwrap(), b"hello");
            let torn = fs.crash_image(3, 0);
            assert_eq!(torn.contents(&dir.join("a")).unwrap(), b"hello wo");
            let created = fs.crash_image(0, 1);
            assert_eq!(created.contents(&dir.join("b.tmp")).unwrap(), b"new");
            let renamed = fs.crash_image(0, 2);
            assert_eq!(renamed.contents(&dir.join("b")).unwrap(), b"new");
            assert!(renamed.contents(&dir.join("b.tmp")).is_none());

            fs.sync_dir(dir).unwrap();
            assert_eq!(fs.pending_changes(), 0);
            assert_eq!(fs.crash_image(0, 0).paths().len(), 2);
        }

        #[test]
        fn every_change_after_the_crash_point_fails_and_a_full_disk_refuses_growth() {
            let fs = SimFs::crashing_at(2);
            let mut f = fs.open(Path::new("f")).unwrap();
            assert!(f.write_all_at(b"x", 0).is_err());
            assert!(f.sync_data().is_err());
            assert!(fs.crashed());

            let fs = SimFs::new();
            fs.set_room(Some(4));
            let mut f = fs.open(Path::new("f")).unwrap();
            f.write_all_at(b"abcd", 0).unwrap();
            let err = f.write_all_at(b"e", 4).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(28));
            f.write_all_at(b"x", 0).unwrap();
        }
    }
}
