//! The write-ahead log: an append-only file of framed records.
//!
//! Frame: `len: u32 LE | crc32(payload): u32 LE | payload`. Appends go to an
//! in-memory buffer on the shard thread; a dedicated syncer thread writes and
//! fsyncs batches, so the shard's event loop never waits on the disk. While
//! one batch is being synced the next accumulates: one fsync covers every
//! commit that became ready meanwhile (group commit).
//!
//! The file is extended ahead of the writes in zero-filled steps of
//! [`WAL_PREALLOCATE_BYTES`], as PostgreSQL does with its segments: an
//! fdatasync that need not also persist a new file size is about twice as
//! fast. Records are never empty, so a zero length marks the end.
//!
//! On open, the log is read up to the last whole frame with a good checksum;
//! anything after it is cut off before new space is zero-filled, so a frame
//! from a torn batch can never be read back after new appends.
//!
//! A shard's log is a directory of *segments* ([`WalWriter::open_segments`]):
//! files named by the log position (LSN, bytes since the log began) of their
//! first byte, so positions run on across files and old segments can be
//! removed once a checkpoint covers them. The syncer starts a new segment
//! when asked ([`WalWriter::request_new_segment`], at each checkpoint) or
//! when one would grow past its maximum; records never span segments. A new
//! segment is created, zero-filled and its directory entry made durable
//! before any record in it is reported durable, and only after everything
//! before it is durable: so every segment but the last is whole, and
//! [`scan_segments`] treats a short one as damage, not as a torn tail.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use tessera_types::{sqlstate, Error, Result};

use crate::file::{FileSystem, OsFileSystem, WalFile};
use tokio::sync::watch;

/// The largest record accepted. An append above it fails with 54000 before
/// anything is written.
pub const WAL_RECORD_BYTES_MAX: usize = 256 << 20;

/// How often, at most, the syncer records the durable end of the log in the
/// watermark file (see [`check_watermark`]).
pub const WATERMARK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How far ahead of the writes a shard's log is zero-filled at a time.
pub const WAL_PREALLOCATE_BYTES: u64 = 16 << 20;

/// The size past which a segment is closed and the next batch starts a new
/// one, even without a checkpoint asking for it.
pub const WAL_SEGMENT_BYTES_MAX: u64 = 64 << 20;

/// Segment files are `<first LSN, 20 digits>.seg`.
const SEGMENT_SUFFIX: &str = ".seg";

const FRAME_HEADER: usize = 8;

/// The bytes a record of `payload_len` bytes takes in the log.
pub fn frame_len(payload_len: usize) -> u64 {
    (FRAME_HEADER + payload_len) as u64
}

/// What the syncer reports to the shard.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Everything before this position is on disk.
    durable_lsn: u64,
    /// Batches discarded whole, nothing of them written, because the file
    /// could not grow (disk full); the error of the last one.
    discarded: u64,
    last_discard: Option<Error>,
    /// A write or fsync failed after bytes may have reached the file: the
    /// log accepts nothing more (PostgreSQL PANICs here for the same reason).
    fatal: Option<Error>,
    /// Why the records [`SharedProgress::lost`] names never count as
    /// durable (`WalWriter::fence_unreplicated`).
    fenced: Option<Error>,
}

struct Batch {
    bytes: Vec<u8>,
    start_lsn: u64,
    end_lsn: u64,
    /// Start a new segment for this batch (segmented logs only).
    new_segment: bool,
}

/// A read-only view of one log's durable end, for other threads of the
/// node (a router waiting for what a transaction depends on). With
/// synchronous replication on (see [`WalWriter::set_replication_gate`]),
/// the durable end it tells is the published one: what enough replicas
/// hold too.
#[derive(Clone)]
pub struct LogView {
    progress: watch::Receiver<Progress>,
    shared: Arc<SharedProgress>,
}

/// The syncer's progress as plain atomics, cheap to read from any core.
#[derive(Default)]
struct SharedProgress {
    durable_lsn: AtomicU64,
    failed: AtomicBool,
    /// Synchronous replication: a record counts as durable to the log's
    /// users only once replicas hold it too, up to `replicated_lsn`.
    gated: AtomicBool,
    replicated_lsn: AtomicU64,
    /// A master made a replica fenced the records past `lost_after` up to
    /// `lost_until` (0: none): too few replicas held them, so they never
    /// count as durable through this log, whatever its disk holds.
    lost_after: AtomicU64,
    lost_until: AtomicU64,
}

impl SharedProgress {
    /// Everything before this position is durable as the log's users
    /// see it (see [`WalWriter::set_replication_gate`]).
    fn published(&self) -> u64 {
        let durable = self.durable_lsn.load(Ordering::Acquire);
        if self.gated.load(Ordering::Acquire) {
            durable.min(self.replicated_lsn.load(Ordering::Acquire))
        } else {
            durable
        }
    }

    /// Whether waiting for everything before `lsn` waits for a record the
    /// log fenced (see [`WalWriter::fence_unreplicated`]).
    fn lost(&self, lsn: u64) -> bool {
        let until = self.lost_until.load(Ordering::Acquire);
        until != 0 && lsn > self.lost_after.load(Ordering::Acquire) && lsn <= until
    }

    /// Whether replication lets a record that ends at `end`, on disk
    /// here, count as durable.
    fn replication_allows(&self, end: u64) -> bool {
        !self.gated.load(Ordering::Acquire) || self.replicated_lsn.load(Ordering::Acquire) >= end
    }
}

impl LogView {
    /// Everything before the returned position is on disk; an error once
    /// the log failed for good.
    pub fn durable(&self) -> Result<u64> {
        if self.shared.failed.load(Ordering::Acquire) {
            let progress = self.progress.borrow();
            if let Some(e) = &progress.fatal {
                return Err(e.clone());
            }
        }
        Ok(self.shared.published())
    }

    /// Whether everything before `lsn` is on disk (false once the log
    /// failed).
    pub fn is_durable(&self, lsn: u64) -> bool {
        self.shared.published() >= lsn
            && !self.shared.failed.load(Ordering::Acquire)
            && !self.shared.lost(lsn)
    }

    /// Resolves when the durable end moves (or the log fails).
    pub async fn changed(&mut self) -> Result<()> {
        self.progress
            .changed()
            .await
            .map_err(|_| Error::internal("the WAL syncer stopped"))
    }

    /// Resolves once everything before `lsn` is on disk. Only for
    /// positions that cannot be discarded (see [`WalWriter::is_certain`]).
    pub async fn wait(&self, lsn: u64) -> Result<()> {
        self.wait_until(lsn, true).await
    }

    /// Like [`LogView::wait`], for the local durable end when not
    /// `published`.
    async fn wait_until(&self, lsn: u64, published: bool) -> Result<()> {
        let reached = |shared: &SharedProgress| match published {
            true => shared.published() >= lsn,
            false => shared.durable_lsn.load(Ordering::Acquire) >= lsn,
        };
        let lost = |shared: &SharedProgress| published && shared.lost(lsn);
        if reached(&self.shared)
            && !self.shared.failed.load(Ordering::Acquire)
            && !lost(&self.shared)
        {
            return Ok(());
        }
        let mut rx = self.progress.clone();
        loop {
            {
                let progress = rx.borrow_and_update();
                if let Some(e) = &progress.fatal {
                    return Err(e.clone());
                }
                // Fenced: it will never be durable here.
                if lost(&self.shared) {
                    return Err(progress.fenced.clone().unwrap_or_else(|| {
                        Error::new(
                            sqlstate::CONNECTION_FAILURE,
                            "the record was fenced before enough replicas held it",
                        )
                    }));
                }
                // The atomics move before the progress is sent.
                if reached(&self.shared) {
                    return Ok(());
                }
            }
            if rx.changed().await.is_err() {
                return Err(Error::internal("the WAL syncer stopped"));
            }
        }
    }
}

/// What an append promises: the record spans `start..end` in the log as it
/// was in `generation`. A discarded batch starts a new generation, so
/// positions of lost records are reused and cannot be mistaken for durable
/// ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    generation: usize,
    start: u64,
    end: u64,
}

impl Ticket {
    /// Where the record begins in the log.
    pub fn start(&self) -> u64 {
        self.start
    }
    /// Where the record ends (the next one begins).
    pub fn end(&self) -> u64 {
        self.end
    }
    /// The log generation the positions belong to (see [`WalWriter::generation`]).
    pub fn generation(&self) -> usize {
        self.generation
    }
}

/// Whether an appended record is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Durable,
    /// Its batch was discarded (disk full) or the log failed: it never will be.
    Lost,
    Pending,
}

