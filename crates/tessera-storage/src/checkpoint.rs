//! Checkpoints: a shard's rows as one MVCC snapshot saw them, written while
//! writes continue, so that recovery loads them and replays only the log
//! after them, and the log before them can be removed.
//!
//! **What a checkpoint holds.** The shard takes a snapshot timestamp `C`
//! (publishing it as a read floor, so garbage collection keeps the versions
//! visible at `C`) and, at the same instant on its thread, the *replay
//! start* `P`: the log position of the oldest record whose effect is not
//! yet applied (a commit between its WAL append and its apply, a prepare not
//! yet registered, a decision not yet recorded), or the end of the log if
//! there is none. Every record before `P` was applied before `C` was taken,
//! so its effect is visible at `C`. The rows visible at `C` are written in
//! chunks ([`CHECKPOINT_ROWS_PER_CHUNK`]), the shard yielding to its event
//! loop between chunks; a dedicated thread writes and fsyncs them, so the
//! event loop never waits on the disk. Prepares still open at `C` are
//! stored whole (their outcome comes later), with the two-phase evidence
//! other shards may still need (see [`crate::ledger`]), and the header
//! keeps the largest transaction and row ids handed out, which the removed
//! log can no longer tell.
//!
//! **Why replaying from `P` is exact.** Records carry whole row images, and
//! writes to one key are ordered the same in the log as in memory (key
//! locks are held from before a record is appended until it is applied). A
//! write applied while the checkpoint runs may or may not be in it, but its
//! record lies at or after `P` and replaying it again gives the same row;
//! later writes to the key follow it in the log. A key no record after `P`
//! touches has its final row visible at `C`.
//!
//! **Files.** `shard-N/checkpoint/<seq>.ckpt`, written as `<seq>.ckpt.tmp`,
//! fsynced, renamed, and the directory fsynced; it is published only once
//! the log is durable up to where it was when the checkpoint began (so
//! appends never restart before `P`). A header (magic, format version,
//! shard, sequence, `C`, `P`, largest ids; CRC) is followed by frames
//! (`len | crc32 | payload`) and an end frame that counts them, so a
//! truncated or damaged file is detected, never half loaded. The newest
//! [`CHECKPOINTS_KEPT`] checkpoints are kept; after a new one is published
//! the older ones are removed, then the log segments that end at or before
//! the replay start of the oldest one kept. With only one checkpoint the
//! log is kept from its beginning. Recovery falls back to the previous
//! checkpoint when the newest is damaged (see `recovery.rs`).

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_types::encoding::{Reader, Writer};
use tessera_types::{sqlstate, Error, Result, TableId};
use tokio::sync::{mpsc, oneshot};

use crate::file::{FileSystem, WalFile};
use crate::ledger::{Retained, RetainedDecision};
use crate::record::{decode_writes, encode_writes, TxId, WriteOp, WriteSet};
use crate::store::{ShardStore, Timestamp, LATEST};
use crate::wal::{list_segments, segment_path, Ticket, WalWriter, WAL_RECORD_BYTES_MAX};

/// How many checkpoints a shard keeps: the newest, and one to fall back to
/// if the newest is damaged.
pub const CHECKPOINTS_KEPT: usize = 2;

/// Rows serialized between yields to the shard's event loop (as scans do).
pub const CHECKPOINT_ROWS_PER_CHUNK: usize = 1024;

/// A chunk is also cut once its encoding passes this many bytes.
pub const CHECKPOINT_CHUNK_BYTES: usize = 1 << 20;

/// Chunks handed to the writer thread and not yet written; past it the
/// shard waits (without blocking its event loop) for the disk.
pub const CHECKPOINT_CHUNKS_IN_FLIGHT: usize = 8;

/// The largest frame a checkpoint may hold: an open prepare is stored in
/// one frame, and its record was at most [`WAL_RECORD_BYTES_MAX`].
const FRAME_BYTES_MAX: usize = WAL_RECORD_BYTES_MAX + (1 << 20);

pub const CHECKPOINT_FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"TSRACKPT";
const HEADER_BYTES_MAX: usize = 4096;

const SUFFIX: &str = ".ckpt";
const TMP_SUFFIX: &str = ".ckpt.tmp";
const DAMAGED_SUFFIX: &str = ".ckpt.damaged";

const FRAME_ROWS: u8 = 1;
const FRAME_PREPARED: u8 = 2;
const FRAME_DECISION: u8 = 3;
const FRAME_PREPARED_EVIDENCE: u8 = 4;
const FRAME_END: u8 = 5;
/// A decision that holds on its own (`RetainedDecision::at`).
const FRAME_DECISION_AT: u8 = 6;

/// `shard-N/checkpoint`.
pub fn checkpoint_dir(shard_dir: &Path) -> PathBuf {
    shard_dir.join("checkpoint")
}

/// `shard-N/wal`: the directory of the shard's log segments.
pub fn wal_dir(shard_dir: &Path) -> PathBuf {
    shard_dir.join("wal")
}

fn file_name(seq: u64, suffix: &str) -> String {
    format!("{seq:020}{suffix}")
}

/// The sequence number in a checkpoint file name with `suffix`.
fn seq_of(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// The checkpoints in `dir`, newest first, as (sequence, path).
pub fn list_checkpoints(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let names = fs
        .list(dir)
        .map_err(|e| Error::io(&format!("listing {}", dir.display()), e))?;
    let mut found: Vec<(u64, PathBuf)> = names
        .iter()
        .filter_map(|n| seq_of(n, SUFFIX).map(|s| (s, dir.join(n))))
        .collect();
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    Ok(found)
}

/// Renames a damaged checkpoint out of the way, so it is neither loaded
/// nor counted among the kept ones again (it stays for inspection).
pub fn set_aside(fs: &dyn FileSystem, path: &Path) -> Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".damaged");
    let dir = path.parent().unwrap_or(Path::new("."));
    fs.rename(path, Path::new(&name))
        .and_then(|_| fs.sync_dir(dir))
        .map_err(|e| Error::io(&format!("setting aside {}", path.display()), e))
}

/// `shard-N/installing`: present while a replica installs its master's
/// checkpoint (see [`install_checkpoint`]); it names the checkpoint's
/// sequence number and replay start.
pub fn install_marker(shard_dir: &Path) -> PathBuf {
    shard_dir.join("installing")
}

/// Where a replica downloads its master's checkpoint `seq` to.
pub fn incoming_path(shard_dir: &Path, seq: u64) -> PathBuf {
    checkpoint_dir(shard_dir).join(file_name(seq, ".ckpt.incoming"))
}

/// On a replica whose log its master no longer keeps from where it ends
/// (docs/CLUSTER.md §5): makes the master's checkpoint `seq`, downloaded
/// whole and synced at [`incoming_path`], the shard's only checkpoint,
/// with its log to go on from the checkpoint's replay start
/// `replay_start` in a new, empty segment, every older one removed.
///
/// A marker is made durable first; a crash anywhere after it is finished
/// by [`resume_install`] at the next start, one before it leaves the
/// shard as it was. The shard's own checkpoints must not run meanwhile.
pub fn install_checkpoint(
    fs: &dyn FileSystem,
    shard_dir: &Path,
    seq: u64,
    replay_start: u64,
) -> Result<()> {
    let marker = install_marker(shard_dir);
    let mut file = fs.open(&marker).map_err(io_error("creating", &marker))?;
    file.set_len(0)
        .and_then(|_| file.write_all_at(format!("{seq} {replay_start}").as_bytes(), 0))
        .and_then(|_| file.sync_all())
        .map_err(io_error("writing", &marker))?;
    drop(file);
    fs.sync_dir(shard_dir)
        .map_err(io_error("syncing", shard_dir))?;
    let dir = checkpoint_dir(shard_dir);
    let path = dir.join(file_name(seq, SUFFIX));
    fs.rename(&incoming_path(shard_dir, seq), &path)
        .and_then(|_| fs.sync_dir(&dir))
        .map_err(io_error("installing", &path))?;
    finish_install(fs, shard_dir, seq, replay_start)
}

