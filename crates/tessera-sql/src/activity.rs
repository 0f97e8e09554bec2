//! The node's live sessions: what `pg_stat_activity` lists, what a
//! CancelRequest or `pg_cancel_backend` finds by process id, and what
//! `pg_terminate_backend` ends.
//!
//! A session registers when its connection is accepted and is removed
//! when the connection ends, however it ends ([`Registration`] drops).
//! The registry is one per process, behind a mutex taken once per
//! connect, disconnect and catalog read; what a session reports as it
//! runs (its state, its query) is behind a mutex of its own, written
//! by its connection only.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tessera_types::interrupt::Interrupt;

/// One session, as the registry knows it.
#[derive(Debug)]
pub struct Activity {
    pub pid: u32,
    secret: u32,
    pub interrupt: Arc<Interrupt>,
    /// Woken by `pg_terminate_backend`, so that an idle connection
    /// waiting for its client ends too.
    pub terminated: tokio::sync::Notify,
    info: Mutex<ActivityInfo>,
    /// The channels the session listens to (LISTEN), and what was
    /// notified on them and not yet sent to its client.
    channels: Mutex<BTreeSet<String>>,
    inbox: Mutex<VecDeque<Notification>>,
    /// Woken when a notification arrives, so an idle connection sends it.
    pub notified: tokio::sync::Notify,
    /// What `pg_notify` calls of the running statement asked to send
    /// (channel, payload): the router hands them to the session's NOTIFY
    /// when the statement succeeds and drops them when it fails. At most
    /// [`NOTIFY_QUEUE_MAX`].
    statement_notifies: Mutex<Vec<(String, String)>>,
    /// Microseconds the running statement's `pg_sleep` calls asked for in
    /// total; the router sleeps them once the statement has run.
    statement_sleep_us: AtomicU64,
}

/// A NOTIFY as a listening session receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notifying session.
    pub pid: u32,
    pub channel: String,
    pub payload: String,
}

/// The most notifications one session may have waiting for its client;
/// a NOTIFY that would queue more fails with 54000, as PostgreSQL's does
/// when its queue is full.
pub const NOTIFY_QUEUE_MAX: usize = 100_000;

/// A NOTIFY payload must be shorter than this many bytes (22023).
pub const NOTIFY_PAYLOAD_MAX: usize = 8000;

/// A channel name must be shorter than this many bytes (22023), as
/// PostgreSQL's identifiers are (NAMEDATALEN).
pub const NOTIFY_CHANNEL_MAX: usize = 64;

/// `pg_sleep(seconds)` in the statement of session `pid`: the time is
/// added to what the router waits once the statement has run (so a call
/// per row sleeps once per row). Negative and NaN sleep no time; an
/// infinite one lasts until the statement is cancelled or times out.
fn pg_sleep(pid: Option<u32>, seconds: f64) -> tessera_types::Result<()> {
    let Some(me) = pid.and_then(|pid| sessions().find(pid)) else {
        return Err(tessera_types::Error::unsupported(
            "pg_sleep outside a client session",
        ));
    };
    // NaN and negative numbers fail the comparison; the cast saturates.
    let micros = if seconds > 0.0 {
        (seconds * 1e6).ceil() as u64
    } else {
        0
    };
    // Calls on several shards add up at once.
    let _ = me
        .statement_sleep_us
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |total| {
            Some(total.saturating_add(micros))
        });
    Ok(())
}

/// `pg_notify(channel, payload)` in the statement of session `pid`:
/// checks the arguments as PostgreSQL does and keeps the notification
/// for the router, which sends it if the statement succeeds.
fn pg_notify(pid: Option<u32>, args: &[tessera_types::Value]) -> tessera_types::Result<()> {
    use tessera_types::{sqlstate, Error, Value};
    let invalid = |m: &str| Error::new(sqlstate::INVALID_PARAMETER_VALUE, m);
    let channel = match args.first() {
        Some(Value::Text(c)) if !c.is_empty() => c.clone(),
        _ => return Err(invalid("channel name cannot be empty")),
    };
    if channel.len() >= NOTIFY_CHANNEL_MAX {
        return Err(invalid("channel name too long"));
    }
    let payload = match args.get(1) {
        Some(Value::Text(p)) => p.clone(),
        _ => String::new(),
    };
    if payload.len() >= NOTIFY_PAYLOAD_MAX {
        return Err(invalid("payload string too long"));
    }
    let Some(me) = pid.and_then(|pid| sessions().find(pid)) else {
        return Err(Error::unsupported("pg_notify outside a client session"));
    };
    let mut queue = lock(&me.statement_notifies);
    if queue.len() >= NOTIFY_QUEUE_MAX {
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "too many notifications in the NOTIFY queue",
        ));
    }
    queue.push((channel, payload));
    Ok(())
}