/// The shard-side handle of one log. Not `Send`: it belongs to one shard.
pub struct WalWriter {
    pending: RefCell<Vec<u8>>,
    /// Log position (bytes from the start of the file) after the last append.
    appended_lsn: Cell<u64>,
    /// End of the batch handed to the syncer and not yet reported back.
    in_flight_lsn: Cell<u64>,
    /// `reset_points[g]` is where generation `g` ended: its records before
    /// that point are durable, the rest were discarded.
    reset_points: RefCell<Vec<u64>>,
    seen_discards: Cell<u64>,
    last_discard: RefCell<Option<Error>>,
    /// The next batch starts a new segment.
    new_segment_requested: Cell<bool>,
    to_syncer: mpsc::Sender<Batch>,
    progress: watch::Receiver<Progress>,
    /// Tells the log's views of replication's progress (the syncer tells
    /// them of its own).
    notify: Arc<watch::Sender<Progress>>,
    /// Published by the syncer: the end of the space already allocated to
    /// the log. A batch is written at least up to its last whole record
    /// that ends there, even when the log cannot grow or change segments.
    room_end: Arc<AtomicU64>,
    shared: Arc<SharedProgress>,
    /// Joined on drop, so the syncer's last watermark is on disk when the
    /// shard's thread ends.
    syncer: Option<std::thread::JoinHandle<()>>,
    /// The latest records, kept for replicas (see [`WalWriter::feed_since`]).
    feed: RefCell<Feed>,
}

/// The latest records appended, by position, for replicas to copy: a
/// replica's log is the master's, byte for byte (docs/CLUSTER.md §5).
#[derive(Default)]
struct Feed {
    /// Records are kept only once a replica may want them.
    enabled: bool,
    /// `(position, payload)`, oldest first; none before the first append
    /// since the feed was enabled.
    records: std::collections::VecDeque<(u64, Rc<[u8]>)>,
    bytes: usize,
}

/// How many bytes of the latest records a log keeps for its replicas; one
/// further behind catches up from the master's checkpoint.
pub const FEED_BYTES_MAX: usize = 64 << 20;

/// What a replica at some position gets from [`WalWriter::feed_since`].
#[derive(Debug, PartialEq)]
pub enum FeedRead {
    /// Durable records from the position on (none yet: empty), each with
    /// its position.
    Records(Vec<(u64, Rc<[u8]>)>),
    /// The position is no longer kept (or never was since the log opened).
    Gone,
    /// The position is past the end of this log: the replica's log has a
    /// tail this one lacks.
    Ahead,
}

impl Drop for WalWriter {
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.to_syncer, closed));
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
    }
}