/// At start-up: finishes a checkpoint install a crash interrupted (see
/// [`install_checkpoint`]), or drops one that had not begun.
pub fn resume_install(fs: &dyn FileSystem, shard_dir: &Path) -> Result<()> {
    let marker = install_marker(shard_dir);
    let text = match fs.read(&marker) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("reading", &marker)(e)),
    };
    let parsed = std::str::from_utf8(&text).ok().and_then(|t| {
        let (seq, at) = t.trim().split_once(' ')?;
        Some((seq.parse().ok()?, at.parse().ok()?))
    });
    if text.trim_ascii() == DISCARD.as_bytes() {
        tracing::info!("{}: finishing the removal of its copy", shard_dir.display());
        return finish_discard(fs, shard_dir);
    }
    let Some((seq, replay_start)) = parsed else {
        // Torn while written: the install had not begun.
        tracing::warn!(
            "{}: an unfinished marker; the install it began is dropped",
            marker.display()
        );
        fs.remove(&marker).map_err(io_error("removing", &marker))?;
        return fs
            .sync_dir(shard_dir)
            .map_err(io_error("syncing", shard_dir));
    };
    let dir = checkpoint_dir(shard_dir);
    if !fs
        .list(&dir)
        .map_err(io_error("listing", &dir))?
        .contains(&file_name(seq, SUFFIX))
    {
        tracing::warn!(
            "{}: dropping an install of the master's checkpoint {seq} that did not begin",
            shard_dir.display()
        );
        let _ = fs.remove(&incoming_path(shard_dir, seq));
        fs.remove(&marker).map_err(io_error("removing", &marker))?;
        return fs
            .sync_dir(shard_dir)
            .map_err(io_error("syncing", shard_dir));
    }
    tracing::info!(
        "{}: finishing the install of the master's checkpoint {seq}",
        shard_dir.display()
    );
    finish_install(fs, shard_dir, seq, replay_start)
}

/// The install marker's text for [`discard_shard`].
const DISCARD: &str = "discard";

/// Drops a shard's checkpoints and log: an old master's copy that holds
/// records no later master has (docs/CLUSTER.md §6). The shard then starts
/// empty and copies its master's checkpoint. A marker is made durable
/// first, so a crash midway is finished by [`resume_install`].
pub fn discard_shard(fs: &dyn FileSystem, shard_dir: &Path) -> Result<()> {
    let marker = install_marker(shard_dir);
    let mut file = fs.open(&marker).map_err(io_error("creating", &marker))?;
    file.set_len(0)
        .and_then(|_| file.write_all_at(DISCARD.as_bytes(), 0))
        .and_then(|_| file.sync_all())
        .map_err(io_error("writing", &marker))?;
    drop(file);
    fs.sync_dir(shard_dir)
        .map_err(io_error("syncing", shard_dir))?;
    finish_discard(fs, shard_dir)
}

fn finish_discard(fs: &dyn FileSystem, shard_dir: &Path) -> Result<()> {
    // The log's durable end goes first: the log it vouches for goes next.
    let watermark = crate::wal::watermark_path(&wal_dir(shard_dir));
    match fs.remove(&watermark) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_error("removing", &watermark)(e))
        }
        _ => {}
    }
    for dir in [checkpoint_dir(shard_dir), wal_dir(shard_dir)] {
        let names = match fs.list(&dir) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("listing", &dir)(e)),
        };
        for name in &names {
            let path = dir.join(name);
            fs.remove(&path).map_err(io_error("removing", &path))?;
        }
        match fs.sync_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && names.is_empty() => {}
            other => other.map_err(io_error("syncing", &dir))?,
        }
    }
    let marker = install_marker(shard_dir);
    fs.remove(&marker).map_err(io_error("removing", &marker))?;
    fs.sync_dir(shard_dir)
        .map_err(io_error("syncing", shard_dir))
}

/// The file that names the epoch of the master whose records a replicated
/// shard's log ends with (docs/CLUSTER.md §6).
fn log_epoch_path(shard_dir: &Path) -> PathBuf {
    shard_dir.join("epoch")
}

/// The epoch of the master whose records the shard's log ends with: 1
/// (the first masters') until one was written.
pub fn read_log_epoch(fs: &dyn FileSystem, shard_dir: &Path) -> Result<u64> {
    let path = log_epoch_path(shard_dir);
    match fs.read(&path) {
        Ok(text) => std::str::from_utf8(&text)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| {
                Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!("{} does not hold an epoch", path.display()),
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(1),
        Err(e) => Err(io_error("reading", &path)(e)),
    }
}

/// Records, durably, that the shard's log goes on with the records of the
/// master of `epoch` (written whole, then renamed into place).
pub fn write_log_epoch(fs: &dyn FileSystem, shard_dir: &Path, epoch: u64) -> Result<()> {
    let path = log_epoch_path(shard_dir);
    let next = shard_dir.join("epoch.next");
    let mut file = fs.open(&next).map_err(io_error("creating", &next))?;
    let text = epoch.to_string();
    file.set_len(0)
        .and_then(|_| file.write_all_at(text.as_bytes(), 0))
        .and_then(|_| file.sync_all())
        .map_err(io_error("writing", &next))?;
    drop(file);
    fs.rename(&next, &path)
        .map_err(io_error("renaming", &next))?;
    fs.sync_dir(shard_dir)
        .map_err(io_error("syncing", shard_dir))
}

/// The steps of an install after its checkpoint is in place: the other
/// checkpoints go, then the log before `replay_start` (an empty segment
/// begins there), then the marker.
fn finish_install(
    fs: &dyn FileSystem,
    shard_dir: &Path,
    seq: u64,
    replay_start: u64,
) -> Result<()> {
    let dir = checkpoint_dir(shard_dir);
    let keep = file_name(seq, SUFFIX);
    for name in fs.list(&dir).map_err(io_error("listing", &dir))? {
        if name != keep {
            let path = dir.join(&name);
            fs.remove(&path).map_err(io_error("removing", &path))?;
        }
    }
    fs.sync_dir(&dir).map_err(io_error("syncing", &dir))?;
    let wal = wal_dir(shard_dir);
    let starts = list_segments(fs, &wal)?;
    if !starts.contains(&replay_start) {
        let first = segment_path(&wal, replay_start);
        fs.open(&first).map_err(io_error("creating", &first))?;
    }
    for start in starts.into_iter().filter(|s| *s < replay_start) {
        let path = segment_path(&wal, start);
        fs.remove(&path).map_err(io_error("removing", &path))?;
    }
    fs.sync_dir(&wal).map_err(io_error("syncing", &wal))?;
    let marker = install_marker(shard_dir);
    fs.remove(&marker).map_err(io_error("removing", &marker))?;
    fs.sync_dir(shard_dir)
        .map_err(io_error("syncing", shard_dir))
}

/// What the header of a checkpoint records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointHeader {
    pub shard: u16,
    /// Grows by one per checkpoint of the shard; names the file.
    pub seq: u64,
    /// `C`: the rows are those visible at this timestamp.
    pub snapshot_ts: Timestamp,
    /// `P`: recovery replays the log from this position.
    pub replay_start: u64,
    /// The largest transaction id handed out in the node when it began.
    pub max_tx: TxId,
    /// The largest row id handed out in the node when it began.
    pub max_row_id: u64,
}

