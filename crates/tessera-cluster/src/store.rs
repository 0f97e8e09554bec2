//! The metadata group's durable state in the node's data directory:
//! `raft/log` (the Raft log, the vote and the commit index, as
//! checksummed records appended and synced) and `raft/snapshot` (the
//! system tables as of a log position, replaced atomically).
//!
//! The log is small (catalog and topology changes), so it is also held in
//! memory; the file is only appended to, and rewritten once purged
//! entries dominate it. A torn last record (a crash during an append) is
//! cut off on open; damage anywhere before it stops the node with the
//! file and offset named, like the shards' WAL does.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::File;
use std::io::Write;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, LogState, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
    Vote,
};
use serde::{Deserialize, Serialize};
use tessera_types::{sqlstate, Error, Result};
use tokio::sync::watch;

use crate::state::{CommandResult, Metadata, NodeId, RaftNode, TypeConfig};

const LOG_FILE: &str = "log";
const SNAPSHOT_FILE: &str = "snapshot";
/// A record larger than this is damage, not data.
const MAX_RECORD_BYTES: usize = 64 << 20;
/// Rewrite the log file once it holds this many records no longer needed.
const REWRITE_AFTER_DEAD_RECORDS: usize = 4096;

#[derive(Serialize, Deserialize)]
enum LogRecord {
    Vote(Vote<NodeId>),
    Committed(Option<LogId<NodeId>>),
    Entry(Entry<TypeConfig>),
    /// Entries from this index on were removed (a new leader overwrote them).
    Truncate(u64),
    /// Entries up to this one are in a snapshot and removed.
    Purge(LogId<NodeId>),
}