/// Delivers a NOTIFY from session `from` to every session listening on
/// `channel` (the notifier too, as in PostgreSQL).
pub fn notify(from: u32, channel: &str, payload: &str) -> tessera_types::Result<()> {
    let listeners: Vec<Arc<Activity>> = sessions()
        .list()
        .into_iter()
        .filter(|a| lock(&a.channels).contains(channel))
        .collect();
    if listeners
        .iter()
        .any(|a| lock(&a.inbox).len() >= NOTIFY_QUEUE_MAX)
    {
        return Err(tessera_types::Error::new(
            tessera_types::sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "too many notifications in the NOTIFY queue",
        ));
    }
    for a in listeners {
        lock(&a.inbox).push_back(Notification {
            pid: from,
            channel: channel.to_string(),
            payload: payload.to_string(),
        });
        a.notified.notify_one();
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `pg_stat_activity` shows of a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityInfo {
    pub user: String,
    pub database: String,
    pub application_name: String,
    pub client_addr: Option<std::net::IpAddr>,
    pub client_port: Option<u16>,
    /// Microseconds since the Unix epoch.
    pub backend_start: i64,
    pub xact_start: Option<i64>,
    pub query_start: Option<i64>,
    pub state_change: i64,
    /// `active`, `idle`, `idle in transaction` or `idle in transaction
    /// (aborted)`.
    pub state: &'static str,
    pub query: String,
}

impl Activity {
    /// A copy of what the session reports.
    pub fn info(&self) -> ActivityInfo {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes what the session reports.
    pub fn update(&self, change: impl FnOnce(&mut ActivityInfo)) {
        change(&mut self.info.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// `pg_stat_activity` shows `sql` running from now on (the
    /// transaction started now unless it had already).
    pub fn report_active(&self, sql: &str) {
        let now = now_micros();
        self.update(|a| {
            a.state = "active";
            a.query.clear();
            a.query.push_str(sql);
            a.query_start = Some(now);
            a.state_change = now;
            a.xact_start.get_or_insert(now);
        });
    }

    /// What the running statement's `pg_notify` calls asked to send, in
    /// call order; none are left.
    pub fn take_statement_notifies(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *lock(&self.statement_notifies))
    }

    /// How long the running statement's `pg_sleep` calls asked to sleep;
    /// nothing is left.
    pub fn take_statement_sleep(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.statement_sleep_us.swap(0, Ordering::AcqRel))
    }

    /// Listens to `channel` (`listen` false: stops; the channel `*`:
    /// stops listening to all).
    pub fn listen(&self, channel: &str, listen: bool) {
        let mut channels = lock(&self.channels);
        match (listen, channel) {
            (true, _) => {
                channels.insert(channel.to_string());
            }
            (false, "*") => channels.clear(),
            (false, _) => {
                channels.remove(channel);
            }
        }
    }

    /// The notifications waiting for the client, taken.
    pub fn take_notifications(&self) -> Vec<Notification> {
        lock(&self.inbox).drain(..).collect()
    }

    /// Ends the session: its running statement stops, and its connection
    /// closes with 57P01.
    pub fn terminate(&self) {
        self.interrupt.terminate();
        self.terminated.notify_one();
    }
}

/// Now, in microseconds since the Unix epoch (the times
/// [`ActivityInfo`] holds).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The live sessions of this process, by process id.
#[derive(Debug, Default)]
pub struct Sessions {
    by_pid: Mutex<BTreeMap<u32, Arc<Activity>>>,
}

/// The process's registry.
pub fn sessions() -> &'static Sessions {
    static SESSIONS: OnceLock<Sessions> = OnceLock::new();
    SESSIONS.get_or_init(Sessions::default)
}

/// A session's place in the registry, held by its connection; dropping
/// it removes the session.
#[derive(Debug)]
pub struct Registration {
    activity: Arc<Activity>,
}

impl Registration {
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut by_pid = sessions().by_pid.lock().unwrap_or_else(|e| e.into_inner());
        if by_pid
            .get(&self.activity.pid)
            .is_some_and(|a| Arc::ptr_eq(a, &self.activity))
        {
            by_pid.remove(&self.activity.pid);
        }
    }
}

impl Sessions {
    /// Registers a session with its BackendKeyData and its interrupt.
    pub fn register(
        &self,
        pid: u32,
        secret: u32,
        interrupt: Arc<Interrupt>,
        info: ActivityInfo,
    ) -> Registration {
        let activity = Arc::new(Activity {
            pid,
            secret,
            interrupt,
            terminated: tokio::sync::Notify::new(),
            info: Mutex::new(info),
            channels: Mutex::default(),
            inbox: Mutex::default(),
            notified: tokio::sync::Notify::new(),
            statement_notifies: Mutex::default(),
            statement_sleep_us: AtomicU64::new(0),
        });
        self.by_pid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid, activity.clone());
        Registration { activity }
    }

    /// The session with process id `pid`.
    pub fn find(&self, pid: u32) -> Option<Arc<Activity>> {
        self.by_pid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pid)
            .cloned()
    }

    /// A CancelRequest: cancels the running statement of session `pid`
    /// when `secret` is its key. Whether it did (the client is told
    /// nothing either way).
    pub fn cancel_request(&self, pid: u32, secret: u32) -> bool {
        match self.find(pid) {
            Some(a) if a.secret == secret => {
                a.interrupt.cancel();
                true
            }
            _ => false,
        }
    }

    /// Every live session, by process id.
    pub fn list(&self) -> Vec<Arc<Activity>> {
        self.by_pid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// The process id of the client session whose statement this thread is
/// running (its interrupt names it), if any.
pub fn current_pid() -> Option<u32> {
    Some(tessera_types::interrupt::current()?.pid()).filter(|pid| *pid != 0)
}

/// The functions that read or signal sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SessionFn {
    /// `pg_backend_pid()`: the process id of the session running it.
    BackendPid,
    /// `pg_cancel_backend(pid)`: cancels the session's running statement.
    CancelBackend,
    /// `pg_terminate_backend(pid [, timeout])`: ends the session.
    TerminateBackend,
    /// `pg_notify(channel, payload)`: NOTIFY with the channel as text,
    /// sent when the statement succeeds (at commit inside a block).
    Notify,
    /// `pg_sleep(seconds)`: adds to the time the router waits once the
    /// statement has run, so no shard thread ever blocks.
    Sleep,
}