impl CheckpointHeader {
    fn encode(&self) -> Vec<u8> {
        let mut payload = Writer::new();
        payload.u32(self.shard as u32);
        payload.u64(self.seq);
        payload.u64(self.snapshot_ts);
        payload.u64(self.replay_start);
        payload.u64(self.max_tx);
        payload.u64(self.max_row_id);
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&CHECKPOINT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.buf.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload.buf);
        // The checksum covers the version and length too, so a flipped
        // bit there reads as damage, not as another format.
        let crc = crc32fast::hash(&out[8..]);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn read(input: &mut dyn Read) -> std::result::Result<CheckpointHeader, LoadError> {
        let mut fixed = [0u8; 16];
        read_exact(input, &mut fixed, "header")?;
        if &fixed[..8] != MAGIC {
            return Err(LoadError::Damaged(
                "not a checkpoint file (bad magic)".into(),
            ));
        }
        let version = u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
        let len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]) as usize;
        if len > HEADER_BYTES_MAX {
            return Err(LoadError::Damaged(format!(
                "header length {len} out of range"
            )));
        }
        let mut payload = vec![0u8; len + 4];
        read_exact(input, &mut payload, "header")?;
        let crc = u32::from_le_bytes([
            payload[len],
            payload[len + 1],
            payload[len + 2],
            payload[len + 3],
        ]);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&fixed[8..]);
        hasher.update(&payload[..len]);
        if hasher.finalize() != crc {
            return Err(LoadError::Damaged("header checksum mismatch".into()));
        }
        if version != CHECKPOINT_FORMAT_VERSION {
            return Err(LoadError::Failed(Error::new(
                sqlstate::DATA_CORRUPTED,
                format!(
                    "checkpoint format version {version} is not {CHECKPOINT_FORMAT_VERSION} (written by another tessera version?)"
                ),
            )));
        }
        let mut r = Reader::new(&payload[..len]);
        let decode = |r: &mut Reader| -> Result<CheckpointHeader> {
            Ok(CheckpointHeader {
                shard: u16::try_from(r.u32()?).map_err(|_| r.corrupt("shard out of range"))?,
                seq: r.u64()?,
                snapshot_ts: r.u64()?,
                replay_start: r.u64()?,
                max_tx: r.u64()?,
                max_row_id: r.u64()?,
            })
        };
        decode(&mut r).map_err(|e| LoadError::Damaged(e.message))
    }
}

/// Why a checkpoint could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Its bytes are wrong (checksum, truncation, format): fall back.
    Damaged(String),
    /// Reading failed, or it cannot be used at all: stop.
    Failed(Error),
}

fn read_exact(
    input: &mut dyn Read,
    buf: &mut [u8],
    what: &str,
) -> std::result::Result<(), LoadError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => LoadError::Damaged(format!("truncated in the {what}")),
        _ => LoadError::Failed(Error::io("reading a checkpoint", e)),
    })
}

/// A checkpoint read back.
pub struct LoadedCheckpoint {
    pub header: CheckpointHeader,
    pub store: ShardStore,
    /// Prepares open at `C`.
    pub prepared: Vec<(TxId, WriteSet)>,
    pub decisions: Vec<RetainedDecision>,
    pub prepared_evidence: Vec<TxId>,
}

/// Loads the checkpoint at `path` into a new store at `ts`, skipping rows
/// of tables `keep` rejects (dropped since). Damage anywhere fails it
/// whole with [`LoadError::Damaged`]; nothing here panics on any content.
pub fn load_checkpoint(
    fs: &dyn FileSystem,
    path: &Path,
    shard: u16,
    ts: Timestamp,
    keep: impl Fn(TableId) -> bool,
) -> std::result::Result<LoadedCheckpoint, LoadError> {
    let mut input = fs
        .reader(path)
        .map_err(|e| LoadError::Failed(Error::io(&format!("opening {}", path.display()), e)))?;
    let header = CheckpointHeader::read(&mut *input)?;
    if header.shard != shard {
        return Err(LoadError::Damaged(format!(
            "it belongs to shard {}",
            header.shard
        )));
    }
    let mut loaded = LoadedCheckpoint {
        header,
        store: ShardStore::new(),
        prepared: vec![],
        decisions: vec![],
        prepared_evidence: vec![],
    };
    let damaged = |e: Error| LoadError::Damaged(e.message);
    let mut frames = 0u64;
    let mut rows = 0u64;
    loop {
        let mut head = [0u8; 8];
        read_exact(&mut *input, &mut head, "frames")?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 || len > FRAME_BYTES_MAX {
            return Err(LoadError::Damaged(format!(
                "frame {frames} has length {len}"
            )));
        }
        // Read as it comes rather than allocated up front: a damaged
        // length must not reserve hundreds of megabytes.
        let mut payload = Vec::new();
        match (&mut *input).take(len as u64).read_to_end(&mut payload) {
            Ok(n) if n == len => {}
            Ok(_) => return Err(LoadError::Damaged("truncated in the frames".into())),
            Err(e) => return Err(LoadError::Failed(Error::io("reading a checkpoint", e))),
        }
        if crc32fast::hash(&payload) != crc {
            return Err(LoadError::Damaged(format!(
                "frame {frames}: checksum mismatch"
            )));
        }
        let mut r = Reader::new(&payload);
        match r.u8().map_err(damaged)? {
            FRAME_ROWS => {
                let table = r.u32().map_err(damaged)?;
                let n = r.u32().map_err(damaged)? as usize;
                let mut ops = Vec::with_capacity(n.min(CHECKPOINT_ROWS_PER_CHUNK));
                for _ in 0..n {
                    let key = r.bytes().map_err(damaged)?.to_vec();
                    let row = r.row().map_err(damaged)?;
                    ops.push(WriteOp::Put { table, key, row });
                }
                rows += n as u64;
                if keep(table) {
                    loaded.store.apply(WriteSet { ops }, ts, LATEST);
                }
            }
            FRAME_PREPARED => {
                let tx = r.u64().map_err(damaged)?;
                let writes = decode_writes(&mut r).map_err(damaged)?;
                loaded.prepared.push((tx, writes));
            }
            tag @ (FRAME_DECISION | FRAME_DECISION_AT) => {
                let tx = r.u64().map_err(damaged)?;
                let commit = r.u8().map_err(damaged)? != 0;
                let n = r.len_prefix(1 << 16).map_err(damaged)?;
                let mut participants = Vec::with_capacity(n);
                for _ in 0..n {
                    participants.push(r.u32().map_err(damaged)? as u16);
                }
                let at = match tag {
                    FRAME_DECISION_AT => Some(r.u64().map_err(damaged)?),
                    _ => None,
                };
                loaded.decisions.push(RetainedDecision {
                    tx,
                    commit,
                    participants,
                    at,
                });
            }
            FRAME_PREPARED_EVIDENCE => {
                let n = r.len_prefix(1 << 24).map_err(damaged)?;
                for _ in 0..n {
                    loaded.prepared_evidence.push(r.u64().map_err(damaged)?);
                }
            }
            FRAME_END => {
                let (want_frames, want_rows) =
                    (r.u64().map_err(damaged)?, r.u64().map_err(damaged)?);
                if !r.is_empty() {
                    return Err(LoadError::Damaged("trailing bytes in the end frame".into()));
                }
                if (want_frames, want_rows) != (frames, rows) {
                    return Err(LoadError::Damaged(format!(
                        "{frames} frames and {rows} rows, but the end frame counts {want_frames} and {want_rows}"
                    )));
                }
                let mut rest = [0u8; 1];
                return match input.read(&mut rest) {
                    Ok(0) => Ok(loaded),
                    Ok(_) => Err(LoadError::Damaged("bytes after the end frame".into())),
                    Err(e) => Err(LoadError::Failed(Error::io("reading a checkpoint", e))),
                };
            }
            other => {
                return Err(LoadError::Damaged(format!(
                    "frame {frames} has unknown kind {other}"
                )))
            }
        }
        if !r.is_empty() {
            return Err(LoadError::Damaged(format!(
                "frame {frames}: trailing bytes"
            )));
        }
        frames += 1;
    }
}

