//! Advisory locks (`pg_advisory_lock` and its family): locks on numbers
//! that applications define the meaning of, held by sessions of this
//! node, at session level (until unlocked or the session ends) or
//! transaction level (until the transaction ends), exclusive or shared.
//!
//! The lock table is one per process. A function that must wait cannot
//! wait where expressions are evaluated (synchronously, on a shard's
//! thread): it fails with an internal "wait" error instead, the locks the
//! statement took so far are given back, and the router waits for a
//! release and runs the statement again. Only a query that writes
//! nothing runs again; in a statement that writes, a lock that would
//! wait is 0A000.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tessera_types::sqlstate::SqlState;
use tessera_types::{sqlstate, Error, Result, Value};

/// The code of the internal error that asks the router to wait; never
/// sent to a client.
const WAIT: SqlState = SqlState("XXADV");

/// An advisory lock's key: one bigint, or two integers (another key
/// space, as in PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    One(i64),
    Two(i32, i32),
}

#[derive(Debug, Default)]
struct Holder {
    pid: u32,
    exclusive: bool,
    /// Times taken at session level and at transaction level.
    session: u32,
    xact: u32,
}

#[derive(Debug, Default)]
struct Table {
    locks: HashMap<Key, Vec<Holder>>,
    /// Per session: the locks its running statement took, to give back
    /// when it must wait and run again.
    taken: HashMap<u32, Vec<(Key, bool, bool)>>,
}

/// The process's advisory locks.
#[derive(Debug, Default)]
pub struct AdvisoryLocks {
    table: Mutex<Table>,
    /// Woken whenever a lock is released.
    released: tokio::sync::Notify,
    /// Whether any transaction-level lock may be held: the end of every
    /// transaction looks at the table only then.
    any_xact: std::sync::atomic::AtomicBool,
}

/// The process's lock table.
pub fn locks() -> &'static AdvisoryLocks {
    static LOCKS: OnceLock<AdvisoryLocks> = OnceLock::new();
    LOCKS.get_or_init(AdvisoryLocks::default)
}

/// Whether `e` asks the router to wait for an advisory lock.
pub fn is_wait(e: &Error) -> bool {
    e.code == WAIT
}

impl AdvisoryLocks {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `key` for `pid` unless another session holds it in a
    /// conflicting mode; whether it did.
    pub fn try_lock(&self, pid: u32, key: Key, exclusive: bool, xact: bool) -> bool {
        let mut table = self.table();
        let holders = table.locks.entry(key).or_default();
        let conflict = holders
            .iter()
            .any(|h| h.pid != pid && (exclusive || h.exclusive));
        if conflict {
            return false;
        }
        let at = match holders
            .iter()
            .position(|h| h.pid == pid && h.exclusive == exclusive)
        {
            Some(at) => at,
            None => {
                holders.push(Holder {
                    pid,
                    exclusive,
                    ..Holder::default()
                });
                holders.len() - 1
            }
        };
        if xact {
            holders[at].xact += 1;
            self.any_xact
                .store(true, std::sync::atomic::Ordering::Release);
        } else {
            holders[at].session += 1;
        }
        table
            .taken
            .entry(pid)
            .or_default()
            .push((key, exclusive, xact));
        true
    }

    /// Releases one session-level hold of `key` by `pid`; whether it
    /// held one.
    pub fn unlock(&self, pid: u32, key: Key, exclusive: bool) -> bool {
        let released = self.release(pid, |k, h| {
            if *k == key && h.exclusive == exclusive && h.session > 0 {
                h.session -= 1;
                true
            } else {
                false
            }
        });
        released > 0
    }

    /// Releases what `pid` holds at session level (`pg_advisory_unlock_all`).
    pub fn unlock_all(&self, pid: u32) {
        self.release(pid, |_, h| {
            let had = h.session > 0;
            h.session = 0;
            had
        });
    }

    /// The transaction of `pid` ended: its transaction-level locks go.
    pub fn end_transaction(&self, pid: u32) {
        use std::sync::atomic::Ordering;
        if !self.any_xact.load(Ordering::Acquire) {
            return;
        }
        self.release(pid, |_, h| {
            let had = h.xact > 0;
            h.xact = 0;
            had
        });
        let table = self.table();
        let left = table.locks.values().flatten().any(|h| h.xact > 0);
        self.any_xact.store(left, Ordering::Release);
    }

    /// The session `pid` ended: everything it holds goes.
    pub fn end_session(&self, pid: u32) {
        self.release(pid, |_, h| {
            h.session = 0;
            h.xact = 0;
            true
        });
        self.table().taken.remove(&pid);
    }

    /// Applies `change` to `pid`'s holders (it says whether it released
    /// anything), drops empty ones and wakes waiters; how many changed.
    fn release(&self, pid: u32, mut change: impl FnMut(&Key, &mut Holder) -> bool) -> usize {
        let mut changed = 0;
        {
            let mut table = self.table();
            table.locks.retain(|key, holders| {
                for h in holders.iter_mut().filter(|h| h.pid == pid) {
                    if change(key, h) {
                        changed += 1;
                    }
                }
                holders.retain(|h| h.session + h.xact > 0);
                !holders.is_empty()
            });
        }
        if changed > 0 {
            self.released.notify_waiters();
        }
        changed
    }

    /// A statement of `pid` starts or ended: what it took is no longer
    /// its own to give back.
    pub fn forget_statement(&self, pid: u32) {
        self.table().taken.remove(&pid);
    }