impl SessionFn {
    /// The function `name` with `arity` arguments: it, its result type
    /// and its argument types.
    pub fn named(
        name: &str,
        arity: usize,
    ) -> Option<(
        SessionFn,
        tessera_types::DataType,
        &'static [tessera_types::DataType],
    )> {
        use tessera_types::DataType::{Bool, Float8, Int4, Int8, Text, Void};
        Some(match (name, arity) {
            ("pg_sleep", 1) => (SessionFn::Sleep, Void, &[Float8]),
            ("pg_notify", 2) => (SessionFn::Notify, Void, &[Text, Text]),
            ("pg_backend_pid", 0) => (SessionFn::BackendPid, Int4, &[]),
            ("pg_cancel_backend", 1) => (SessionFn::CancelBackend, Bool, &[Int4]),
            ("pg_terminate_backend", 1) => (SessionFn::TerminateBackend, Bool, &[Int4]),
            ("pg_terminate_backend", 2) => (SessionFn::TerminateBackend, Bool, &[Int4, Int8]),
            _ => return None,
        })
    }

    pub fn eval(
        self,
        args: &[tessera_types::Value],
    ) -> tessera_types::Result<tessera_types::Value> {
        use tessera_types::Value;
        if self == SessionFn::BackendPid {
            return Ok(current_pid().map_or(Value::Null, |p| Value::Int4(p as i32)));
        }
        if self == SessionFn::Notify {
            pg_notify(current_pid(), args)?;
            return Ok(Value::Text(String::new()));
        }
        if self == SessionFn::Sleep {
            let seconds = match args.first() {
                Some(Value::Float8(s)) => *s,
                // pg_sleep is strict.
                _ => return Ok(Value::Null),
            };
            pg_sleep(current_pid(), seconds)?;
            return Ok(Value::Text(String::new()));
        }
        let pid = match args.first() {
            Some(Value::Int4(p)) => *p as u32,
            _ => return Ok(Value::Null),
        };
        if let Some(Value::Int8(t)) = args.get(1) {
            if *t < 0 {
                return Err(tessera_types::Error::new(
                    tessera_types::sqlstate::INVALID_PARAMETER_VALUE,
                    "\"timeout\" must not be negative",
                ));
            }
        }
        let Some(session) = sessions().find(pid) else {
            // PostgreSQL warns and returns false.
            return Ok(Value::Bool(false));
        };
        match self {
            SessionFn::CancelBackend => session.interrupt.cancel(),
            _ => session.terminate(),
        }
        Ok(Value::Bool(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_request_needs_the_sessions_key() {
        let interrupt = Interrupt::new();
        let pid = 0x7FFF_0001;
        let registration = sessions().register(pid, 42, interrupt.clone(), ActivityInfo::default());
        assert!(!sessions().cancel_request(pid, 41));
        assert!(interrupt.check().is_ok());
        assert!(sessions().cancel_request(pid, 42));
        assert!(interrupt.check().is_err());
        drop(registration);
        assert!(sessions().find(pid).is_none(), "gone with its connection");
    }
}