/// Reads only the header of the checkpoint at `path`.
pub fn read_header(
    fs: &dyn FileSystem,
    path: &Path,
) -> std::result::Result<CheckpointHeader, LoadError> {
    let mut input = fs
        .reader(path)
        .map_err(|e| LoadError::Failed(Error::io(&format!("opening {}", path.display()), e)))?;
    CheckpointHeader::read(&mut *input)
}

/// What the shard captured when a checkpoint began, all at one instant on
/// its thread (see the module comment).
pub struct CheckpointPlan {
    pub shard: u16,
    /// `C`, published as a read floor for as long as the checkpoint runs.
    pub snapshot_ts: Timestamp,
    /// `P`.
    pub replay_start: u64,
    /// The end of the log when it began: durable before publishing.
    pub appended: Ticket,
    /// Prepares open at `C`.
    pub prepared: Vec<(TxId, WriteSet)>,
    pub retained: Retained,
    pub max_tx: TxId,
    pub max_row_id: u64,
    /// The tables to write (those existing at `C`).
    pub tables: Vec<TableId>,
}

/// A published checkpoint and the clean-up after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub seq: u64,
    pub rows: u64,
    pub removed_checkpoints: usize,
    pub removed_segments: usize,
}

enum ToWriter {
    Bytes(Vec<u8>),
    /// Everything is sent and the log is durable far enough: publish.
    Publish,
}

fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Writes a checkpoint of `store` as `plan` describes, under `shard_dir`,
/// and publishes it; then removes older checkpoints and the log segments no
/// kept checkpoint needs. Runs on the shard's thread, yielding between
/// chunks; a writer thread does the file I/O. Dropping the future abandons
/// the checkpoint (its temporary file is removed).
pub async fn write_checkpoint(
    fs: Arc<dyn FileSystem>,
    shard_dir: &Path,
    plan: CheckpointPlan,
    store: &RefCell<ShardStore>,
    wal: &WalWriter,
) -> Result<Published> {
    // The log after this point goes to a new segment, so that the older
    // ones can be removed whole once later checkpoints cover them.
    wal.request_new_segment();
    let (to_writer, from_shard) = mpsc::channel::<ToWriter>(CHECKPOINT_CHUNKS_IN_FLIGHT);
    let (done_tx, done) = oneshot::channel::<Result<Published>>();
    let header = CheckpointHeader {
        shard: plan.shard,
        seq: 0, // chosen by the writer, which lists the directory
        snapshot_ts: plan.snapshot_ts,
        replay_start: plan.replay_start,
        max_tx: plan.max_tx,
        max_row_id: plan.max_row_id,
    };
    let dir = checkpoint_dir(shard_dir);
    let segments = wal_dir(shard_dir);
    let writer_fs = fs.clone();
    std::thread::Builder::new()
        .name(format!("checkpoint-{}", plan.shard))
        .spawn(move || {
            let result = write_file(&*writer_fs, &dir, &segments, header, from_shard);
            let _ = done_tx.send(result);
        })
        .map_err(|e| Error::io("starting the checkpoint writer", e))?;
    let rows = send_contents(&to_writer, &plan, store).await;
    let published = match rows {
        // The writer stopped early; its result says why.
        None => None,
        Some(rows) => match wal.wait_local(plan.appended).await {
            Ok(()) => to_writer.send(ToWriter::Publish).await.ok().map(|_| rows),
            Err(e) => {
                drop(to_writer);
                let _ = done.await;
                return Err(e);
            }
        },
    };
    drop(to_writer);
    let result = done
        .await
        .unwrap_or_else(|_| Err(Error::internal("the checkpoint writer stopped")));
    match (result, published) {
        (Ok(p), Some(rows)) => Ok(Published { rows, ..p }),
        (Ok(_), None) => Err(Error::internal("a checkpoint was published unfinished")),
        (Err(e), _) => Err(e),
    }
}

/// Encodes and sends everything the checkpoint holds; `None` if the writer
/// stopped. Returns the rows written.
async fn send_contents(
    to_writer: &mpsc::Sender<ToWriter>,
    plan: &CheckpointPlan,
    store: &RefCell<ShardStore>,
) -> Option<u64> {
    let mut out = Vec::new();
    let mut frames = 0u64;
    let mut rows = 0u64;
    for (tx, writes) in &plan.prepared {
        let mut w = Writer::new();
        w.u8(FRAME_PREPARED);
        w.u64(*tx);
        encode_writes(&mut w, writes);
        frame(&mut out, &w.buf);
        frames += 1;
        if out.len() >= CHECKPOINT_CHUNK_BYTES {
            to_writer
                .send(ToWriter::Bytes(std::mem::take(&mut out)))
                .await
                .ok()?;
        }
    }
    for d in &plan.retained.decisions {
        let mut w = Writer::new();
        w.u8(match d.at {
            Some(_) => FRAME_DECISION_AT,
            None => FRAME_DECISION,
        });
        w.u64(d.tx);
        w.u8(d.commit as u8);
        w.u32(d.participants.len() as u32);
        for p in &d.participants {
            w.u32(*p as u32);
        }
        if let Some(at) = d.at {
            w.u64(at);
        }
        frame(&mut out, &w.buf);
        frames += 1;
    }
    if !plan.retained.prepared.is_empty() {
        let mut w = Writer::new();
        w.u8(FRAME_PREPARED_EVIDENCE);
        w.u32(plan.retained.prepared.len() as u32);
        for tx in &plan.retained.prepared {
            w.u64(*tx);
        }
        frame(&mut out, &w.buf);
        frames += 1;
    }
    for &table in &plan.tables {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let (payload, n, next) = {
                let store = store.borrow();
                // A table dropped meanwhile: its rows are gone, and
                // recovery skips tables the catalog no longer has.
                let Some(t) = store.table(table) else { break };
                let mut w = Writer::new();
                w.u8(FRAME_ROWS);
                w.u32(table);
                w.u32(0); // the row count, set below
                let mut n = 0usize;
                let mut last = None;
                for (key, row) in t.iter_at(after.as_deref(), plan.snapshot_ts) {
                    w.bytes(key);
                    w.row(row);
                    n += 1;
                    if n == CHECKPOINT_ROWS_PER_CHUNK || w.buf.len() >= CHECKPOINT_CHUNK_BYTES {
                        last = Some(key.to_vec());
                        break;
                    }
                }
                w.buf[5..9].copy_from_slice(&(n as u32).to_le_bytes());
                (w.buf, n, last)
            };
            if n > 0 {
                frame(&mut out, &payload);
                frames += 1;
                rows += n as u64;
            }
            if out.len() >= CHECKPOINT_CHUNK_BYTES {
                to_writer
                    .send(ToWriter::Bytes(std::mem::take(&mut out)))
                    .await
                    .ok()?;
            }
            match next {
                Some(key) => after = Some(key),
                None => break,
            }
            tokio::task::yield_now().await;
        }
    }
    let mut w = Writer::new();
    w.u8(FRAME_END);
    w.u64(frames);
    w.u64(rows);
    frame(&mut out, &w.buf);
    to_writer.send(ToWriter::Bytes(out)).await.ok()?;
    Some(rows)
}