impl WalWriter {
    /// Opens (creating if absent) the log at `path` for appending after
    /// `valid_len` bytes, truncating anything after that, and starts its
    /// syncer thread. `name` names the thread; the file is zero-filled
    /// `preallocate_bytes` ahead of the writes.
    pub fn open(
        path: &Path,
        valid_len: u64,
        name: &str,
        preallocate_bytes: u64,
    ) -> Result<WalWriter> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(&format!("opening {}", path.display()), e))?;
        let watermark = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(watermark_path(path))
            .map_err(|e| Error::io("opening the WAL watermark", e))?;
        let watermark = Watermark {
            file: Box::new(watermark),
            interval: WATERMARK_INTERVAL,
            recorded: read_watermark(path),
        };
        WalWriter::start(
            LogFiles::single(Box::new(file)),
            Some(watermark),
            valid_len,
            name,
            preallocate_bytes,
        )
    }

    /// Opens the segmented log in `dir` for appending at log position
    /// `end` (where recovery found its good part to end): the last segment
    /// is cut there, or the first one created if there is none. Segments
    /// are closed past `segment_bytes_max` bytes; the durable end is
    /// recorded in `<dir>.durable` (see [`check_watermark`]).
    pub fn open_segments(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        end: u64,
        name: &str,
        preallocate_bytes: u64,
        segment_bytes_max: u64,
    ) -> Result<WalWriter> {
        let io = |what: &str, e| Error::io(&format!("{what} {}", dir.display()), e);
        fs.create_dir_all(dir)
            .map_err(|e| io("creating the WAL directory", e))?;
        let starts = list_segments(&*fs, dir)?;
        let base = match starts.last() {
            Some(&last) if last <= end => last,
            Some(&last) => {
                return Err(Error::internal(format!(
                    "{}: the last WAL segment starts at {last}, after the end of the log at {end}",
                    dir.display()
                )))
            }
            None => end,
        };
        let file = fs
            .open(&segment_path(dir, base))
            .map_err(|e| io("opening a segment in", e))?;
        if starts.is_empty() {
            fs.sync_dir(dir)
                .map_err(|e| io("syncing the WAL directory", e))?;
        }
        let watermark = fs
            .open(&watermark_path(dir))
            .map_err(|e| io("opening the watermark of", e))?;
        let watermark = Watermark {
            file: watermark,
            interval: WATERMARK_INTERVAL,
            recorded: read_watermark_in(&*fs, dir),
        };
        let files = LogFiles {
            file,
            base,
            allocated: 0,
            segments: Some(Segments {
                fs,
                dir: dir.to_path_buf(),
                bytes_max: segment_bytes_max,
                roll_pending: false,
            }),
        };
        WalWriter::start(files, Some(watermark), end, name, preallocate_bytes)
    }

    /// Like [`WalWriter::open`], over any [`WalFile`] and without a
    /// watermark (tests inject faults here).
    pub fn with_file(
        file: Box<dyn WalFile>,
        valid_len: u64,
        name: &str,
        preallocate_bytes: u64,
    ) -> Result<WalWriter> {
        WalWriter::start(
            LogFiles::single(file),
            None,
            valid_len,
            name,
            preallocate_bytes,
        )
    }

    fn start(
        mut files: LogFiles,
        watermark: Option<Watermark>,
        valid_len: u64,
        name: &str,
        preallocate_bytes: u64,
    ) -> Result<WalWriter> {
        let in_file = valid_len - files.base;
        files
            .file
            .set_len(in_file)
            .map_err(|e| Error::io("truncating the WAL tail", e))?;
        files.allocated = in_file;
        preallocate(
            &mut *files.file,
            &mut files.allocated,
            in_file,
            preallocate_bytes,
        )
        .map_err(|e| Error::io("preallocating the WAL", e))?;
        let mut watermark = watermark;
        if let Some(w) = watermark.as_mut() {
            // Recovery may end the log before the recorded durable end
            // (records whose dependencies elsewhere were lost): the next
            // start checks against where it ends now.
            if w.recorded > valid_len {
                write_watermark(w, valid_len)
                    .map_err(|e| Error::io("resetting the WAL watermark", e))?;
            }
        }
        let room_end = Arc::new(AtomicU64::new(files.base + files.allocated));
        let (to_syncer, batches) = mpsc::channel::<Batch>();
        let (progress_tx, progress) = watch::channel(Progress {
            durable_lsn: valid_len,
            ..Progress::default()
        });
        let shared = Arc::new(SharedProgress::default());
        shared.durable_lsn.store(valid_len, Ordering::Release);
        let progress_tx = Arc::new(progress_tx);
        let published = Published {
            progress: progress_tx.clone(),
            shared: shared.clone(),
            room_end: room_end.clone(),
        };
        let syncer = std::thread::Builder::new()
            .name(format!("wal-sync-{name}"))
            .spawn(move || syncer(files, watermark, preallocate_bytes, batches, published))
            .map_err(|e| Error::io("starting the WAL syncer", e))?;
        Ok(WalWriter {
            pending: RefCell::new(Vec::new()),
            appended_lsn: Cell::new(valid_len),
            in_flight_lsn: Cell::new(valid_len),
            reset_points: RefCell::new(Vec::new()),
            seen_discards: Cell::new(0),
            last_discard: RefCell::new(None),
            new_segment_requested: Cell::new(false),
            to_syncer,
            progress,
            notify: progress_tx,
            room_end,
            shared,
            syncer: Some(syncer),
            feed: RefCell::new(Feed::default()),
        })
    }

    /// Keeps the latest records from now on, for replicas.
    pub fn enable_feed(&self) {
        self.feed.borrow_mut().enabled = true;
    }

    /// The durable records from position `from` on, at most about
    /// `max_bytes` of them (at least one), for a replica whose log ends at
    /// `from`.
    pub fn feed_since(&self, from: u64, max_bytes: usize) -> Result<FeedRead> {
        let durable = self.sync_state()?;
        if from > self.appended_lsn.get() {
            return Ok(FeedRead::Ahead);
        }
        let feed = self.feed.borrow();
        if from == self.appended_lsn.get() || from >= durable {
            return Ok(FeedRead::Records(vec![]));
        }
        let first = feed.records.partition_point(|(at, _)| *at < from);
        if feed.records.get(first).is_none_or(|(at, _)| *at != from) {
            return Ok(FeedRead::Gone);
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for (at, payload) in feed.records.iter().skip(first) {
            let end = at + (FRAME_HEADER + payload.len()) as u64;
            if end > durable || (bytes > 0 && bytes + payload.len() > max_bytes) {
                break;
            }
            bytes += payload.len();
            out.push((*at, payload.clone()));
        }
        Ok(FeedRead::Records(out))
    }

    /// The current generation: it grows by one each time a batch is
    /// discarded and the log continues from its durable point.
    pub fn generation(&self) -> usize {
        self.reset_points.borrow().len()
    }

    /// The log position after the last append, as a ticket that is
    /// durable once everything appended so far is.
    pub fn appended(&self) -> Result<Ticket> {
        self.sync_state()?;
        let end = self.appended_lsn.get();
        Ok(Ticket {
            generation: self.generation(),
            start: end,
            end,
        })
    }

    /// The error that stopped the log for good, if it has.
    pub fn failure(&self) -> Option<Error> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        self.progress.borrow().fatal.clone()
    }

    /// A view of the durable end that other threads can read and wait on.
    pub fn view(&self) -> LogView {
        LogView {
            progress: self.progress.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Whether the record of `ticket` (just appended) will reach the disk
    /// unless the log fails for good: it lies in space already allocated,
    /// so neither a full disk nor a failed segment switch can discard it
    /// or anything before it. Such a record's effect may be published
    /// before it is durable (early lock release).
    pub fn is_certain(&self, ticket: Ticket) -> bool {
        ticket.generation == self.generation()
            && ticket.end <= self.room_end.load(Ordering::Acquire)
    }

    /// Whether the record of `ticket` is on disk (and held by enough
    /// replicas, see [`WalWriter::set_replication_gate`]), without
    /// waiting.
    pub fn durability(&self, ticket: Ticket) -> Durability {
        let Ok(durable) = self.sync_state() else {
            return Durability::Lost;
        };
        match self.on_disk(ticket, durable) {
            None => Durability::Lost,
            Some(true) if self.shared.replication_allows(ticket.end) => Durability::Durable,
            Some(_) => Durability::Pending,
        }
    }

    /// Whether the record of `ticket` is on this node's disk, the log being
    /// durable up to `durable`; `None` if it never will be (its batch was
    /// discarded, or the log was fenced before it).
    fn on_disk(&self, ticket: Ticket, durable: u64) -> Option<bool> {
        if ticket.generation < self.generation() {
            let reset_at = self.reset_points.borrow()[ticket.generation];
            return (ticket.end <= reset_at).then_some(true);
        }
        Some(durable >= ticket.end)
    }

    /// Synchronous replication (docs/CLUSTER.md §5), on a master: from
    /// now on, a record counts as durable (to [`WalWriter::wait_durable`],
    /// [`WalWriter::durability`] and the log's views) only once it is on
    /// disk here and [`WalWriter::note_replicated`] says enough replicas
    /// hold it. What the log holds when the gate closes counts as
    /// replicated (as a shard starts, or takes over, or its group gets
    /// its first replica); nothing seen durable becomes pending. Off, as
    /// on a replica: durable once on disk here.
    pub fn set_replication_gate(&self, on: bool) {
        if self.shared.gated.load(Ordering::Acquire) == on {
            return;
        }
        if on {
            self.shared
                .replicated_lsn
                .fetch_max(self.appended_lsn.get(), Ordering::AcqRel);
        }
        self.shared.gated.store(on, Ordering::Release);
        self.notify.send_modify(|_| {});
    }

    /// Whether the replication gate is closed (see
    /// [`WalWriter::set_replication_gate`]).
    pub fn is_gated(&self) -> bool {
        self.shared.gated.load(Ordering::Acquire)
    }

    /// The log stops being a master's (docs/CLUSTER.md §6): the records
    /// that too few replicas held will never count as durable through
    /// this log, so their waiters fail with `error` (their outcome is for
    /// the new master to tell) and later looks say `Lost`; then the gate
    /// opens, as on any replica. Records go on at the same positions.
    pub fn fence_unreplicated(&self, error: Error) {
        if !self.is_gated() {
            return;
        }
        let published = self.shared.published();
        let appended = self.appended_lsn.get();
        let fenced = appended > published;
        if fenced {
            self.reset_points.borrow_mut().push(published);
            *self.last_discard.borrow_mut() = Some(error.clone());
            // Before the gate opens: no view may take them for durable.
            self.shared.lost_after.store(published, Ordering::Release);
            self.shared.lost_until.store(appended, Ordering::Release);
        }
        self.shared.gated.store(false, Ordering::Release);
        self.notify.send_modify(|p| {
            if fenced {
                p.fenced = Some(error);
            }
        });
    }

    /// Enough replicas hold every record before `end` durably.
    pub fn note_replicated(&self, end: u64) {
        let before = self.shared.replicated_lsn.fetch_max(end, Ordering::AcqRel);
        if end > before {
            self.notify.send_modify(|_| {});
        }
    }

    /// Everything before the returned position is on this node's disk,
    /// replicated or not.
    pub fn local_durable(&self) -> Result<u64> {
        self.sync_state()
    }

    /// On a replica that installed its master's checkpoint, whose replay
    /// starts at `at`, past this log's end: the log goes on from `at`, in
    /// a new segment starting there (the segments before are the
    /// caller's to remove). Everything appended must be durable first.
    pub async fn skip_to(&self, at: u64) -> Result<()> {
        self.flush().await?;
        let end = self.appended_lsn.get();
        if at < end {
            return Err(Error::internal(format!(
                "a log cannot skip back from {end} to {at}"
            )));
        }
        if at == end {
            return Ok(());
        }
        self.appended_lsn.set(at);
        self.in_flight_lsn.set(at);
        {
            let mut feed = self.feed.borrow_mut();
            feed.records.clear();
            feed.bytes = 0;
        }
        // An empty batch at `at` starts the segment and moves the durable
        // end there.
        let _ = self.to_syncer.send(Batch {
            start_lsn: at,
            end_lsn: at,
            bytes: vec![],
            new_segment: true,
        });
        self.view().wait_until(at, false).await
    }

    /// Makes the next batch start a new segment (a checkpoint asks, so
    /// that the segments before it can be removed whole later). No effect
    /// on a single-file log.
    pub fn request_new_segment(&self) {
        self.new_segment_requested.set(true);
        self.start_flush();
    }

    /// Reads the syncer's progress; after a discarded batch, drops every
    /// record that is not durable and starts a new generation from the
    /// durable point. Returns the durable position.
    fn sync_state(&self) -> Result<u64> {
        let progress = self.progress.borrow();
        if let Some(e) = &progress.fatal {
            return Err(e.clone());
        }
        if progress.discarded > self.seen_discards.get() {
            self.seen_discards.set(progress.discarded);
            *self.last_discard.borrow_mut() = progress.last_discard.clone();
            self.reset_points.borrow_mut().push(progress.durable_lsn);
            self.pending.borrow_mut().clear();
            // Discarded records are no replica's either.
            let mut feed = self.feed.borrow_mut();
            while feed
                .records
                .back()
                .is_some_and(|(at, _)| *at >= progress.durable_lsn)
            {
                if let Some((_, gone)) = feed.records.pop_back() {
                    feed.bytes -= gone.len();
                }
            }
            self.appended_lsn.set(progress.durable_lsn);
            self.in_flight_lsn.set(progress.durable_lsn);
        }
        Ok(progress.durable_lsn)
    }

    /// Appends a record and returns what the caller waits for with
    /// [`WalWriter::wait_durable`]. The syncer gets it at once if idle.
    pub fn append(&self, payload: &[u8]) -> Result<Ticket> {
        let ticket = self.append_lazy(payload)?;
        self.start_flush();
        Ok(ticket)
    }

    /// Appends a record without handing it to the syncer: it goes with the
    /// next batch someone waits for ([`WalWriter::wait_durable`]) or
    /// [`WalWriter::start_flush`]. For records nobody waits on (a
    /// participant's `Resolve`), so that they never cost an fsync of their
    /// own, and for appends that a caller about to wait wants batched with
    /// those of other tasks on the shard.
    pub fn append_lazy(&self, payload: &[u8]) -> Result<Ticket> {
        assert!(
            !payload.is_empty(),
            "empty WAL records would read as the end of the log"
        );
        if payload.len() > WAL_RECORD_BYTES_MAX {
            return Err(Error::new(
                tessera_types::sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "a single write is {} bytes; the limit is {WAL_RECORD_BYTES_MAX}",
                    payload.len()
                ),
            ));
        }
        self.sync_state()?;
        let mut pending = self.pending.borrow_mut();
        pending.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        pending.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        pending.extend_from_slice(payload);
        let start = self.appended_lsn.get();
        let end = start + (FRAME_HEADER + payload.len()) as u64;
        self.appended_lsn.set(end);
        drop(pending);
        let mut feed = self.feed.borrow_mut();
        if feed.enabled {
            feed.records.push_back((start, payload.into()));
            feed.bytes += payload.len();
            while feed.bytes > FEED_BYTES_MAX {
                let Some((_, old)) = feed.records.pop_front() else {
                    break;
                };
                feed.bytes -= old.len();
            }
        }
        drop(feed);
        // The generation before any start_flush(): a discard it notices resets
        // the log past this record, which must then read as lost.
        let generation = self.generation();
        Ok(Ticket {
            generation,
            start,
            end,
        })
    }

    /// Hands what was appended to the syncer now, unless a batch is in
    /// flight; then it goes when that one is done and someone waits, or at
    /// the next call.
    pub fn start_flush(&self) {
        let Ok(durable_lsn) = self.sync_state() else {
            return;
        };
        if durable_lsn < self.in_flight_lsn.get() {
            return;
        }
        let bytes = std::mem::take(&mut *self.pending.borrow_mut());
        if bytes.is_empty() {
            return;
        }
        let end_lsn = self.appended_lsn.get();
        self.in_flight_lsn.set(end_lsn);
        // A send fails only if the syncer died, which it reports as fatal.
        let _ = self.to_syncer.send(Batch {
            start_lsn: end_lsn - bytes.len() as u64,
            end_lsn,
            bytes,
            new_segment: self.new_segment_requested.replace(false),
        });
    }

    /// Resolves once the record is on disk (and held by enough replicas,
    /// see [`WalWriter::set_replication_gate`]), or fails if it never will
    /// be (its batch was discarded: 53100 on a full disk; or the log
    /// failed).
    pub async fn wait_durable(&self, ticket: Ticket) -> Result<()> {
        self.wait_for(ticket, true).await
    }

    /// Resolves once the record is on this node's disk, replicated or not.
    pub async fn wait_local(&self, ticket: Ticket) -> Result<()> {
        self.wait_for(ticket, false).await
    }

    async fn wait_for(&self, ticket: Ticket, replicated: bool) -> Result<()> {
        let mut rx = self.progress.clone();
        loop {
            rx.borrow_and_update();
            let durable = self.sync_state()?;
            let Some(on_disk) = self.on_disk(ticket, durable) else {
                let error = self.last_discard.borrow().clone();
                return Err(error.unwrap_or_else(|| Error::internal("a WAL batch was discarded")));
            };
            if ticket.generation == self.generation() {
                self.start_flush();
            }
            if on_disk && (!replicated || self.shared.replication_allows(ticket.end)) {
                return Ok(());
            }
            if rx.changed().await.is_err() {
                return Err(Error::internal("the WAL syncer stopped"));
            }
        }
    }

    /// Waits until everything appended so far is on this node's disk
    /// (replicated or not).
    pub async fn flush(&self) -> Result<()> {
        let ticket = self.appended()?;
        self.wait_local(ticket).await
    }

    /// Appends and waits until durable.
    pub async fn append_durable(&self, payload: &[u8]) -> Result<()> {
        let ticket = self.append(payload)?;
        self.wait_durable(ticket).await
    }
}

