//! Stopping a running statement: a client's CancelRequest,
//! `pg_cancel_backend`, `statement_timeout`, `pg_terminate_backend`.
//!
//! Each session has an [`Interrupt`]. While a statement of the session
//! runs, the interrupt is the thread's *current* one
//! ([`Interruptible`] installs it whenever the statement's future is
//! polled, and a shard serving the statement's requests installs the one
//! the request carries). The executor's regular checks
//! ([`crate::memory::check`] calls [`check`]) then fail with 57014 once
//! the interrupt is raised or the deadline passed, through the same error
//! path as any failing statement: what the statement wrote is rolled back
//! with it, nothing is left half done, and the session goes on (a
//! transaction block enters the failed state, as in PostgreSQL).
//!
//! Checks sit where work is refused whole: between batches of rows, and
//! before a shard applies a write set; never inside a commit.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::{sqlstate, Error, Result};

const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const TERMINATED: u8 = 2;

/// One session's request to stop: raised from any thread, read by the
/// threads running the session's statement. It also names the session
/// (its process id), so that those threads know whose statement it is.
#[derive(Debug, Default)]
pub struct Interrupt {
    /// The session's process id (BackendKeyData), 0 until it has one.
    pid: AtomicU32,
    state: AtomicU8,
    /// When the running statement times out, in nanoseconds after
    /// [`base`] (0: never).
    deadline: AtomicU64,
    /// How long the running statement may wait for one lock, in
    /// nanoseconds (0: as long as it takes).
    lock_timeout: AtomicU64,
}

/// The instant deadlines count from.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn nanos_since_base(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(base()).as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Interrupt {
    pub fn new() -> Arc<Interrupt> {
        Arc::new(Interrupt::default())
    }

    /// The session's process id, 0 for a session of the engine's own.
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Acquire)
    }

    pub fn set_pid(&self, pid: u32) {
        self.pid.store(pid, Ordering::Release);
    }

    /// Asks the running statement, if any, to stop (57014). A request
    /// that finds no statement running is forgotten when the next one
    /// starts, as PostgreSQL's is.
    pub fn cancel(&self) {
        let _ =
            self.state
                .compare_exchange(RUNNING, CANCELLED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Asks the session to end (57P01), stopping its running statement.
    pub fn terminate(&self) {
        self.state.store(TERMINATED, Ordering::Release);
    }

    pub fn is_terminated(&self) -> bool {
        self.state.load(Ordering::Acquire) == TERMINATED
    }

    /// A statement starts: an earlier cancel is forgotten, it times out
    /// after `timeout`, and each of its lock waits after `lock_timeout`
    /// (none: never).
    pub fn start_statement(&self, timeout: Option<Duration>, lock_timeout: Option<Duration>) {
        let lock_nanos = lock_timeout.map_or(0, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1)
        });
        self.lock_timeout.store(lock_nanos, Ordering::Release);
        let _ =
            self.state
                .compare_exchange(CANCELLED, RUNNING, Ordering::AcqRel, Ordering::Acquire);
        let deadline = timeout
            .and_then(|t| Instant::now().checked_add(t))
            .map_or(0, nanos_since_base);
        self.deadline.store(deadline, Ordering::Release);
    }

    /// The statement ended: no deadline any more.
    pub fn end_statement(&self) {
        self.deadline.store(0, Ordering::Release);
        self.lock_timeout.store(0, Ordering::Release);
    }

    /// How long one lock wait may last, if limited.
    pub fn lock_timeout(&self) -> Option<Duration> {
        match self.lock_timeout.load(Ordering::Acquire) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// The time left before the statement times out, if it has a deadline.
    pub fn time_left(&self) -> Option<Duration> {
        match self.deadline.load(Ordering::Acquire) {
            0 => None,
            at => Some(Duration::from_nanos(
                at.saturating_sub(nanos_since_base(Instant::now())),
            )),
        }
    }

    /// Fails when the statement must stop.
    pub fn check(&self) -> Result<()> {
        match self.state.load(Ordering::Acquire) {
            CANCELLED => return Err(cancelled()),
            TERMINATED => return Err(terminated()),
            _ => {}
        }
        if self.time_left().is_some_and(|left| left.is_zero()) {
            return Err(Error::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ));
        }
        Ok(())
    }
}