fn io_error<'a>(what: &str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    let what = what.to_string();
    move |e| Error::io(&format!("{what} {}", path.display()), e)
}

/// The writer thread: a temporary file, filled as chunks arrive, then
/// fsynced, renamed and its directory fsynced; then the clean-up.
fn write_file(
    fs: &dyn FileSystem,
    dir: &Path,
    wal_dir: &Path,
    mut header: CheckpointHeader,
    mut from_shard: mpsc::Receiver<ToWriter>,
) -> Result<Published> {
    fs.create_dir_all(dir).map_err(io_error("creating", dir))?;
    let names = fs.list(dir).map_err(io_error("listing", dir))?;
    header.seq = names
        .iter()
        .filter_map(|n| {
            seq_of(n, SUFFIX)
                .or_else(|| seq_of(n, TMP_SUFFIX))
                .or_else(|| seq_of(n, DAMAGED_SUFFIX))
        })
        .max()
        .unwrap_or(0)
        + 1;
    let tmp = dir.join(file_name(header.seq, TMP_SUFFIX));
    let path = dir.join(file_name(header.seq, SUFFIX));
    let mut file: Box<dyn WalFile> = fs.open(&tmp).map_err(io_error("creating", &tmp))?;
    let written = (|| {
        file.set_len(0).map_err(io_error("truncating", &tmp))?;
        let bytes = header.encode();
        file.write_all_at(&bytes, 0)
            .map_err(io_error("writing", &tmp))?;
        let mut offset = bytes.len() as u64;
        loop {
            match from_shard.blocking_recv() {
                Some(ToWriter::Bytes(bytes)) => {
                    file.write_all_at(&bytes, offset)
                        .map_err(io_error("writing", &tmp))?;
                    offset += bytes.len() as u64;
                }
                Some(ToWriter::Publish) => return Ok(true),
                None => return Ok(false),
            }
        }
    })();
    match written {
        Ok(true) => {}
        Ok(false) | Err(_) => {
            drop(from_shard);
            let _ = fs.remove(&tmp);
            return Err(written
                .err()
                .unwrap_or_else(|| Error::internal("the checkpoint was abandoned")));
        }
    }
    file.sync_all().map_err(io_error("syncing", &tmp))?;
    drop(file);
    fs.rename(&tmp, &path)
        .map_err(io_error("publishing", &path))?;
    fs.sync_dir(dir).map_err(io_error("syncing", dir))?;
    // Published. Clean-up failures only postpone the clean-up.
    let mut published = Published {
        seq: header.seq,
        rows: 0,
        removed_checkpoints: 0,
        removed_segments: 0,
    };
    if let Err(e) = clean_up(fs, dir, wal_dir, &mut published) {
        tracing::warn!(
            "shard {}: cleaning up after checkpoint {}: {e}",
            header.shard,
            header.seq
        );
    }
    Ok(published)
}