/// Zero-fills the file from `allocated` until it covers `needed` plus one
/// step, and syncs it whole (size included).
fn preallocate(
    file: &mut dyn WalFile,
    allocated: &mut u64,
    needed: u64,
    step: u64,
) -> std::io::Result<()> {
    if *allocated > needed {
        return Ok(());
    }
    let target = needed + step;
    let zeros = vec![0u8; 1 << 20];
    while *allocated < target {
        let n = zeros.len().min((target - *allocated) as usize);
        file.write_all_at(&zeros[..n], *allocated)?;
        *allocated += n as u64;
    }
    file.sync_all()
}

/// Where the syncer writes: one file, or the current segment of a directory.
struct LogFiles {
    file: Box<dyn WalFile>,
    /// The log position of the file's first byte.
    base: u64,
    /// Bytes of the file zero-filled so far.
    allocated: u64,
    segments: Option<Segments>,
}

struct Segments {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    bytes_max: u64,
    /// A new segment was asked for and is not made yet (a failed attempt
    /// is retried with the next batch, which starts at the same position).
    roll_pending: bool,
}

impl LogFiles {
    fn single(file: Box<dyn WalFile>) -> LogFiles {
        LogFiles {
            file,
            base: 0,
            allocated: 0,
            segments: None,
        }
    }

    /// Makes room for `batch`: starts a new segment if one is due, and
    /// zero-fills the file far enough. Nothing of the batch is written. On
    /// a recoverable failure the current file is unchanged and as large as
    /// before.
    fn make_room(&mut self, batch: &Batch, step: u64) -> std::result::Result<(), RoomError> {
        if let Some(segments) = &mut self.segments {
            segments.roll_pending |= batch.new_segment;
            let too_big = batch.end_lsn - self.base > segments.bytes_max;
            if batch.start_lsn == self.base {
                // The current segment is still empty: it serves.
                segments.roll_pending = false;
            } else if segments.roll_pending || too_big {
                // Everything before `start_lsn` is durable (batches are
                // synced in order), so the old segment is whole.
                // Made under a temporary name and renamed when whole, so
                // a failed attempt leaves no segment behind and the batch
                // can still go into the current one.
                let path = segment_path(&segments.dir, batch.start_lsn);
                let temporary = path.with_extension("new");
                let mut allocated = 0;
                let made = segments.fs.open(&temporary).and_then(|mut file| {
                    file.set_len(0)?;
                    preallocate(
                        &mut *file,
                        &mut allocated,
                        batch.end_lsn - batch.start_lsn,
                        step,
                    )?;
                    Ok(file)
                });
                let file = match made {
                    Ok(file) => file,
                    Err(e) => {
                        let _ = segments.fs.remove(&temporary);
                        return Err(RoomError::Recoverable(e));
                    }
                };
                segments
                    .fs
                    .rename(&temporary, &path)
                    .and_then(|_| segments.fs.sync_dir(&segments.dir))
                    .map_err(RoomError::Fatal)?;
                self.file = file;
                self.base = batch.start_lsn;
                self.allocated = allocated;
                segments.roll_pending = false;
            }
        }
        preallocate(
            &mut *self.file,
            &mut self.allocated,
            batch.end_lsn - self.base,
            step,
        )
        .map_err(RoomError::Recoverable)
    }

    /// The log position where the allocated space of the current file ends.
    fn room_end(&self) -> u64 {
        self.base + self.allocated
    }
}

/// What the syncer tells the shard and the node.
struct Published {
    progress: Arc<watch::Sender<Progress>>,
    shared: Arc<SharedProgress>,
    room_end: Arc<AtomicU64>,
}

enum RoomError {
    /// The log could not grow: the batch is written as far as it fits.
    Recoverable(std::io::Error),
    /// A new segment's name could not be made durable: the log stops.
    Fatal(std::io::Error),
}

/// The length of the longest run of whole frames at the start of `bytes`
/// that ends at or before `limit`.
fn whole_frames_within(bytes: &[u8], limit: u64) -> usize {
    let mut end = 0;
    while end + FRAME_HEADER <= bytes.len() {
        let len = u32::from_le_bytes([bytes[end], bytes[end + 1], bytes[end + 2], bytes[end + 3]]);
        let next = end + FRAME_HEADER + len as usize;
        if next > bytes.len() || next as u64 > limit {
            break;
        }
        end = next;
    }
    end
}

/// `<dir>/<start, 20 digits>.seg`.
pub fn segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}{SEGMENT_SUFFIX}"))
}

/// The start positions of the segments in `dir`, in order. Other names are
/// ignored.
pub fn list_segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>> {
    let names = fs
        .list(dir)
        .map_err(|e| Error::io(&format!("listing {}", dir.display()), e))?;
    let mut starts: Vec<u64> = names
        .iter()
        .filter_map(|n| n.strip_suffix(SEGMENT_SUFFIX))
        .filter(|n| n.len() == 20)
        .filter_map(|n| n.parse().ok())
        .collect();
    starts.sort_unstable();
    Ok(starts)
}

/// Where a scan of a segmented log ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanEnd {
    /// The end of the good part of the log: appends continue here.
    pub end: u64,
    /// The last segment ended in a torn or damaged frame.
    pub torn_tail: bool,
}

/// Reads the segmented log in `dir` from position `from` (a record
/// boundary), calling `each` with every record's position and payload.
///
/// Every segment but the last must hold whole records up to where the next
/// one starts; anything else is damage, and the scan fails with XX001
/// rather than skip acknowledged records. The last segment may end in a
/// torn frame (see [`check_watermark`] for telling that from damage).
pub fn scan_segments(
    fs: &dyn FileSystem,
    dir: &Path,
    from: u64,
    mut each: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<ScanEnd> {
    let starts = list_segments(fs, dir)?;
    let Some(first) = starts.iter().rposition(|s| *s <= from) else {
        return match starts.first() {
            None if from == 0 => Ok(ScanEnd {
                end: 0,
                torn_tail: false,
            }),
            None => Err(missing_wal(dir, from, "there are no segments")),
            Some(oldest) => Err(missing_wal(
                dir,
                from,
                &format!("the oldest segment starts at {oldest}"),
            )),
        };
    };
    let mut end = ScanEnd {
        end: from,
        torn_tail: false,
    };
    for (i, &start) in starts.iter().enumerate().skip(first) {
        let path = segment_path(dir, start);
        let data = fs
            .read(&path)
            .map_err(|e| Error::io(&format!("reading {}", path.display()), e))?;
        let skip = (from.max(start) - start) as usize;
        if skip > data.len() {
            return Err(missing_wal(
                dir,
                from,
                &format!("{} ends before it", path.display()),
            ));
        }
        let mut reader = WalReader::from_bytes_at(data, skip);
        loop {
            let at = start + reader.valid_len();
            let Some(payload) = reader.next_record() else {
                break;
            };
            each(at, payload)?;
        }
        let valid_end = start + reader.valid_len();
        match starts.get(i + 1) {
            Some(&next) if valid_end != next => {
                return Err(Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!(
                        "{}: damaged or missing record at log position {valid_end}, but the next segment starts at {next}; \
                         refusing to start so that no acknowledged write is skipped (restore this data directory from a backup or a replica)",
                        path.display()
                    ),
                ));
            }
            Some(_) => {}
            None => {
                end = ScanEnd {
                    end: valid_end,
                    torn_tail: reader.torn_tail,
                }
            }
        }
    }
    Ok(end)
}

