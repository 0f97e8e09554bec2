//! Global tables in a cluster (docs/CLUSTER.md §7): their rows are part of
//! the metadata Raft group's tables, changed by writes that hold only if
//! every row they change is still as the writer saw it; every node keeps a
//! copy on its shard 0, which follows the writes in log order.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::encoding::{Reader, Writer};
use crate::{Result, TableId, Value};

/// One row change of a global table: the row under `key` goes from `old`
/// to `new` (encoded with [`encode_row`]; `None`: no row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalOp {
    pub table: TableId,
    pub key: Vec<u8>,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
}

/// One table's rows: storage key → encoded row.
pub type GlobalRows = Arc<BTreeMap<Vec<u8>, Vec<u8>>>;

/// What a node's copy needs to catch up with the cluster's.
#[derive(Debug, Clone)]
pub enum GlobalChanges {
    /// The writes after the ones it applied: (number, row changes).
    Writes(Vec<(u64, Arc<Vec<GlobalOp>>)>),
    /// Too far behind for that: every table's rows, as of write `applied`.
    Whole {
        applied: u64,
        tables: Vec<(TableId, GlobalRows)>,
    },
}

/// A row as global tables keep it.
pub fn encode_row(row: &[Value]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(row.len() as u32);
    for v in row {
        w.value(v);
    }
    w.buf
}

pub fn decode_row(bytes: &[u8]) -> Result<Vec<Value>> {
    let mut r = Reader::new(bytes);
    let n = r.len_prefix(1 << 16)?;
    let mut row = Vec::with_capacity(n);
    for _ in 0..n {
        row.push(r.value()?);
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let row = vec![Value::Int4(7), Value::Null, Value::Text("é".into())];
        assert_eq!(decode_row(&encode_row(&row)).unwrap(), row);
        assert!(decode_row(&[0xff, 0xff, 0xff]).is_err());
    }
}