/// Removes checkpoints beyond the newest [`CHECKPOINTS_KEPT`] and leftover
/// temporary files, then the log segments that end at or before the replay
/// start of the oldest checkpoint kept (each step made durable before the
/// next, so a crash never leaves a kept checkpoint without its log).
fn clean_up(
    fs: &dyn FileSystem,
    dir: &Path,
    wal_dir: &Path,
    published: &mut Published,
) -> Result<()> {
    let kept = list_checkpoints(fs, dir)?;
    let names = fs.list(dir).map_err(io_error("listing", dir))?;
    let mut stale: Vec<PathBuf> = kept
        .iter()
        .skip(CHECKPOINTS_KEPT)
        .map(|(_, p)| p.clone())
        .collect();
    stale.extend(
        names
            .iter()
            .filter(|n| seq_of(n, TMP_SUFFIX).is_some())
            .map(|n| dir.join(n)),
    );
    for path in &stale {
        fs.remove(path).map_err(io_error("removing", path))?;
    }
    if !stale.is_empty() {
        fs.sync_dir(dir).map_err(io_error("syncing", dir))?;
    }
    published.removed_checkpoints = stale.len();
    if kept.len() < CHECKPOINTS_KEPT {
        // The only checkpoint falls back to the whole log.
        return Ok(());
    }
    let oldest = &kept[CHECKPOINTS_KEPT - 1].1;
    let replay_start = match read_header(fs, oldest) {
        Ok(h) => h.replay_start,
        Err(LoadError::Damaged(why)) => {
            tracing::warn!(
                "{} is damaged ({why}); keeping the log it would need",
                oldest.display()
            );
            return Ok(());
        }
        Err(LoadError::Failed(e)) => return Err(e),
    };
    let starts = list_segments(fs, wal_dir)?;
    let mut removed = 0;
    for pair in starts.windows(2) {
        if pair[1] > replay_start {
            break;
        }
        let path = segment_path(wal_dir, pair[0]);
        fs.remove(&path).map_err(io_error("removing", &path))?;
        removed += 1;
    }
    if removed > 0 {
        fs.sync_dir(wal_dir).map_err(io_error("syncing", wal_dir))?;
    }
    published.removed_segments = removed;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tessera_types::{Catalog, Value};

    use super::*;
    use crate::clock::Timeline;
    use crate::file::sim::SimFs;
    use crate::record::Record;
    use crate::recovery::{recover_in, shard_dir};

    /// A replica's install of its master's checkpoint, interrupted by a
    /// crash: one whose checkpoint was not yet in place is dropped, the
    /// shard as it was; one whose checkpoint was is finished.
    #[test]
    fn an_interrupted_install_is_finished_or_dropped_at_start_up() {
        let fs = SimFs::new();
        let shard = Path::new("data/shard-0");
        let (wal, dir) = (wal_dir(shard), checkpoint_dir(shard));
        fs.create_dir_all(&wal).unwrap();
        fs.create_dir_all(&dir).unwrap();
        let names = |d: &Path| {
            let mut n = fs.list(d).unwrap();
            n.sort();
            n
        };
        // The replica's own checkpoint and log; the master's checkpoint 3,
        // replaying from 9000, downloaded.
        for path in [
            dir.join(file_name(7, SUFFIX)),
            segment_path(&wal, 0),
            segment_path(&wal, 500),
            incoming_path(shard, 3),
        ] {
            fs.open(&path).unwrap();
        }
        let mark = || {
            let mut marker = fs.open(&install_marker(shard)).unwrap();
            marker.write_all_at(b"3 9000", 0).unwrap();
        };
        let before = (names(&dir), names(&wal));
        mark();
        resume_install(&fs, shard).unwrap();
        assert_eq!(names(&dir), [file_name(7, SUFFIX)], "the download goes");
        assert_eq!(names(&wal), before.1, "the log stays");
        assert!(!names(shard).contains(&"installing".to_string()));

        fs.open(&incoming_path(shard, 3)).unwrap();
        mark();
        fs.rename(&incoming_path(shard, 3), &dir.join(file_name(3, SUFFIX)))
            .unwrap();
        resume_install(&fs, shard).unwrap();
        assert_eq!(names(&dir), [file_name(3, SUFFIX)]);
        let segments = list_segments(&fs, &wal).unwrap();
        assert_eq!(segments, [9000], "the log goes on from the replay start");
        assert!(!names(shard).contains(&"installing".to_string()));
        // Nothing to do without a marker.
        resume_install(&fs, shard).unwrap();
        assert_eq!(names(&dir), [file_name(3, SUFFIX)]);
        assert_eq!(before.0.len(), 2);
    }

    #[test]
    fn a_discarded_copy_is_gone_even_after_a_crash_midway() {
        let fs = SimFs::new();
        let shard = Path::new("data/shard-1");
        let (wal, dir) = (wal_dir(shard), checkpoint_dir(shard));
        fs.create_dir_all(&wal).unwrap();
        fs.create_dir_all(&dir).unwrap();
        assert_eq!(read_log_epoch(&fs, shard).unwrap(), 1, "none written yet");
        write_log_epoch(&fs, shard, 4).unwrap();
        assert_eq!(read_log_epoch(&fs, shard).unwrap(), 4);
        for path in [
            dir.join(file_name(7, SUFFIX)),
            segment_path(&wal, 300),
            segment_path(&wal, 900),
        ] {
            fs.open(&path).unwrap();
        }
        // A crash right after the marker: the start-up finishes it.
        let mut marker = fs.open(&install_marker(shard)).unwrap();
        marker.write_all_at(DISCARD.as_bytes(), 0).unwrap();
        resume_install(&fs, shard).unwrap();
        assert!(fs.list(&dir).unwrap().is_empty());
        assert!(list_segments(&fs, &wal).unwrap().is_empty());
        assert!(!fs.list(shard).unwrap().contains(&"installing".to_string()));
        fs.open(&segment_path(&wal, 0)).unwrap();
        let watermark = crate::wal::watermark_path(&wal);
        fs.open(&watermark).unwrap();
        discard_shard(&fs, shard).unwrap();
        assert!(list_segments(&fs, &wal).unwrap().is_empty());
        assert!(fs.read(&watermark).is_err(), "the durable end goes too");
        assert_eq!(read_log_epoch(&fs, shard).unwrap(), 4, "the epoch stays");
    }

    /// A catalog with one table `t (v int)`.
    fn catalog() -> (Catalog, TableId) {
        crate::testing::one_table(1)
    }

    #[derive(Clone, Copy)]
    enum Step {
        Put(u32, i32),
        Delete(u32),
        /// Two-phase steps, as a participant that also coordinates sees them.
        Prepare(TxId, u32, i32),
        Decide(TxId, bool),
        /// Appended without waiting for it, as participants do.
        Resolve(TxId),
        Checkpoint,
    }

    /// Writes to a few keys, so that rows are replaced and deleted; a
    /// two-phase write every five, to keys of their own (locked while
    /// prepared); a checkpoint after every `every` writes, so checkpoints
    /// fall while a prepare is open, decided, or resolved and not durable.
    fn workload(writes: u32, every: u32) -> Vec<Step> {
        let mut steps = Vec::new();
        for i in 0..writes {
            steps.push(if i % 7 == 3 {
                Step::Delete(i * 5 % 11)
            } else {
                Step::Put(i * 3 % 11, i as i32)
            });
            let tx = (i / 5) as TxId;
            match i % 5 {
                1 => steps.push(Step::Prepare(tx, 100 + i % 4, i as i32)),
                2 => steps.push(Step::Decide(tx, matches!(tx % 3, 1 | 2))),
                4 => steps.push(Step::Resolve(tx)),
                _ => {}
            }
            if i % every == every - 1 {
                steps.push(Step::Checkpoint);
            }
        }
        steps
    }

    type Rows = BTreeMap<Vec<u8>, i32>;

    fn put(table: TableId, k: u32, v: i32) -> WriteSet {
        WriteSet {
            ops: vec![WriteOp::Put {
                table,
                key: k.to_be_bytes().to_vec(),
                row: vec![Value::Int4(v)],
            }],
        }
    }

    fn apply(rows: &mut Rows, writes: &WriteSet) {
        for op in &writes.ops {
            match op {
                WriteOp::Put { key, row, .. } => {
                    let Value::Int4(v) = row[0] else {
                        unreachable!()
                    };
                    rows.insert(key.clone(), v);
                }
                WriteOp::Delete { key, .. } => {
                    rows.remove(key);
                }
            }
        }
    }

    fn rows_of(store: &ShardStore, table: TableId) -> Rows {
        store
            .table(table)
            .map(|t| {
                t.iter_at(None, LATEST)
                    .map(|(k, r)| {
                        let Value::Int4(v) = r[0] else { unreachable!() };
                        (k.to_vec(), v)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[derive(Default)]
    struct Outcome {
        /// The rows every acknowledged write leaves.
        acked: Rows,
        /// A write that was logged but not acknowledged when the disk crashed.
        pending: Option<WriteSet>,
        checkpoints: usize,
    }

    const DATA: &str = "data";
    /// Small segments and zero-fill steps, so that segments roll over on
    /// size as well as at checkpoints.
    const PREALLOCATE: u64 = 128;
    const SEGMENT_MAX: u64 = 160;

    /// Runs `steps` as one shard would: log-then-apply writes, two-phase
    /// writes with the ledger, and checkpoints of the whole store; stops
    /// at the first failure.
    fn run(fs: &SimFs, table: TableId, steps: &[Step]) -> Outcome {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut out = Outcome::default();
            let shared: Arc<dyn FileSystem> = Arc::new(fs.clone());
            let dir = shard_dir(Path::new(DATA), 0);
            let Ok(wal) = WalWriter::open_segments(
                shared.clone(),
                &wal_dir(&dir),
                0,
                "sim",
                PREALLOCATE,
                SEGMENT_MAX,
            ) else {
                return out;
            };
            let store = RefCell::new(ShardStore::new());
            store.borrow_mut().ensure_table(table);
            let timeline = Timeline::new(1);
            let ledger = crate::ledger::TwoPhaseLedger::default();
            let mut prepared: BTreeMap<TxId, WriteSet> = BTreeMap::new();
            let mut decided: BTreeMap<TxId, bool> = BTreeMap::new();
            let mut resolves: Vec<(Ticket, TxId)> = Vec::new();
            for &step in steps {
                match step {
                    Step::Put(..) | Step::Delete(_) => {
                        // Two rows per statement, so half of one would show.
                        let writes = match step {
                            Step::Put(k, v) => WriteSet {
                                ops: [put(table, k, v), put(table, k + 50, v)]
                                    .into_iter()
                                    .flat_map(|w| w.ops)
                                    .collect(),
                            },
                            Step::Delete(k) => WriteSet {
                                ops: [k, k + 50]
                                    .into_iter()
                                    .map(|k| WriteOp::Delete {
                                        table,
                                        key: k.to_be_bytes().to_vec(),
                                    })
                                    .collect(),
                            },
                            _ => unreachable!(),
                        };
                        out.pending = Some(writes.clone());
                        let record = Record::Commit(writes.clone()).encode();
                        if wal.append_durable(&record).await.is_err() {
                            return out;
                        }
                        store.borrow_mut().apply(
                            writes.clone(),
                            timeline.tick(),
                            timeline.horizon(),
                        );
                        apply(&mut out.acked, &writes);
                        out.pending = None;
                    }
                    Step::Prepare(tx, k, v) => {
                        let writes = put(table, k, v);
                        let record = Record::Prepare {
                            tx,
                            writes: writes.clone(),
                        };
                        if wal.append_durable(&record.encode()).await.is_err() {
                            return out;
                        }
                        prepared.insert(tx, writes);
                    }
                    Step::Decide(tx, commit) => {
                        let record = Record::Decision {
                            tx,
                            commit,
                            participants: vec![0],
                            at: None,
                        };
                        if commit {
                            out.pending = prepared.get(&tx).cloned();
                        }
                        if wal.append_durable(&record.encode()).await.is_err() {
                            return out;
                        }
                        ledger.decided(tx, 0, commit, 0, &[0], false);
                        decided.insert(tx, commit);
                        // Decided and prepared everywhere: acknowledged.
                        if let (true, Some(writes)) = (commit, prepared.get(&tx)) {
                            apply(&mut out.acked, writes);
                        }
                        out.pending = None;
                    }
                    Step::Resolve(tx) => {
                        let (Some(writes), Some(&commit)) =
                            (prepared.remove(&tx), decided.get(&tx))
                        else {
                            continue;
                        };
                        let Ok(ticket) = wal.append(&Record::Resolve { tx, commit }.encode())
                        else {
                            return out;
                        };
                        ledger.resolved(tx, 0, true, true);
                        resolves.push((ticket, tx));
                        if commit {
                            store
                                .borrow_mut()
                                .apply(writes, timeline.tick(), timeline.horizon());
                        }
                    }
                    Step::Checkpoint => {
                        resolves.retain(|(ticket, tx)| match wal.durability(*ticket) {
                            crate::wal::Durability::Durable => {
                                ledger.settled(*tx, 0);
                                false
                            }
                            crate::wal::Durability::Lost => false,
                            crate::wal::Durability::Pending => true,
                        });
                        let Ok(appended) = wal.appended() else {
                            return out;
                        };
                        let plan = CheckpointPlan {
                            shard: 0,
                            snapshot_ts: timeline.tick(),
                            replay_start: appended.end(),
                            appended,
                            prepared: prepared.iter().map(|(t, w)| (*t, w.clone())).collect(),
                            retained: ledger.retained(0),
                            max_tx: 0,
                            max_row_id: 0,
                            tables: store.borrow().table_ids(),
                        };
                        if write_checkpoint(shared.clone(), &dir, plan, &store, &wal)
                            .await
                            .is_err()
                        {
                            return out;
                        }
                        out.checkpoints += 1;
                    }
                }
            }
            out
        })
    }

    fn recovered_rows(fs: &SimFs, catalog: &Catalog, table: TableId) -> Result<Rows> {
        let node = recover_in(fs, Path::new(DATA), catalog.clone(), 1)?;
        Ok(rows_of(&node.shards[0].store, table))
    }

    fn paths_under(fs: &SimFs, dir: &Path) -> Vec<String> {
        fs.paths()
            .iter()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .collect()
    }

    /// Crash at every file operation of a run of writes, checkpoints,
    /// segment rollovers and removals, and take every image the crash can
    /// leave (torn unsynced writes, any prefix of the directory changes not
    /// yet made durable): recovery always returns exactly the acknowledged
    /// rows, plus possibly the one write in flight, whole.
    #[test]
    fn crash_at_every_step_of_checkpoints_rollover_and_removal_keeps_exactly_the_acknowledged_rows()
    {
        let (catalog, table) = catalog();
        let steps = workload(40, 6);
        let mut crash_points = 0;
        for crash_at in 1..5000 {
            let fs = SimFs::crashing_at(crash_at);
            let out = run(&fs, table, &steps);
            let unsynced = fs.unsynced_bytes();
            for torn in [0, 1, unsynced / 2, usize::MAX] {
                for changes in 0..=fs.pending_changes() {
                    let image = fs.crash_image(torn, changes);
                    let rows = recovered_rows(&image, &catalog, table).unwrap_or_else(|e| {
                        panic!("crash at {crash_at}, torn {torn}, changes {changes}: {e}")
                    });
                    let mut with_pending = out.acked.clone();
                    if let Some(p) = &out.pending {
                        apply(&mut with_pending, p);
                    }
                    assert!(
                        rows == out.acked || rows == with_pending,
                        "crash at {crash_at}, torn {torn}, changes {changes}: recovered {rows:?}, acknowledged {:?}",
                        out.acked
                    );
                    let dir = checkpoint_dir(&shard_dir(Path::new(DATA), 0));
                    assert!(
                        !paths_under(&image, &dir)
                            .iter()
                            .any(|n| n.ends_with(".damaged")),
                        "crash at {crash_at}: a published checkpoint read as damaged"
                    );
                }
            }
            if !fs.crashed() {
                crash_points = crash_at;
                assert_eq!(out.checkpoints, 6);
                // The run removed old checkpoints and segments as it went.
                let dir = shard_dir(Path::new(DATA), 0);
                assert_eq!(
                    paths_under(&fs, &checkpoint_dir(&dir)).len(),
                    CHECKPOINTS_KEPT
                );
                let segments = list_segments(&fs, &wal_dir(&dir)).unwrap();
                assert!(
                    segments[0] > 0,
                    "the oldest segments were removed: {segments:?}"
                );
                break;
            }
        }
        assert!(
            crash_points > 100,
            "every step was crashed at: {crash_points}"
        );
    }

    /// A complete run: six checkpoints, the log before the older of the
    /// two kept ones removed.
    fn finished_run() -> (SimFs, Catalog, TableId, Rows) {
        let (catalog, table) = catalog();
        let fs = SimFs::new();
        let out = run(&fs, table, &workload(40, 6));
        assert_eq!(out.checkpoints, 6);
        (fs, catalog, table, out.acked)
    }

    fn newest_two(fs: &SimFs) -> (PathBuf, PathBuf) {
        let dir = checkpoint_dir(&shard_dir(Path::new(DATA), 0));
        let found = list_checkpoints(fs, &dir).unwrap();
        assert_eq!(found.len(), 2);
        (found[0].1.clone(), found[1].1.clone())
    }

    #[test]
    fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one() {
        let (fs, catalog, table, acked) = finished_run();
        let dir = shard_dir(Path::new(DATA), 0);
        assert!(list_segments(&fs, &wal_dir(&dir)).unwrap()[0] > 0);
        let (newest, previous) = newest_two(&fs);
        let bytes = fs.contents(&newest).unwrap();
        let flip = |at: usize| {
            let mut b = bytes.clone();
            b[at] ^= 0x10;
            b
        };
        let damages: Vec<(&str, Vec<u8>)> = vec![
            ("a flipped bit among the rows", flip(bytes.len() - 40)),
            ("a flipped bit in the header", flip(20)),
            ("a flipped bit in the version", flip(9)),
            ("truncated", bytes[..bytes.len() - 5].to_vec()),
            ("cut after the header", bytes[..60].to_vec()),
            ("empty", vec![]),
            ("a byte too many", [bytes.clone(), vec![0]].concat()),
        ];
        for (what, damaged) in damages {
            let image = fs.crash_image(0, 0);
            image.overwrite(&newest, damaged);
            let rows =
                recovered_rows(&image, &catalog, table).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(rows, acked, "{what}");
            // Set aside, so the next checkpoints keep a good one to fall back to.
            let names = paths_under(&image, &checkpoint_dir(&dir));
            assert!(
                names.iter().any(|n| n.ends_with(".ckpt.damaged")),
                "{what}: {names:?}"
            );
            assert_eq!(
                list_checkpoints(&image, &checkpoint_dir(&dir))
                    .unwrap()
                    .len(),
                1
            );
        }

        // Both kept checkpoints damaged, and the log before them removed:
        // refuse to start, clearly.
        let image = fs.crash_image(0, 0);
        image.overwrite(&newest, flip(30));
        let mut older = fs.contents(&previous).unwrap();
        older[30] ^= 1;
        image.overwrite(&previous, older);
        let err = recovered_rows(&image, &catalog, table).unwrap_err();
        assert_eq!(err.code, sqlstate::DATA_CORRUPTED);
        assert!(
            err.message.contains("no usable checkpoint"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_only_checkpoint_damaged_falls_back_to_the_whole_log() {
        let (catalog, table) = catalog();
        let fs = SimFs::new();
        let out = run(&fs, table, &workload(10, 6));
        assert_eq!(out.checkpoints, 1);
        let dir = shard_dir(Path::new(DATA), 0);
        assert_eq!(
            list_segments(&fs, &wal_dir(&dir)).unwrap()[0],
            0,
            "with one checkpoint the log is kept from its start"
        );
        let found = list_checkpoints(&fs, &checkpoint_dir(&dir)).unwrap();
        fs.overwrite(&found[0].1, b"TSRACKPT garbage".to_vec());
        assert_eq!(recovered_rows(&fs, &catalog, table).unwrap(), out.acked);
    }

    /// Every truncation and every single flipped bit of a checkpoint file
    /// reads as damage: never as other rows, never a panic.
    #[test]
    fn every_truncation_and_flipped_bit_reads_as_damage() {
        let (fs, _, _, _) = finished_run();
        let (newest, _) = newest_two(&fs);
        let bytes = fs.contents(&newest).unwrap();
        let load = |b: Vec<u8>| {
            let image = SimFs::new();
            let path = Path::new("c.ckpt");
            drop(image.existing_file(path));
            image.overwrite(path, b);
            load_checkpoint(&image, path, 0, 0, |_| true)
        };
        assert!(load(bytes.clone()).is_ok());
        for cut in 0..bytes.len() {
            assert!(
                matches!(load(bytes[..cut].to_vec()), Err(LoadError::Damaged(_))),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut b = bytes.clone();
                b[at] ^= bit;
                assert!(
                    matches!(load(b), Err(LoadError::Damaged(_))),
                    "bit {bit:#x} of byte {at}"
                );
            }
        }
    }

    /// A record appended without waiting (as `Resolve` is) and applied in
    /// memory is in the snapshot; if the disk then loses it, the checkpoint
    /// must not be published, or appends would restart before its replay
    /// start.
    #[test]
    fn a_checkpoint_is_published_only_once_the_log_before_it_is_durable() {
        let (_, table) = catalog();
        let fs = SimFs::new();
        let shared: Arc<dyn FileSystem> = Arc::new(fs.clone());
        let dir = shard_dir(Path::new(DATA), 0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal =
                WalWriter::open_segments(shared.clone(), &wal_dir(&dir), 0, "sim", 64, 1 << 20)
                    .unwrap();
            let store = RefCell::new(ShardStore::new());
            store.borrow_mut().ensure_table(table);
            let first = put(table, 1, 1);
            wal.append_durable(&Record::Commit(first.clone()).encode())
                .await
                .unwrap();
            store.borrow_mut().apply(first, 1, LATEST);
            // The disk fills up: the next record cannot be made durable.
            fs.set_room(Some(fs.used_bytes()));
            let lost = Record::Resolve {
                tx: 1,
                commit: true,
            }
            .encode();
            // The checkpoint began right after this append: its end is the
            // log's end then.
            let ticket = wal.append(&[lost.as_slice(), &[0; 100]].concat()).unwrap();
            let plan = |appended: Ticket| CheckpointPlan {
                shard: 0,
                snapshot_ts: 2,
                replay_start: appended.end(),
                appended,
                prepared: vec![],
                retained: Retained::default(),
                max_tx: 0,
                max_row_id: 0,
                tables: vec![table],
            };
            let err = wal.wait_durable(ticket).await.unwrap_err();
            assert_eq!(err.code, sqlstate::DISK_FULL);
            // Space is freed before the checkpoint writes its file.
            fs.set_room(None);
            let err = write_checkpoint(shared.clone(), &dir, plan(ticket), &store, &wal)
                .await
                .unwrap_err();
            assert_eq!(err.code, sqlstate::DISK_FULL);
            assert!(
                paths_under(&fs, &checkpoint_dir(&dir)).is_empty(),
                "nothing published, no temporary file left"
            );
            // The next checkpoint covers only what is durable, and succeeds.
            let appended = wal.appended().unwrap();
            write_checkpoint(shared.clone(), &dir, plan(appended), &store, &wal)
                .await
                .unwrap();
        });
    }

    /// Many rows: the checkpoint is written in chunks, and between them
    /// the event loop runs other work.
    #[test]
    fn a_checkpoint_yields_to_the_event_loop_between_chunks() {
        let (catalog, table) = catalog();
        let fs = SimFs::new();
        let shared: Arc<dyn FileSystem> = Arc::new(fs.clone());
        let dir = shard_dir(Path::new(DATA), 0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let rows = 5 * CHECKPOINT_ROWS_PER_CHUNK as u32 + 17;
        let ran_meanwhile = local.block_on(&rt, async {
            let wal =
                WalWriter::open_segments(shared.clone(), &wal_dir(&dir), 0, "sim", 4096, 1 << 20)
                    .unwrap();
            let store = RefCell::new(ShardStore::new());
            let ops = (0..rows)
                .map(|k| WriteOp::Put {
                    table,
                    key: k.to_be_bytes().to_vec(),
                    row: vec![Value::Int4(k as i32)],
                })
                .collect();
            let writes = WriteSet { ops };
            wal.append_durable(&Record::Commit(writes.clone()).encode())
                .await
                .unwrap();
            store.borrow_mut().apply(writes, 1, LATEST);
            let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
            let counter = ticks.clone();
            let other = tokio::task::spawn_local(async move {
                loop {
                    counter.set(counter.get() + 1);
                    tokio::task::yield_now().await;
                }
            });
            let appended = wal.appended().unwrap();
            let plan = CheckpointPlan {
                shard: 0,
                snapshot_ts: 2,
                replay_start: appended.end(),
                appended,
                prepared: vec![],
                retained: Retained::default(),
                max_tx: 0,
                max_row_id: 0,
                tables: vec![table],
            };
            let published = write_checkpoint(shared.clone(), &dir, plan, &store, &wal)
                .await
                .unwrap();
            assert_eq!(published.rows, rows as u64);
            other.abort();
            ticks.get()
        });
        assert!(
            ran_meanwhile >= 5,
            "other tasks ran {ran_meanwhile} times during the checkpoint"
        );
        let recovered = recovered_rows(&fs, &catalog, table).unwrap();
        assert_eq!(recovered.len(), rows as usize);
    }
}