fn missing_wal(dir: &Path, from: u64, why: &str) -> Error {
    Error::new(
        sqlstate::DATA_CORRUPTED,
        format!(
            "{}: recovery must replay the log from position {from}, but {why}; \
             refusing to start (restore this data directory from a backup or a replica)",
            dir.display()
        ),
    )
}

/// The file where the syncer records how much of the log is durable.
pub struct Watermark {
    pub file: Box<dyn WalFile>,
    pub interval: std::time::Duration,
    /// What the file recorded when the log was opened.
    pub recorded: u64,
}

/// `wal` → `wal.durable`.
pub fn watermark_path(wal: &Path) -> std::path::PathBuf {
    let mut name = wal.as_os_str().to_owned();
    name.push(".durable");
    name.into()
}

fn write_watermark(w: &mut Watermark, durable: u64) -> std::io::Result<()> {
    let mut record = [0u8; 12];
    record[..8].copy_from_slice(&durable.to_le_bytes());
    let crc = crc32fast::hash(&record[..8]);
    record[8..].copy_from_slice(&crc.to_le_bytes());
    w.file.write_all_at(&record, 0)?;
    w.file.sync_data()
}

/// The durable end the watermark file records (0 if absent or unreadable:
/// it only ever adds a check, never removes one).
pub fn read_watermark(wal: &Path) -> u64 {
    read_watermark_in(&OsFileSystem, wal)
}

/// [`read_watermark`] through `fs`.
pub fn read_watermark_in(fs: &dyn FileSystem, wal: &Path) -> u64 {
    let Ok(bytes) = fs.read(&watermark_path(wal)) else {
        return 0;
    };
    if bytes.len() < 12 {
        return 0;
    }
    let durable = u64::from_le_bytes(bytes[..8].try_into().unwrap_or([0; 8]));
    let crc = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4]));
    if crc32fast::hash(&bytes[..8]) == crc {
        durable
    } else {
        0
    }
}

/// Tells a torn tail from damage in the middle of the log: the good part of
/// the log ends at `valid_len`; if the log was known durable further than
/// that, acknowledged records would be skipped, and the shard must not start.
pub fn check_watermark(wal: &Path, valid_len: u64) -> Result<()> {
    check_watermark_in(&OsFileSystem, wal, valid_len)
}

/// [`check_watermark`] through `fs`; for a segmented log, `wal` is its
/// directory and `valid_len` the log position where its good part ends.
pub fn check_watermark_in(fs: &dyn FileSystem, wal: &Path, valid_len: u64) -> Result<()> {
    let durable = read_watermark_in(fs, wal);
    if valid_len < durable {
        return Err(Error::new(
            tessera_types::sqlstate::DATA_CORRUPTED,
            format!(
                "{}: damaged or missing record at byte {valid_len}, before byte {durable} which was known to be durable; \
                 refusing to start so that no acknowledged write is skipped (restore this data directory from a backup or a replica)",
                wal.display()
            ),
        ));
    }
    Ok(())
}

fn syncer(
    mut files: LogFiles,
    mut watermark: Option<Watermark>,
    step: u64,
    batches: mpsc::Receiver<Batch>,
    published: Published,
) {
    let Published {
        progress,
        shared,
        room_end,
    } = published;
    let fail = |error: Error| {
        shared.failed.store(true, Ordering::Release);
        progress.send_modify(|p| p.fatal = Some(error));
    };
    let mut last_watermark = std::time::Instant::now();
    let mut durable_end = 0;
    while let Ok(batch) = batches.recv() {
        let (bytes, discard) = match files.make_room(&batch, step) {
            Ok(()) => (&batch.bytes[..], None),
            Err(RoomError::Recoverable(e)) => {
                // The records that fit in the space already allocated are
                // written (an early-released one is among them, see
                // `WalWriter::is_certain`); the rest are given back.
                tracing::warn!("WAL could not grow, discarding part of a batch: {e}");
                let fit = whole_frames_within(
                    &batch.bytes,
                    files.room_end().saturating_sub(batch.start_lsn),
                );
                (&batch.bytes[..fit], Some(Error::io("extending the WAL", e)))
            }
            Err(RoomError::Fatal(e)) => {
                tracing::error!("WAL segment switch failed: {e}");
                fail(Error::io("starting a WAL segment", e));
                return;
            }
        };
        room_end.store(files.room_end(), Ordering::Release);
        let end_lsn = batch.start_lsn + bytes.len() as u64;
        let result = if bytes.is_empty() {
            Ok(())
        } else {
            files
                .file
                .write_all_at(bytes, batch.start_lsn - files.base)
                .and_then(|_| files.file.sync_data())
        };
        match result {
            Ok(()) => {
                shared.durable_lsn.fetch_max(end_lsn, Ordering::AcqRel);
                progress.send_modify(|p| {
                    p.durable_lsn = p.durable_lsn.max(end_lsn);
                    if let Some(error) = discard {
                        p.discarded += 1;
                        p.last_discard = Some(error);
                    }
                });
                if !bytes.is_empty() {
                    if let Some(w) = watermark.as_mut() {
                        if last_watermark.elapsed() >= w.interval {
                            last_watermark = std::time::Instant::now();
                            if let Err(e) = write_watermark(w, end_lsn) {
                                tracing::warn!("could not record the WAL watermark: {e}");
                            }
                        }
                    }
                    durable_end = end_lsn;
                }
            }
            Err(e) => {
                tracing::error!("WAL write failed: {e}");
                fail(Error::io("writing the WAL", e));
                return;
            }
        }
    }
    // The writer is gone (shutdown): record where the log ends.
    if let (Some(w), true) = (watermark.as_mut(), durable_end > 0) {
        if let Err(e) = write_watermark(w, durable_end) {
            tracing::warn!("could not record the WAL watermark: {e}");
        }
    }
}

/// Reads a log from the start. Yields payloads of whole, checksummed frames
/// and stops at the first torn or damaged one; `valid_len` is then where the
/// good part ends.
pub struct WalReader {
    data: Vec<u8>,
    pos: usize,
    pub torn_tail: bool,
}