    /// The statement of `pid` must wait: what it took is given back.
    pub fn undo_statement(&self, pid: u32) {
        let taken = self.table().taken.remove(&pid).unwrap_or_default();
        for (key, exclusive, xact) in taken {
            self.release(pid, |k, h| {
                if *k != key || h.exclusive != exclusive {
                    return false;
                }
                let count = if xact { &mut h.xact } else { &mut h.session };
                if *count == 0 {
                    return false;
                }
                *count -= 1;
                true
            });
        }
    }

    /// Waits until some lock is released, or `most` passed.
    pub async fn wait_release(&self, most: Duration) {
        let released = self.released.notified();
        let _ = tokio::time::timeout(most, released).await;
    }
}

/// The advisory lock functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdvisoryFn {
    /// Take the lock, waiting for it (`try`: without waiting, saying
    /// whether it was taken).
    Lock {
        exclusive: bool,
        xact: bool,
        try_only: bool,
    },
    Unlock {
        exclusive: bool,
    },
    UnlockAll,
}

impl AdvisoryFn {
    /// The function `name` with `arity` arguments.
    pub fn named(name: &str, arity: usize) -> Option<AdvisoryFn> {
        let rest = name.strip_prefix("pg_")?;
        if rest == "advisory_unlock_all" {
            return (arity == 0).then_some(AdvisoryFn::UnlockAll);
        }
        if !(1..=2).contains(&arity) {
            return None;
        }
        let (try_only, rest) = match rest.strip_prefix("try_") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let rest = rest.strip_prefix("advisory_")?;
        let (rest, exclusive) = match rest.strip_suffix("_shared") {
            Some(r) => (r, false),
            None => (rest, true),
        };
        Some(match (rest, try_only) {
            ("lock", _) => AdvisoryFn::Lock {
                exclusive,
                xact: false,
                try_only,
            },
            ("xact_lock", _) => AdvisoryFn::Lock {
                exclusive,
                xact: true,
                try_only,
            },
            ("unlock", false) => AdvisoryFn::Unlock { exclusive },
            _ => return None,
        })
    }

    /// The result type: void for a waiting lock and unlock_all (shown as
    /// an empty string), bool otherwise.
    pub fn returns_bool(self) -> bool {
        matches!(
            self,
            AdvisoryFn::Lock { try_only: true, .. } | AdvisoryFn::Unlock { .. }
        )
    }

    /// Whether a call may have to wait.
    pub fn may_wait(self) -> bool {
        matches!(
            self,
            AdvisoryFn::Lock {
                try_only: false,
                ..
            }
        )
    }

    /// Evaluates a call by session `pid` (none: not a client session's
    /// statement, which fails).
    pub fn eval(self, pid: Option<u32>, args: &[Value]) -> Result<Value> {
        let pid = pid.ok_or_else(|| {
            Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "advisory locks outside a client session",
            )
        })?;
        let key = match args {
            [] => None,
            [Value::Int8(k)] => Some(Key::One(*k)),
            [Value::Int4(a), Value::Int4(b)] => Some(Key::Two(*a, *b)),
            _ => return Ok(Value::Null),
        };
        let void = || Value::Text(String::new());
        match (self, key) {
            (AdvisoryFn::UnlockAll, _) => {
                locks().unlock_all(pid);
                Ok(void())
            }
            (AdvisoryFn::Unlock { exclusive }, Some(key)) => {
                Ok(Value::Bool(locks().unlock(pid, key, exclusive)))
            }
            (
                AdvisoryFn::Lock {
                    exclusive,
                    xact,
                    try_only,
                },
                Some(key),
            ) => {
                let taken = locks().try_lock(pid, key, exclusive, xact);
                match (taken, try_only) {
                    (_, true) => Ok(Value::Bool(taken)),
                    (true, false) => Ok(void()),
                    (false, false) => Err(Error::new(WAIT, "waiting for an advisory lock")),
                }
            }
            _ => Ok(Value::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_and_shared_holds_conflict_as_in_postgresql() {
        let l = AdvisoryLocks::default();
        let k = Key::One(-77);
        assert!(l.try_lock(1, k, true, false));
        assert!(l.try_lock(1, k, true, false), "re-entrant");
        assert!(
            !l.try_lock(2, k, false, false),
            "shared waits for exclusive"
        );
        assert!(l.unlock(1, k, true));
        assert!(!l.try_lock(2, k, true, false), "still held once");
        assert!(l.unlock(1, k, true));
        assert!(!l.unlock(1, k, true), "not held any more");
        assert!(l.try_lock(2, k, false, false));
        assert!(l.try_lock(3, k, false, true), "shared with shared");
        assert!(!l.try_lock(1, k, true, false));
        l.end_transaction(3);
        l.end_session(2);
        assert!(l.try_lock(1, k, true, false));
        assert!(
            l.try_lock(2, Key::Two(-1, -77), true, false),
            "another key space"
        );
    }

    #[test]
    fn a_statement_that_must_wait_gives_back_what_it_took() {
        let l = AdvisoryLocks::default();
        l.forget_statement(5);
        assert!(l.try_lock(5, Key::One(1), true, false));
        l.undo_statement(5);
        assert!(l.try_lock(6, Key::One(1), true, false), "given back");
    }

    #[test]
    fn the_functions_are_found_by_name() {
        assert_eq!(
            AdvisoryFn::named("pg_try_advisory_xact_lock_shared", 1),
            Some(AdvisoryFn::Lock {
                exclusive: false,
                xact: true,
                try_only: true
            })
        );
        assert_eq!(
            AdvisoryFn::named("pg_advisory_unlock_all", 0),
            Some(AdvisoryFn::UnlockAll)
        );
        assert_eq!(AdvisoryFn::named("pg_try_advisory_unlock", 1), None);
        assert_eq!(AdvisoryFn::named("pg_advisory_lock", 3), None);
    }
}