/// The error of a statement stopped by a cancel request.
pub fn cancelled() -> Error {
    Error::new(
        sqlstate::QUERY_CANCELED,
        "canceling statement due to user request",
    )
}

/// The error of a lock wait longer than `lock_timeout`.
pub fn lock_timed_out() -> Error {
    Error::new(
        sqlstate::LOCK_NOT_AVAILABLE,
        "canceling statement due to lock timeout",
    )
}

/// Fails when the statement this thread is running has waited `waited`
/// for a lock, longer than its `lock_timeout`, or must stop; else how
/// long it may wait before looking again (at most `tick`).
pub fn check_lock_wait(waited: Duration, tick: Duration) -> Result<Duration> {
    let Some(interrupt) = current() else {
        return Ok(tick);
    };
    interrupt.check()?;
    let mut next = tick;
    if let Some(limit) = interrupt.lock_timeout() {
        if waited >= limit {
            return Err(lock_timed_out());
        }
        next = next.min(limit - waited);
    }
    if let Some(left) = interrupt.time_left() {
        next = next.min(left.max(Duration::from_millis(1)));
    }
    Ok(next)
}

/// The error of a session ended by `pg_terminate_backend`.
pub fn terminated() -> Error {
    Error::new(
        sqlstate::ADMIN_SHUTDOWN,
        "terminating connection due to administrator command",
    )
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Interrupt>>> = const { RefCell::new(None) };
}

/// The interrupt of the statement this thread is running, if any.
pub fn current() -> Option<Arc<Interrupt>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Fails when the statement this thread is running must stop.
pub fn check() -> Result<()> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(interrupt) => interrupt.check(),
        None => Ok(()),
    })
}

pin_project_lite::pin_project! {
    /// A future run with `interrupt` as the thread's current interrupt
    /// whenever it is polled.
    pub struct Interruptible<F> {
        #[pin]
        inner: F,
        interrupt: Option<Arc<Interrupt>>,
    }
}

impl<F> Interruptible<F> {
    pub fn new(inner: F, interrupt: Option<Arc<Interrupt>>) -> Interruptible<F> {
        Interruptible { inner, interrupt }
    }
}

impl<F: Future> Future for Interruptible<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let previous = CURRENT.with(|c| c.replace(this.interrupt.clone()));
        let out = this.inner.poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_stops_the_running_statement_only() {
        let i = Interrupt::new();
        assert!(i.check().is_ok());
        i.cancel();
        assert_eq!(i.check().unwrap_err().code, sqlstate::QUERY_CANCELED);
        i.start_statement(None, None);
        assert!(i.check().is_ok(), "a new statement forgets the cancel");
        i.terminate();
        i.start_statement(None, None);
        assert_eq!(i.check().unwrap_err().code, sqlstate::ADMIN_SHUTDOWN);
    }

    #[test]
    fn a_statement_times_out_at_its_deadline() {
        let i = Interrupt::new();
        i.start_statement(Some(Duration::from_millis(20)), None);
        assert!(i.check().is_ok());
        std::thread::sleep(Duration::from_millis(30));
        let e = i.check().unwrap_err();
        assert_eq!(e.code, sqlstate::QUERY_CANCELED);
        assert!(e.message.contains("statement timeout"));
        i.end_statement();
        assert!(i.check().is_ok());
    }

    #[test]
    fn the_current_interrupt_is_the_polled_futures() {
        let i = Interrupt::new();
        i.cancel();
        let polled = Interruptible::new(async { check() }, Some(i.clone()));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut polled = std::pin::pin!(polled);
        match polled.as_mut().poll(&mut cx) {
            Poll::Ready(r) => assert!(r.is_err()),
            Poll::Pending => panic!("ready at once"),
        }
        assert!(check().is_ok(), "not current outside the future");
    }
}