impl WalReader {
    /// Reads the whole file (an absent file is an empty log).
    pub fn open(path: &Path) -> Result<WalReader> {
        let mut data = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut data)
                    .map_err(|e| Error::io(&format!("reading {}", path.display()), e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&format!("opening {}", path.display()), e)),
        }
        Ok(WalReader {
            data,
            pos: 0,
            torn_tail: false,
        })
    }

    /// A reader over bytes already in memory.
    pub fn from_bytes(data: Vec<u8>) -> WalReader {
        WalReader::from_bytes_at(data, 0)
    }

    /// A reader over bytes in memory that starts at byte `pos`, a frame
    /// boundary (past the end: an empty log).
    pub fn from_bytes_at(data: Vec<u8>, pos: usize) -> WalReader {
        WalReader {
            pos: pos.min(data.len()),
            data,
            torn_tail: false,
        }
    }

    pub fn valid_len(&self) -> u64 {
        self.pos as u64
    }

    /// The next record's payload, or `None` at the end of the good part.
    pub fn next_record(&mut self) -> Option<&[u8]> {
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            return None;
        }
        if rest.len() < FRAME_HEADER {
            self.torn_tail = rest.iter().any(|b| *b != 0);
            return None;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len == 0 {
            // Preallocated space: the end, unless something other than zeros follows.
            self.torn_tail = rest.iter().any(|b| *b != 0);
            return None;
        }
        if len > WAL_RECORD_BYTES_MAX || rest.len() - FRAME_HEADER < len {
            self.torn_tail = true;
            return None;
        }
        let payload = &rest[FRAME_HEADER..FRAME_HEADER + len];
        if crc32fast::hash(payload) != crc {
            self.torn_tail = true;
            return None;
        }
        let start = self.pos + FRAME_HEADER;
        self.pos += FRAME_HEADER + len;
        Some(&self.data[start..start + len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tessera-wal-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("wal")
    }

    fn read_all(path: &Path) -> (Vec<Vec<u8>>, u64, bool) {
        let mut r = WalReader::open(path).unwrap();
        let mut out = Vec::new();
        while let Some(p) = r.next_record() {
            out.push(p.to_vec());
        }
        (out, r.valid_len(), r.torn_tail)
    }

    #[test]
    fn records_survive_reopen_and_torn_tail_is_cut() {
        let path = temp_path("torn");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::open(&path, 0, "t", WAL_PREALLOCATE_BYTES).unwrap();
            for i in 0..100u32 {
                wal.append(&i.to_le_bytes()).unwrap();
            }
            wal.flush().await.unwrap();
        });
        let (records, len, torn) = read_all(&path);
        assert_eq!(records.len(), 100);
        assert!(!torn);
        // Tear the last frame at every byte: the first 99 records remain.
        let full = std::fs::read(&path).unwrap();
        assert!(
            full.len() as u64 >= WAL_PREALLOCATE_BYTES,
            "space is preallocated"
        );
        let full = full[..len as usize].to_vec();
        for cut in (len as usize - 11)..(len as usize) {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (records, valid, torn) = read_all(&path);
            assert_eq!(records.len(), 99, "cut at {cut}");
            assert!(torn);
            assert_eq!(valid as usize, full.len() - 12);
        }
        // A flipped byte in the last payload fails its checksum.
        let mut bad = full.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xFF;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(read_all(&path).0.len(), 99);
        // Reopening for append truncates the damaged tail.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::open(&path, (full.len() - 12) as u64, "t", WAL_PREALLOCATE_BYTES)
                .unwrap();
            wal.append_durable(b"after").await.unwrap();
        });
        let (records, _, torn) = read_all(&path);
        assert_eq!(records.len(), 100);
        assert_eq!(records[99], b"after");
        assert!(!torn);
    }

    #[test]
    fn with_the_replication_gate_a_record_is_durable_once_replicas_hold_it() {
        let path = temp_path("gate");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::open(&path, 0, "g", WAL_PREALLOCATE_BYTES).unwrap();
            wal.enable_feed();
            let before = wal.append(b"before the gate").unwrap();
            wal.flush().await.unwrap();
            // What the log holds as the gate closes counts as replicated.
            wal.set_replication_gate(true);
            assert_eq!(wal.durability(before), Durability::Durable);
            let view = wal.view();
            let first = wal.append(b"first").unwrap();
            let second = wal.append(b"second").unwrap();
            wal.flush().await.unwrap();
            // On disk here, shipped to replicas, but not yet durable to
            // the log's users.
            assert_eq!(wal.local_durable().unwrap(), second.end());
            assert_eq!(view.durable().unwrap(), before.end());
            assert!(!view.is_durable(first.end()));
            assert_eq!(wal.durability(first), Durability::Pending);
            let FeedRead::Records(shipped) = wal.feed_since(before.end(), 1 << 20).unwrap() else {
                panic!("the feed lost its records")
            };
            assert_eq!(shipped.len(), 2);
            let waited = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                wal.wait_durable(first),
            );
            assert!(waited.await.is_err(), "no replica holds it yet");
            // A waiter on another thread's view wakes when replicas catch up.
            let waiter = {
                let view = view.clone();
                let end = second.end();
                std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap()
                        .block_on(view.wait(end))
                })
            };
            wal.note_replicated(first.end());
            wal.wait_durable(first).await.unwrap();
            assert_eq!(wal.durability(second), Durability::Pending);
            wal.note_replicated(second.end());
            waiter.join().unwrap().unwrap();
            assert_eq!(view.durable().unwrap(), second.end());
            // Never backwards.
            wal.note_replicated(first.end());
            assert_eq!(wal.durability(second), Durability::Durable);
            // Open again, as a replica's: durable once on disk here.
            let third = wal.append(b"third").unwrap();
            wal.flush().await.unwrap();
            assert_eq!(wal.durability(third), Durability::Pending);
            wal.set_replication_gate(false);
            assert_eq!(wal.durability(third), Durability::Durable);
            assert_eq!(view.durable().unwrap(), third.end());
        });
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn a_fenced_master_fails_what_its_replicas_never_held() {
        let path = temp_path("fence");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::open(&path, 0, "f", WAL_PREALLOCATE_BYTES).unwrap();
            wal.set_replication_gate(true);
            let held = wal.append(b"held").unwrap();
            let waiting = wal.append(b"waiting").unwrap();
            wal.flush().await.unwrap();
            wal.note_replicated(held.end());
            let mut waiter = Box::pin(wal.wait_durable(waiting));
            let early = tokio::time::timeout(std::time::Duration::from_millis(20), &mut waiter);
            assert!(early.await.is_err(), "no replica holds it");
            // Another shard waits through the log's view (a two-phase
            // commit's prepares, what a read observed).
            let view = wal.view();
            let mut viewer = Box::pin(view.wait(waiting.end()));
            let early = tokio::time::timeout(std::time::Duration::from_millis(20), &mut viewer);
            assert!(early.await.is_err(), "no replica holds it");
            wal.fence_unreplicated(Error::new(sqlstate::CONNECTION_FAILURE, "demoted"));
            assert_eq!(waiter.await.unwrap_err().message, "demoted");
            assert_eq!(viewer.await.unwrap_err().message, "demoted");
            assert!(!view.is_durable(waiting.end()), "on disk, but never held");
            assert!(view.is_durable(held.end()));
            assert_eq!(
                view.wait(waiting.end()).await.unwrap_err().message,
                "demoted"
            );
            assert_eq!(wal.durability(held), Durability::Durable);
            assert_eq!(wal.durability(waiting), Durability::Lost);
            assert!(!wal.is_gated());
            // The log goes on, as a replica's, from where it ended.
            let next = wal.append(b"copied").unwrap();
            assert_eq!(next.start(), waiting.end());
            wal.wait_durable(next).await.unwrap();
            assert_eq!(wal.view().durable().unwrap(), next.end());
        });
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn a_replica_fed_from_the_feed_holds_the_same_bytes() {
        let (master_path, replica_path) = (temp_path("feed-m"), temp_path("feed-r"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let master = WalWriter::open(&master_path, 0, "m", WAL_PREALLOCATE_BYTES).unwrap();
            let replica = WalWriter::open(&replica_path, 0, "r", WAL_PREALLOCATE_BYTES).unwrap();
            master.append_durable(b"before the feed").await.unwrap();
            master.enable_feed();
            assert_eq!(master.feed_since(0, 1 << 20).unwrap(), FeedRead::Gone);
            // The replica starts from a copy of what came before.
            replica.append_durable(b"before the feed").await.unwrap();
            let from = replica.appended().unwrap().end();
            assert_eq!(
                master.feed_since(from, 1 << 20).unwrap(),
                FeedRead::Records(vec![])
            );
            for i in 0..50u32 {
                master.append(&vec![i as u8; 1 + i as usize * 7]).unwrap();
            }
            // Nothing that is not durable yet.
            let FeedRead::Records(early) = master.feed_since(from, 1 << 20).unwrap() else {
                panic!("the feed lost its records")
            };
            let durable = master.view().durable().unwrap();
            assert!(early
                .iter()
                .all(|(at, p)| at + (FRAME_HEADER + p.len()) as u64 <= durable));
            master.flush().await.unwrap();
            let mut at = from;
            loop {
                let FeedRead::Records(batch) = master.feed_since(at, 1000).unwrap() else {
                    panic!("the feed lost its records")
                };
                if batch.is_empty() {
                    break;
                }
                for (position, payload) in batch {
                    assert_eq!(position, at);
                    at = replica.append(&payload).unwrap().end();
                }
            }
            replica.flush().await.unwrap();
            assert_eq!(
                master.feed_since(at + 1, 10).unwrap(),
                FeedRead::Ahead,
                "a replica with a tail the master lacks"
            );
            assert_eq!(master.feed_since(from + 1, 10).unwrap(), FeedRead::Gone);
        });
        let (master_records, master_len, _) = read_all(&master_path);
        let (replica_records, replica_len, _) = read_all(&replica_path);
        assert_eq!(master_records.len(), 51);
        assert_eq!((replica_records, replica_len), (master_records, master_len));
        let bytes = |p: &Path| std::fs::read(p).unwrap()[..master_len as usize].to_vec();
        assert_eq!(bytes(&master_path), bytes(&replica_path));
    }

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};

    /// A file in memory whose `sync_data` counts itself and waits at a gate.
    struct GatedFile {
        syncs: Arc<AtomicUsize>,
        gate: Arc<(Mutex<bool>, Condvar)>,
        data: Vec<u8>,
    }

    impl WalFile for GatedFile {
        fn write_all_at(&mut self, buf: &[u8], offset: u64) -> std::io::Result<()> {
            let end = offset as usize + buf.len();
            if self.data.len() < end {
                self.data.resize(end, 0);
            }
            self.data[offset as usize..end].copy_from_slice(buf);
            Ok(())
        }
        fn sync_data(&mut self) -> std::io::Result<()> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            let (open, cv) = &*self.gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            Ok(())
        }
        fn sync_all(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn set_len(&mut self, len: u64) -> std::io::Result<()> {
            self.data.resize(len as usize, 0);
            Ok(())
        }
    }

    /// While one fsync is held back, the shard's event loop keeps running and
    /// every commit made meanwhile is covered by the next single fsync.
    #[test]
    fn one_fsync_covers_every_commit_ready_meanwhile_and_the_loop_never_waits() {
        let syncs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let file = GatedFile {
            syncs: syncs.clone(),
            gate: gate.clone(),
            data: Vec::new(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let wal =
                std::rc::Rc::new(WalWriter::with_file(Box::new(file), 0, "t", 1 << 20).unwrap());
            let first = wal.append(b"first").unwrap();
            // The first batch reaches the syncer and blocks in its fsync.
            while syncs.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            // Fifty commits on other tasks while it is blocked.
            let mut waiters = Vec::new();
            for i in 0..50u32 {
                let wal = wal.clone();
                waiters.push(tokio::task::spawn_local(async move {
                    let lsn = wal.append(&i.to_le_bytes()).unwrap();
                    wal.wait_durable(lsn).await.unwrap();
                }));
            }
            // The event loop runs other work although an fsync is in progress.
            let ran = tokio::task::spawn_local(async { 42 }).await.unwrap();
            assert_eq!(ran, 42);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            assert_eq!(
                syncs.load(Ordering::SeqCst),
                1,
                "nothing else synced while the first fsync is held"
            );
            {
                let (open, cv) = &*gate;
                *open.lock().unwrap() = true;
                cv.notify_all();
            }
            wal.wait_durable(first).await.unwrap();
            for w in waiters {
                w.await.unwrap();
            }
        });
        assert_eq!(
            syncs.load(Ordering::SeqCst),
            2,
            "fifty commits made durable by one more fsync"
        );
    }

    /// A lazy append costs no fsync of its own: it waits for the next batch
    /// someone waits for, or for `start_flush`.
    #[test]
    fn lazy_records_ride_with_the_next_waited_batch() {
        let syncs = Arc::new(AtomicUsize::new(0));
        let file = GatedFile {
            syncs: syncs.clone(),
            gate: Arc::new((Mutex::new(true), Condvar::new())),
            data: Vec::new(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::with_file(Box::new(file), 0, "t", 1 << 20).unwrap();
            let lazy = wal.append_lazy(b"resolve").unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            assert_eq!(
                syncs.load(Ordering::SeqCst),
                0,
                "a lazy record alone is not synced"
            );
            assert_eq!(wal.durability(lazy), Durability::Pending);
            let waited = wal.append_lazy(b"commit").unwrap();
            wal.wait_durable(waited).await.unwrap();
            assert_eq!(syncs.load(Ordering::SeqCst), 1, "one fsync for both");
            assert_eq!(wal.durability(lazy), Durability::Durable);
            let later = wal.append_lazy(b"resolve again").unwrap();
            wal.start_flush();
            while wal.durability(later) == Durability::Pending {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert_eq!(wal.durability(later), Durability::Durable);
            assert_eq!(syncs.load(Ordering::SeqCst), 2);
        });
    }

    /// A file whose fsync fails as a full disk does.
    struct FullDisk;

    impl WalFile for FullDisk {
        fn write_all_at(&mut self, _: &[u8], _: u64) -> std::io::Result<()> {
            Ok(())
        }
        fn sync_data(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(28))
        }
        fn sync_all(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn set_len(&mut self, _: u64) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_fsync_stops_the_log() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::with_file(Box::new(FullDisk), 0, "t", 0).unwrap();
            let err = wal.append_durable(b"x").await.unwrap_err();
            assert_eq!(err.code, tessera_types::sqlstate::DISK_FULL);
            let err = wal.append(b"y").unwrap_err();
            assert_eq!(err.code, tessera_types::sqlstate::DISK_FULL);
        });
    }

    /// A file in memory on a disk with `room` bytes: growing past it fails
    /// as a full disk does.
    struct SmallDisk {
        room: Arc<std::sync::atomic::AtomicU64>,
        data: Arc<Mutex<Vec<u8>>>,
    }

    impl WalFile for SmallDisk {
        fn write_all_at(&mut self, buf: &[u8], offset: u64) -> std::io::Result<()> {
            let end = offset as usize + buf.len();
            let mut data = self.data.lock().unwrap();
            if end > data.len() && end as u64 > self.room.load(Ordering::SeqCst) {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            if data.len() < end {
                data.resize(end, 0);
            }
            data[offset as usize..end].copy_from_slice(buf);
            Ok(())
        }
        fn sync_data(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn sync_all(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn set_len(&mut self, len: u64) -> std::io::Result<()> {
            self.data.lock().unwrap().resize(len as usize, 0);
            Ok(())
        }
    }

    /// Appends `n` records (`record(*i)`, counting `i` up) to a log whose
    /// disk may be full: the acknowledged ones go to `acknowledged`, the
    /// others must fail with 53100. Returns how many failed.
    async fn append_on_a_full_disk(
        wal: &WalWriter,
        n: usize,
        i: &mut u32,
        record: &impl Fn(u32) -> Vec<u8>,
        acknowledged: &mut Vec<Vec<u8>>,
    ) -> usize {
        let mut failures = 0;
        for _ in 0..n {
            match wal.append_durable(&record(*i)).await {
                Ok(()) => acknowledged.push(record(*i)),
                Err(e) => {
                    assert_eq!(e.code, tessera_types::sqlstate::DISK_FULL);
                    failures += 1;
                }
            }
            *i += 1;
        }
        failures
    }

    /// A 1 MiB disk whose size the test may change, its contents, a log
    /// file on it and a runtime to drive the log.
    #[allow(clippy::type_complexity)]
    fn small_disk() -> (
        Arc<std::sync::atomic::AtomicU64>,
        Arc<Mutex<Vec<u8>>>,
        SmallDisk,
        tokio::runtime::Runtime,
    ) {
        let room = Arc::new(std::sync::atomic::AtomicU64::new(1 << 20));
        let data = Arc::new(Mutex::new(Vec::new()));
        let file = SmallDisk {
            room: room.clone(),
            data: data.clone(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        (room, data, file, rt)
    }

    /// A record that lies in allocated space reaches the disk even when the
    /// batch it goes in cannot grow the log: early lock release relies on it.
    #[test]
    fn a_certain_record_is_written_though_its_batch_cannot_grow_the_log() {
        let (room, data, file, rt) = small_disk();
        let (first, second) = rt.block_on(async {
            let wal = WalWriter::with_file(Box::new(file), 0, "t", 4096).unwrap();
            wal.append_durable(&[1u8; 100]).await.unwrap();
            // The disk is full: the file cannot grow past its allocation.
            room.store(data.lock().unwrap().len() as u64, Ordering::SeqCst);
            let left = wal.room_end.load(Ordering::SeqCst) - wal.appended().unwrap().end();
            let first = vec![2u8; left as usize - FRAME_HEADER];
            let fits = wal.append_lazy(&first).unwrap();
            let second = vec![3u8; 64];
            let grows = wal.append_lazy(&second).unwrap();
            assert!(wal.is_certain(fits), "it lies in allocated space");
            assert!(!wal.is_certain(grows), "it needs the log to grow");
            wal.start_flush();
            assert!(wal.wait_durable(fits).await.is_ok());
            let err = wal.wait_durable(grows).await.unwrap_err();
            assert_eq!(err.code, tessera_types::sqlstate::DISK_FULL);
            (first, second)
        });
        let mut reader = WalReader::from_bytes(data.lock().unwrap().clone());
        assert_eq!(reader.next_record(), Some(&[1u8; 100][..]));
        assert_eq!(reader.next_record(), Some(&first[..]));
        assert!(
            reader.next_record().is_none(),
            "{} bytes lost",
            second.len()
        );
    }

    #[test]
    fn a_full_disk_fails_writes_with_53100_until_space_is_freed() {
        let (room, data, file, rt) = small_disk();
        let mut acknowledged = Vec::new();
        rt.block_on(async {
            // 4 KiB preallocation steps, 1 KiB records: the file grows every few records.
            let wal = WalWriter::with_file(Box::new(file), 0, "t", 4096).unwrap();
            let record = |i: u32| {
                let mut r = vec![i as u8; 1024];
                r[..4].copy_from_slice(&i.to_le_bytes());
                r
            };
            let mut i = 0;
            for _ in 0..10 {
                wal.append_durable(&record(i)).await.unwrap();
                acknowledged.push(record(i));
                i += 1;
            }
            // The disk fills up: the next growth fails; so do the writes that need it.
            room.store(data.lock().unwrap().len() as u64, Ordering::SeqCst);
            let failures =
                append_on_a_full_disk(&wal, 10, &mut i, &record, &mut acknowledged).await;
            assert!(failures > 0, "the disk filled up");
            // A batch of concurrent appends while full: all fail, none half-written.
            let t1 = wal.append(&record(100)).unwrap();
            let t2 = wal.append(&record(101)).unwrap();
            assert!(wal.wait_durable(t1).await.is_err());
            assert!(wal.wait_durable(t2).await.is_err());
            // Space is freed: writes succeed again.
            room.store(u64::MAX, Ordering::SeqCst);
            for _ in 0..10 {
                wal.append_durable(&record(i)).await.unwrap();
                acknowledged.push(record(i));
                i += 1;
            }
        });
        // The log holds exactly the acknowledged records, in order.
        let bytes = data.lock().unwrap().clone();
        let mut reader = WalReader::from_bytes(bytes);
        let mut found = Vec::new();
        while let Some(p) = reader.next_record() {
            found.push(p.to_vec());
        }
        assert!(!reader.torn_tail);
        assert_eq!(found, acknowledged);
    }

    /// Damage in the middle of a log (before the recorded durable end) stops
    /// recovery; a torn tail after it is cut off as before.
    #[test]
    fn damage_before_the_watermark_refuses_to_start_a_torn_tail_does_not() {
        let path = temp_path("watermark");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let watermark_file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(watermark_path(&path))
                .unwrap();
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            let watermark = Watermark {
                file: Box::new(watermark_file),
                interval: std::time::Duration::ZERO,
                recorded: 0,
            };
            let wal = WalWriter::start(
                LogFiles::single(Box::new(file)),
                Some(watermark),
                0,
                "t",
                4096,
            )
            .unwrap();
            for i in 0..50u32 {
                wal.append_durable(&i.to_le_bytes()).await.unwrap();
            }
        });
        let (records, len, _) = read_all(&path);
        assert_eq!(records.len(), 50);
        // The syncer records the watermark after it reports durability.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while read_watermark(&path) != len && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(read_watermark(&path), len);
        check_watermark(&path, len).unwrap();

        // An unacknowledged, torn batch after the durable end: cut off.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[len as usize..len as usize + 6].copy_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&path, &bytes).unwrap();
        let mut r = WalReader::open(&path).unwrap();
        while r.next_record().is_some() {}
        assert!(r.torn_tail);
        check_watermark(&path, r.valid_len()).unwrap();

        // A flipped byte in record 10 of 50: acknowledged records would be lost.
        bytes[10 * 12 + 9] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let mut r = WalReader::open(&path).unwrap();
        let mut n = 0;
        while r.next_record().is_some() {
            n += 1;
        }
        assert_eq!(n, 10);
        let err = check_watermark(&path, r.valid_len()).unwrap_err();
        assert_eq!(err.code, tessera_types::sqlstate::DATA_CORRUPTED);
        assert!(err.message.contains("refusing to start"), "{}", err.message);
    }

    /// Crash at every operation of a run of appends, and tear the unsynced
    /// writes at several lengths: recovery always yields an intact prefix of
    /// the appended records that contains every acknowledged one.
    #[test]
    fn crash_at_every_step_keeps_every_acknowledged_record() {
        use crate::file::sim::SimDisk;
        let records: Vec<Vec<u8>> = (0..12u32)
            .map(|i| vec![i as u8 + 1; 5 + (i as usize * 7) % 23])
            .collect();
        for crash_at in 1..60 {
            let disk = SimDisk::crashing_at(crash_at);
            let mut acknowledged = 0;
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let Ok(wal) = WalWriter::with_file(disk.file(), 0, "sim", 64) else {
                    return;
                };
                // Groups of appends, so batches hold several records.
                for group in records.chunks(3) {
                    let tickets: Vec<_> = group.iter().map(|r| wal.append(r)).collect();
                    for t in tickets {
                        let Ok(t) = t else { return };
                        if wal.wait_durable(t).await.is_err() {
                            return;
                        }
                        acknowledged += 1;
                    }
                }
            });
            let unsynced = disk.unsynced_bytes();
            for torn in [0, 1, unsynced / 2, unsynced.saturating_sub(1), unsynced] {
                let mut reader = WalReader::from_bytes(disk.crash_image(torn));
                let mut found = Vec::new();
                while let Some(p) = reader.next_record() {
                    found.push(p.to_vec());
                }
                assert!(
                    found.len() >= acknowledged,
                    "crash at {crash_at}, torn {torn}: {} records recovered, {acknowledged} acknowledged",
                    found.len()
                );
                assert_eq!(
                    found,
                    records[..found.len()],
                    "crash at {crash_at}, torn {torn}: not a prefix"
                );
            }
            if !disk.crashed() {
                assert_eq!(acknowledged, records.len());
                break;
            }
        }
    }

    /// A segmented log on a disk that fills up while a new segment is due:
    /// the writes that need it fail with 53100, nothing of them is kept,
    /// and once space is freed the log rolls over and goes on; every
    /// acknowledged record reads back, in order, across the segments.
    #[test]
    fn a_full_disk_at_a_segment_rollover_fails_writes_with_53100_until_space_is_freed() {
        use crate::file::sim::SimFs;
        use crate::file::FileSystem;
        let fs = SimFs::new();
        let dir = Path::new("wal");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut acknowledged = Vec::new();
        rt.block_on(async {
            let shared: Arc<dyn FileSystem> = Arc::new(fs.clone());
            // 64-byte zero-fill steps, segments closed past 256 bytes.
            let wal = WalWriter::open_segments(shared, dir, 0, "t", 64, 256).unwrap();
            let record = |i: u32| vec![i as u8 + 1; 40];
            let mut i = 0;
            while list_segments(&fs, dir).unwrap().len() < 2 {
                wal.append_durable(&record(i)).await.unwrap();
                acknowledged.push(record(i));
                i += 1;
            }
            // Full: the next segment cannot be made (or the current one grow).
            fs.set_room(Some(fs.used_bytes()));
            let failures =
                append_on_a_full_disk(&wal, 12, &mut i, &record, &mut acknowledged).await;
            assert!(failures > 0, "the disk filled up");
            fs.set_room(None);
            wal.request_new_segment();
            for _ in 0..12 {
                wal.append_durable(&record(i)).await.unwrap();
                acknowledged.push(record(i));
                i += 1;
            }
        });
        assert!(list_segments(&fs, dir).unwrap().len() >= 3);
        let mut found = Vec::new();
        let end = scan_segments(&fs, dir, 0, |_, p| {
            found.push(p.to_vec());
            Ok(())
        })
        .unwrap();
        assert!(!end.torn_tail);
        assert_eq!(found, acknowledged);
    }

    /// A simulated disk holding a log in `dir` of `records` durable records
    /// of 30 bytes (38 with framing), in segments of about
    /// `segment_bytes`. Dropping the writer records the durable end.
    fn segmented_log(dir: &Path, records: u8, segment_bytes: u64) -> crate::file::sim::SimFs {
        use crate::file::FileSystem;
        let fs = crate::file::sim::SimFs::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let shared: Arc<dyn FileSystem> = Arc::new(fs.clone());
            let wal = WalWriter::open_segments(shared, dir, 0, "t", 64, segment_bytes).unwrap();
            for i in 0..records {
                wal.append_durable(&[i + 1; 30]).await.unwrap();
            }
        });
        fs
    }

    /// A replica that installed its master's checkpoint goes on from its
    /// replay start, in a segment of its own, at the master's positions.
    #[test]
    fn a_log_skips_ahead_into_a_new_segment() {
        use crate::file::FileSystem;
        let dir = Path::new("wal");
        let fs = crate::file::sim::SimFs::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let shared: Arc<dyn FileSystem> = Arc::new(fs.clone());
            let wal = WalWriter::open_segments(shared, dir, 0, "t", 64, 1 << 20).unwrap();
            wal.enable_feed();
            wal.append_durable(&[1; 30]).await.unwrap();
            assert!(wal.skip_to(10).await.is_err(), "never back");
            wal.skip_to(5000).await.unwrap();
            assert_eq!(wal.view().durable().unwrap(), 5000);
            assert_eq!(wal.feed_since(0, 1 << 20).unwrap(), FeedRead::Gone);
            wal.append_durable(&[2; 30]).await.unwrap();
            assert_eq!(wal.appended().unwrap().end(), 5038);
        });
        assert_eq!(list_segments(&fs, dir).unwrap(), [0, 5000]);
        let mut seen = vec![];
        let end = scan_segments(&fs, dir, 5000, |at, p| {
            seen.push((at, p[0]));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(5000, 2)]);
        assert_eq!(end.end, 5038);
    }

    /// A segment that ends short of the next one is damage in the middle of
    /// the log, not a torn tail: recovery must not skip what follows.
    #[test]
    fn a_short_segment_before_another_is_refused() {
        use crate::file::sim::SimFs;
        let dir = Path::new("wal");
        let fs = segmented_log(dir, 10, 100);
        let starts = list_segments(&fs, dir).unwrap();
        assert!(starts.len() >= 3, "{starts:?}");
        let count = |fs: &SimFs, from| {
            let mut n = 0;
            scan_segments(fs, dir, from, |_, _| {
                n += 1;
                Ok(())
            })
            .map(|_| n)
        };
        assert_eq!(count(&fs, 0).unwrap(), 10);
        // Replay from a later record boundary reads only what follows it.
        assert_eq!(
            count(&fs, starts[1]).unwrap(),
            10 - (starts[1] / 38) as usize
        );
        // A flipped byte in the first segment.
        let first = segment_path(dir, starts[0]);
        let mut bytes = fs.contents(&first).unwrap();
        bytes[10] ^= 1;
        fs.overwrite(&first, bytes);
        let err = count(&fs, 0).unwrap_err();
        assert_eq!(err.code, tessera_types::sqlstate::DATA_CORRUPTED);
        assert!(err.message.contains("refusing to start"), "{}", err.message);
        // Replay that starts after the damage does not need that segment.
        assert!(count(&fs, starts[1]).is_ok());
    }

    /// The watermark holds a log position across segments: damage in the
    /// last segment before it refuses to start, a torn tail after it does
    /// not.
    #[test]
    fn the_watermark_guards_the_last_segment_of_a_segmented_log() {
        let dir = Path::new("wal");
        let fs = segmented_log(dir, 20, 200);
        let starts = list_segments(&fs, dir).unwrap();
        assert!(starts.len() >= 3, "{starts:?}");
        let end = scan_segments(&fs, dir, 0, |_, _| Ok(())).unwrap().end;
        assert_eq!(read_watermark_in(&fs, dir), end);
        assert_eq!(end, 20 * 38);
        check_watermark_in(&fs, dir, end).unwrap();

        let last = segment_path(dir, *starts.last().unwrap());
        let good = fs.contents(&last).unwrap();
        let mut damaged = good.clone();
        damaged[10] ^= 1;
        fs.overwrite(&last, damaged);
        let scan = scan_segments(&fs, dir, 0, |_, _| Ok(())).unwrap();
        assert!(scan.end < end);
        let err = check_watermark_in(&fs, dir, scan.end).unwrap_err();
        assert_eq!(err.code, tessera_types::sqlstate::DATA_CORRUPTED);
        assert!(err.message.contains("refusing to start"), "{}", err.message);
    }
}