fn io_err(e: std::io::Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

fn encode(record: &LogRecord, out: &mut Vec<u8>) {
    let payload = postcard::to_allocvec(record).expect("log records serialize");
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

/// What the log file holds once read.
#[derive(Default)]
struct LogState0 {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    records: usize,
}

impl LogState0 {
    fn take(&mut self, record: LogRecord) {
        self.records += 1;
        match record {
            LogRecord::Vote(v) => self.vote = Some(v),
            LogRecord::Committed(c) => self.committed = c,
            LogRecord::Entry(e) => {
                self.entries.insert(e.log_id.index, e);
            }
            LogRecord::Truncate(from) => {
                self.entries.split_off(&from);
            }
            LogRecord::Purge(upto) => {
                self.entries = self.entries.split_off(&(upto.index + 1));
                self.purged = Some(upto);
            }
        }
    }
}

/// Reads a log file; returns the state and the length of its good prefix.
fn read_log(path: &Path, bytes: &[u8]) -> Result<(LogState0, usize)> {
    let mut state = LogState0::default();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 8 {
            break; // a torn length: the last record was being written
        }
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
        if len == 0 && rest.iter().all(|b| *b == 0) {
            break; // zeros after the last record: space the crash left
        }
        if len > MAX_RECORD_BYTES || rest.len() < 8 + len {
            if len <= MAX_RECORD_BYTES {
                break; // the last record was being written
            }
            return Err(damaged(path, at, "a record length beyond any record"));
        }
        let payload = &rest[8..8 + len];
        if crc32fast::hash(payload) != crc {
            if 8 + len == rest.len() {
                break; // a torn last record
            }
            return Err(damaged(path, at, "a checksum mismatch"));
        }
        let record: LogRecord = postcard::from_bytes(payload)
            .map_err(|e| damaged(path, at, &format!("an undecodable record ({e})")))?;
        state.take(record);
        at += 8 + len;
    }
    Ok((state, at))
}

fn damaged(path: &Path, at: usize, what: &str) -> Error {
    Error::new(
        sqlstate::DATA_CORRUPTED,
        format!(
            "the metadata log {} is damaged at byte {at}: {what}; restore this node's data directory from a copy or remove it and let the node rejoin as a new one",
            path.display()
        ),
    )
}

struct LogInner {
    path: PathBuf,
    file: File,
    state: LogState0,
    buf: Vec<u8>,
}

impl LogInner {
    fn write(&mut self, records: &[LogRecord]) -> std::io::Result<()> {
        self.buf.clear();
        for r in records {
            encode(r, &mut self.buf);
        }
        self.file.write_all(&self.buf)?;
        self.file.sync_data()
    }

    fn append(&mut self, records: Vec<LogRecord>) -> std::io::Result<()> {
        self.write(&records)?;
        for r in records {
            self.state.take(r);
        }
        if self.state.records > self.state.entries.len() + REWRITE_AFTER_DEAD_RECORDS {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Writes the live state to a new file and renames it over the old one.
    fn rewrite(&mut self) -> std::io::Result<()> {
        let mut records = Vec::new();
        if let Some(v) = self.state.vote {
            records.push(LogRecord::Vote(v));
        }
        records.push(LogRecord::Committed(self.state.committed));
        if let Some(p) = self.state.purged {
            records.push(LogRecord::Purge(p));
        }
        records.extend(self.state.entries.values().cloned().map(LogRecord::Entry));
        let tmp = self.path.with_extension("new");
        let mut buf = Vec::new();
        for r in &records {
            encode(r, &mut buf);
        }
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        sync_dir(&self.path)?;
        self.file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        self.state.records = records.len();
        Ok(())
    }
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The Raft log and vote. Cloned as the log reader replication uses.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

impl LogStore {
    pub fn open(dir: &Path) -> Result<LogStore> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating the raft directory", e))?;
        let path = dir.join(LOG_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("reading the metadata log", e)),
        };
        let (state, good) = read_log(&path, &bytes)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening the metadata log", e))?;
        if good < bytes.len() {
            tracing::warn!(
                "the metadata log {} ends in {} bytes of an interrupted write; cut off",
                path.display(),
                bytes.len() - good
            );
            file.set_len(good as u64)
                .and_then(|_| file.sync_all())
                .map_err(|e| Error::io("cutting the metadata log", e))?;
        }
        drop(file);
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("opening the metadata log", e))?;
        if bytes.is_empty() {
            sync_dir(&path).map_err(|e| Error::io("creating the metadata log", e))?;
        }
        Ok(LogStore {
            inner: Arc::new(Mutex::new(LogInner {
                path,
                file,
                state,
                buf: Vec::new(),
            })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let inner = self.lock();
        Ok(inner
            .state
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(
        &mut self,
    ) -> std::result::Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let inner = self.lock();
        let last = inner
            .state
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(inner.state.purged);
        Ok(LogState {
            last_purged_log_id: inner.state.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(
        &mut self,
        vote: &Vote<NodeId>,
    ) -> std::result::Result<(), StorageError<NodeId>> {
        self.lock()
            .append(vec![LogRecord::Vote(*vote)])
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(
        &mut self,
    ) -> std::result::Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().state.vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> std::result::Result<(), StorageError<NodeId>> {
        // Not synced on its own: losing it only means waiting for the
        // leader to say again what is committed.
        let mut inner = self.lock();
        if inner.state.committed == committed {
            return Ok(());
        }
        inner.buf.clear();
        let mut buf = std::mem::take(&mut inner.buf);
        encode(&LogRecord::Committed(committed), &mut buf);
        let r = inner.file.write_all(&buf);
        inner.buf = buf;
        r.map_err(io_err)?;
        inner.state.take(LogRecord::Committed(committed));
        Ok(())
    }

    async fn read_committed(
        &mut self,
    ) -> std::result::Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().state.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> std::result::Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records: Vec<LogRecord> = entries.into_iter().map(LogRecord::Entry).collect();
        let result = self.lock().append(records);
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                callback.log_io_completed(Err(copy));
                Err(io_err(e))
            }
        }
    }

    async fn truncate(
        &mut self,
        log_id: LogId<NodeId>,
    ) -> std::result::Result<(), StorageError<NodeId>> {
        self.lock()
            .append(vec![LogRecord::Truncate(log_id.index)])
            .map_err(io_err)
    }

    async fn purge(
        &mut self,
        log_id: LogId<NodeId>,
    ) -> std::result::Result<(), StorageError<NodeId>> {
        self.lock()
            .append(vec![LogRecord::Purge(log_id)])
            .map_err(io_err)
    }
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, RaftNode>,
    data: Vec<u8>,
}

/// The system tables, applied from the log, and their last snapshot.
/// Every change is published on a watch channel for readers on other
/// threads (SQL, status).
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Mutex<SmInner>>,
}

struct SmInner {
    metadata: Metadata,
    snapshot_path: PathBuf,
    snapshot: Option<SnapshotFile>,
    published: watch::Sender<Arc<Metadata>>,
}

impl StateMachineStore {
    /// Opens the snapshot in `dir`, if any, as the starting state.
    pub fn open(dir: &Path) -> Result<(StateMachineStore, watch::Receiver<Arc<Metadata>>)> {
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let snapshot = match std::fs::read(&snapshot_path) {
            Ok(bytes) => Some(decode_snapshot(&snapshot_path, &bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("reading the metadata snapshot", e)),
        };
        let metadata = match &snapshot {
            Some(s) => postcard::from_bytes(&s.data).map_err(|e| {
                Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!(
                        "the metadata snapshot {} does not decode: {e}",
                        snapshot_path.display()
                    ),
                )
            })?,
            None => Metadata::default(),
        };
        let (published, rx) = watch::channel(Arc::new(metadata.clone()));
        Ok((
            StateMachineStore {
                inner: Arc::new(Mutex::new(SmInner {
                    metadata,
                    snapshot_path,
                    snapshot,
                    published,
                })),
            },
            rx,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SmInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn decode_snapshot(path: &Path, bytes: &[u8]) -> Result<SnapshotFile> {
    let bad = |what: &str| {
        Error::new(
            sqlstate::DATA_CORRUPTED,
            format!(
                "the metadata snapshot {} is damaged: {what}",
                path.display()
            ),
        )
    };
    if bytes.len() < 4 {
        return Err(bad("too short"));
    }
    let crc = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    if crc32fast::hash(&bytes[4..]) != crc {
        return Err(bad("a checksum mismatch"));
    }
    postcard::from_bytes(&bytes[4..]).map_err(|e| bad(&e.to_string()))
}

fn write_snapshot(path: &Path, snapshot: &SnapshotFile) -> std::io::Result<()> {
    let payload = postcard::to_allocvec(snapshot).expect("snapshots serialize");
    let tmp = path.with_extension("new");
    let mut f = File::create(&tmp)?;
    f.write_all(&crc32fast::hash(&payload).to_le_bytes())?;
    f.write_all(&payload)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

impl SmInner {
    fn take_snapshot(&mut self) -> std::io::Result<Snapshot<TypeConfig>> {
        let data = postcard::to_allocvec(&self.metadata).expect("metadata serializes");
        let last = self.metadata.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.metadata.membership.clone(),
            snapshot_id: match last {
                Some(l) => format!("{}-{}", l.leader_id, l.index),
                None => "empty".into(),
            },
        };
        let file = SnapshotFile { meta, data };
        write_snapshot(&self.snapshot_path, &file)?;
        let snapshot = Snapshot {
            meta: file.meta.clone(),
            snapshot: Box::new(file.data.clone()),
        };
        self.snapshot = Some(file);
        Ok(snapshot)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(
        &mut self,
    ) -> std::result::Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        self.lock()
            .take_snapshot()
            .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)).into())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<
        (Option<LogId<NodeId>>, StoredMembership<NodeId, RaftNode>),
        StorageError<NodeId>,
    > {
        let inner = self.lock();
        Ok((
            inner.metadata.last_applied,
            inner.metadata.membership.clone(),
        ))
    }

    async fn apply<I>(
        &mut self,
        entries: I,
    ) -> std::result::Result<Vec<CommandResult>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.lock();
        let mut results = Vec::new();
        for entry in entries {
            inner.metadata.last_applied = Some(entry.log_id);
            let result = match &entry.payload {
                EntryPayload::Blank => CommandResult::Done,
                EntryPayload::Normal(command) => inner.metadata.apply(command),
                EntryPayload::Membership(m) => {
                    inner.metadata.membership =
                        StoredMembership::new(Some(entry.log_id), m.clone());
                    CommandResult::Done
                }
            };
            results.push(result);
        }
        let published = Arc::new(inner.metadata.clone());
        inner.published.send_replace(published);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<Vec<u8>>, StorageError<NodeId>> {
        Ok(Box::default())
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, RaftNode>,
        snapshot: Box<Vec<u8>>,
    ) -> std::result::Result<(), StorageError<NodeId>> {
        let metadata: Metadata = postcard::from_bytes(&snapshot).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(
                Some(meta.signature()),
                AnyError::error(format!("the snapshot does not decode: {e}")),
            ))
        })?;
        let mut inner = self.lock();
        let file = SnapshotFile {
            meta: meta.clone(),
            data: *snapshot,
        };
        write_snapshot(&inner.snapshot_path, &file).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(meta.signature()),
                AnyError::new(&e),
            ))
        })?;
        inner.metadata = metadata;
        inner.snapshot = Some(file);
        let published = Arc::new(inner.metadata.clone());
        inner.published.send_replace(published);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let inner = self.lock();
        Ok(inner.snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(s.data.clone()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tessera-raftlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_log_survives_reopening_and_a_torn_tail_is_cut_but_middle_damage_stops() {
        let d = dir("torn");
        {
            let s = LogStore::open(&d).unwrap();
            let mut inner = s.lock();
            inner
                .append((1..=5).map(|i| LogRecord::Entry(entry(1, i))).collect())
                .unwrap();
            inner.append(vec![LogRecord::Truncate(4)]).unwrap();
            inner
                .append(vec![LogRecord::Purge(entry(1, 1).log_id)])
                .unwrap();
        }
        let s = LogStore::open(&d).unwrap();
        let keys: Vec<u64> = s.lock().state.entries.keys().copied().collect();
        assert_eq!(keys, vec![2, 3]);
        drop(s);
        // A torn append: half a record at the end.
        let path = d.join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let good = bytes.len();
        let mut extra = Vec::new();
        encode(&LogRecord::Entry(entry(1, 4)), &mut extra);
        bytes.extend_from_slice(&extra[..extra.len() - 3]);
        std::fs::write(&path, &bytes).unwrap();
        let s = LogStore::open(&d).unwrap();
        assert_eq!(s.lock().state.entries.len(), 2);
        drop(s);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, good);
        // A flipped byte in the first record, with records after it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let e = LogStore::open(&d).err().expect("damage is reported");
        assert_eq!(e.code, sqlstate::DATA_CORRUPTED);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn rewriting_keeps_the_live_state() {
        let d = dir("rewrite");
        let s = LogStore::open(&d).unwrap();
        {
            let mut inner = s.lock();
            inner
                .append((1..=10).map(|i| LogRecord::Entry(entry(2, i))).collect())
                .unwrap();
            inner
                .append(vec![LogRecord::Purge(entry(2, 8).log_id)])
                .unwrap();
            inner.rewrite().unwrap();
            inner.append(vec![LogRecord::Entry(entry(2, 11))]).unwrap();
        }
        drop(s);
        let s = LogStore::open(&d).unwrap();
        let inner = s.lock();
        assert_eq!(
            inner.state.entries.keys().copied().collect::<Vec<_>>(),
            vec![9, 10, 11]
        );
        assert_eq!(inner.state.purged.map(|p| p.index), Some(8));
        drop(inner);
        let _ = std::fs::remove_dir_all(&d);
    }
}
