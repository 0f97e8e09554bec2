//! How much heap the node holds, and the limit past which queries and
//! writes fail with 53200 instead of growing the process until the kernel
//! kills it.
//!
//! The binary installs [`CountingAlloc`] as its global allocator: it
//! counts the bytes every thread has allocated and not yet freed. Each
//! thread keeps its own running difference and adds it to the node's
//! total once it passes [`FLUSH_BYTES`] either way, so an allocation costs
//! a thread-local addition, not a shared atomic. The total is therefore
//! exact to within `FLUSH_BYTES` per thread.
//!
//! Work that accumulates rows (a scan's results, a join, a hash table,
//! aggregation groups) calls [`check`] as it goes, every so many rows; a
//! statement past the limit stops there and frees what it held. A process
//! without the counting allocator (unit tests) reads a total of zero, so
//! nothing is ever refused.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use crate::{sqlstate, Error, Result};

/// A thread adds its difference to the total once it is this far off.
pub const FLUSH_BYTES: isize = 256 * 1024;

/// Bytes allocated and not freed, over all threads (less what each thread
/// has not flushed yet).
static HEAP: AtomicIsize = AtomicIsize::new(0);

/// The limit in bytes; 0 when there is none.
static LIMIT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's difference not yet added to `HEAP`. No destructor,
    /// so reading it never allocates or fails while a thread exits.
    static UNFLUSHED: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let flushed = UNFLUSHED.try_with(|local| {
        let sum = local.get() + delta;
        if sum.abs() >= FLUSH_BYTES {
            HEAP.fetch_add(sum, Ordering::Relaxed);
            local.set(0);
        } else {
            local.set(sum);
        }
    });
    if flushed.is_err() {
        HEAP.fetch_add(delta, Ordering::Relaxed);
    }
}

/// The system allocator, counting what is held (see the module comment).
pub struct CountingAlloc;

// SAFETY: every call is passed unchanged to the system allocator, which
// upholds `GlobalAlloc`'s contract; counting touches only atomics and a
// const-initialised thread-local without a destructor, never the heap.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Bytes of heap the node holds (0 without the counting allocator).
pub fn heap_bytes() -> usize {
    HEAP.load(Ordering::Relaxed).max(0) as usize
}

/// Sets the node's limit (0: none).
pub fn set_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// The node's limit, if one is set.
pub fn limit() -> Option<usize> {
    match LIMIT.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// Fails with 53200 when the node holds more heap than its limit, and
/// with 57014 when the statement running on this thread must stop (see
/// [`crate::interrupt`]).
pub fn check() -> Result<()> {
    crate::interrupt::check()?;
    match limit() {
        Some(limit) if heap_bytes() > limit => Err(over_limit(heap_bytes(), limit)),
        _ => Ok(()),
    }
}

/// [`check`] once every `every` calls of a loop (`n` counts them).
pub fn check_every(n: usize, every: usize) -> Result<()> {
    if n.is_multiple_of(every) {
        check()
    } else {
        Ok(())
    }
}

fn over_limit(held: usize, limit: usize) -> Error {
    Error::new(sqlstate::OUT_OF_MEMORY, "out of memory")
        .with_detail(format!(
            "The node holds {} MiB, more than its memory limit of {} MiB; the statement was stopped and what it held freed.",
            held.div_ceil(1 << 20),
            limit >> 20
        ))
        .with_hint("Filter or aggregate more of the data where it lives, or raise --memory-limit.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_flushes_its_difference_once_it_passes_the_threshold() {
        // The test binary has the system allocator, so only `count` moves
        // the total here; other tests' threads do not touch it.
        let before = HEAP.load(Ordering::Relaxed);
        std::thread::spawn(|| {
            count(FLUSH_BYTES - 1);
            assert_eq!(HEAP.load(Ordering::Relaxed), 0);
            count(1);
            assert_eq!(HEAP.load(Ordering::Relaxed), FLUSH_BYTES);
            count(-FLUSH_BYTES);
            assert_eq!(HEAP.load(Ordering::Relaxed), 0);
        })
        .join()
        .unwrap();
        assert_eq!(HEAP.load(Ordering::Relaxed), before);
    }

    #[test]
    fn past_the_limit_is_53200() {
        let e = over_limit(3 << 20, 2 << 20);
        assert_eq!(e.code, sqlstate::OUT_OF_MEMORY);
        assert!(e.detail.as_deref().unwrap().contains("3 MiB"));
    }
}
