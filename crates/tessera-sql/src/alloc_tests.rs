//! The executor's hot paths allocate per block of rows, not per row: a
//! counting allocator (this test binary's only) tells how many blocks a
//! fragment's output, a hash join, a sort with LIMIT and a set operation
//! take over ten thousand rows.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tessera_types::Value;

use crate::expr::{Expr, Params};
use crate::plan::{FragmentOutput, Join, JoinKind, ScanFragment, SelectPlan, SortKey, Source};
use crate::rows::Rows;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// What `f` returns, and how many allocations it made on this thread.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

const ROWS: usize = 10_000;
/// Far fewer allocations than rows: a few per block of
/// [`crate::batch::BATCH_ROWS`] and per growth of an output vector.
const MOST: usize = ROWS / 20;

fn rows(width: usize, value: impl Fn(usize, usize) -> i64) -> Rows {
    let mut rows = Rows::with_capacity(width, ROWS);
    for i in 0..ROWS {
        rows.push((0..width).map(|c| Value::Int8(value(i, c))));
    }
    rows
}

fn fragment(output: Vec<Expr>) -> ScanFragment {
    ScanFragment {
        table: None,
        primary_key: None,
        index: None,
        series: None,
        lookup: None,
        filter: None,
        output: FragmentOutput::Project(output),
    }
}

#[test]
fn a_fragment_collects_its_rows_in_one_block() {
    let input = rows(3, |i, c| (i * 3 + c) as i64);
    let params = Params::default();
    let fragment = fragment(vec![Expr::Column(2), Expr::Column(0)]);
    let (out, allocations) = counted(|| {
        let mut sink = crate::shard::Sink::new(&fragment);
        for batch in input.batches(crate::batch::BATCH_ROWS) {
            sink.push_batch(&batch, &params).unwrap();
        }
        sink.finish(&params).unwrap()
    });
    assert_eq!((out.len(), out.width()), (ROWS, 2));
    assert_eq!(out[7], [Value::Int8(23), Value::Int8(21)]);
    assert!(
        allocations < MOST,
        "{allocations} allocations for {ROWS} rows"
    );
}

#[test]
fn a_hash_join_hands_on_blocks_of_rows() {
    // Left rows (key, tag, NULL), right rows (NULL, NULL, key): every
    // left row joins one right row.
    let left = rows(3, |i, c| [i as i64, -(i as i64), 0][c]);
    let right = rows(3, |i, _| (ROWS - 1 - i) as i64);
    let join = Join {
        kind: JoinKind::Inner,
        left: Source::Values(vec![]),
        right: Source::Values(vec![]),
        right_columns: vec![(2, 1)],
        keys: vec![(Expr::Column(0), Expr::Column(2))],
        residual: None,
    };
    let params = Params::default();
    let (out, allocations) =
        counted(|| crate::join::join_rows(&join, left, right, &params).unwrap());
    assert_eq!((out.len(), out.width()), (ROWS, 3));
    assert!(out.iter().all(|r| r[0] == r[2]));
    assert!(
        allocations < MOST,
        "{allocations} allocations for {ROWS} rows"
    );
}

#[test]
fn a_sort_with_limit_and_distinct_reorders_in_place() {
    let input = rows(2, |i, c| [(i % 5000) as i64, i as i64][c]);
    let plan = SelectPlan {
        target: crate::plan::Target::NoTable,
        source: None,
        fragment: fragment(vec![]),
        aggregate: None,
        distinct: true,
        distinct_on: vec![],
        order_by: vec![SortKey {
            column: 1,
            descending: true,
            nulls_first: false,
        }],
        limit: Some(Expr::Literal(Value::Int8(100))),
        offset: Some(Expr::Literal(Value::Int8(10))),
        visible: 1,
        window: None,
    };
    let params = Params::default();
    let (out, allocations) =
        counted(|| crate::router::finish_select(&plan, input, &params).unwrap());
    assert_eq!((out.len(), out.width()), (100, 1));
    assert_eq!(out[0], [Value::Int8(4989)]);
    assert!(
        allocations < MOST,
        "{allocations} allocations for {ROWS} rows"
    );
}

#[test]
fn a_union_keeps_its_rows_side_by_side() {
    use crate::plan::{SetOp, SetOpKind};
    let left = rows(2, |i, c| (i / 2 + c) as i64);
    let right = rows(2, |i, c| (i + c) as i64);
    let op = SetOp {
        kind: SetOpKind::Union,
        all: false,
        left: Source::Values(vec![]),
        right: Source::Values(vec![]),
        casts: [vec![None, None], vec![None, None]],
    };
    let params = Params::default();
    let (out, allocations) = counted(|| crate::join::set_rows(&op, left, right, &params).unwrap());
    assert_eq!(out.len(), ROWS);
    assert!(
        allocations < MOST,
        "{allocations} allocations for {ROWS} rows"
    );
}
