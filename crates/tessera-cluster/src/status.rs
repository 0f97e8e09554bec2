//! `tessera status`: asks a node for the cluster's state (the node
//! forwards to the leader) and prints it as tables.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use tessera_types::{sqlstate, Error, Result};

use crate::secret::ClusterSecret;
use crate::state::NodeState;
use crate::wire::{Peer, Request, Response, Status};

pub async fn fetch(addr: &str, secret: &ClusterSecret) -> Result<Status> {
    let mut peer = Peer::new(addr.to_string(), secret.clone());
    match peer.call(&Request::Status, Duration::from_secs(5)).await? {
        Response::Status(s) => Ok(*s),
        Response::Failed(m) => Err(Error::new(sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE, m)),
        other => Err(Error::new(
            sqlstate::PROTOCOL_VIOLATION,
            format!("an unexpected answer: {other:?}"),
        )),
    }
}

/// How long `tessera expel` waits for a draining node that gives no
/// bucket away before it gives up (the node stays draining).
const DRAIN_STALL: Duration = Duration::from_secs(120);

/// Fault injection (`tessera fault`): makes the node at `addr` act as if
/// it could not reach `cut_off` (none: heals).
pub async fn cut_off(addr: &str, secret: &ClusterSecret, cut_off: Vec<String>) -> Result<()> {
    let mut peer = Peer::new(addr.to_string(), secret.clone());
    match peer
        .call(&Request::CutOff(cut_off), Duration::from_secs(10))
        .await?
    {
        Response::Updated => Ok(()),
        Response::Failed(message) => Err(Error::new(
            sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
            message,
        )),
        other => Err(Error::internal(format!(
            "an unexpected answer to CutOff: {other:?}"
        ))),
    }
}

/// `tessera expel`: asks the cluster (through any node) to expel a node
/// by id or name; returns its id. A node that owns buckets first gives
/// them away (docs/CLUSTER.md §8): this asks again until it owns none,
/// telling `progress` how many it still owns; with `force` it is
/// expelled at once and their rows are lost.
pub async fn expel(
    addr: &str,
    secret: &ClusterSecret,
    node: &str,
    force: bool,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64> {
    let mut peer = Peer::new(addr.to_string(), secret.clone());
    let request = Request::Expel {
        node: node.to_string(),
        force,
    };
    let mut fewest = u64::MAX;
    let mut since = std::time::Instant::now();
    loop {
        match peer.call(&request, Duration::from_secs(30)).await? {
            Response::Expelled(id) => return Ok(id),
            Response::Draining { node, buckets } => {
                progress(node, buckets);
                if buckets < fewest {
                    fewest = buckets;
                    since = std::time::Instant::now();
                } else if since.elapsed() > DRAIN_STALL {
                    return Err(Error::new(
                        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!(
                            "node {node} has given no bucket away for {} s and still owns {buckets}; \
                             is it running? It stays draining: run tessera expel again to wait for it, \
                             or with --force to expel it and lose those rows",
                            DRAIN_STALL.as_secs()
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Response::Failed(m) => {
                return Err(Error::new(sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE, m))
            }
            other => {
                return Err(Error::new(
                    sqlstate::PROTOCOL_VIOLATION,
                    format!("an unexpected answer: {other:?}"),
                ))
            }
        }
    }
}

/// Columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let _ = write!(l, "{c:<w$}");
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let leader = match s.leader {
        Some(id) => match s.metadata.nodes.get(&id) {
            Some(n) => format!("node {id} ({})", n.advertise),
            None => format!("node {id}"),
        },
        None => "none".into(),
    };
    let _ = writeln!(
        out,
        "cluster {:032x}\nraft leader: {leader}, term {}, applied index {}",
        s.metadata.cluster_id,
        s.term,
        s.last_applied.map_or("-".into(), |i| i.to_string())
    );
    let _ = writeln!(
        out,
        "raft voters: {:?}, learners: {:?}",
        s.voters, s.learners
    );
    let _ = writeln!(
        out,
        "catalog: {} records, DDL lock: {}\n",
        s.metadata.catalog.len(),
        s.metadata
            .catalog_lock
            .map_or("free".to_string(), |n| format!("held by node {n}"))
    );
    let mut rows = Vec::new();
    for n in s.metadata.nodes.values() {
        let raft = if s.leader == Some(n.id) {
            "leader"
        } else if s.voters.contains(&n.id) {
            "voter"
        } else if s.learners.contains(&n.id) {
            "learner"
        } else {
            "-"
        };
        let reachable = if n.state == NodeState::Expelled {
            "-".to_string()
        } else {
            match s.last_contact_secs.get(&n.id) {
                Some(Some(secs)) if *secs < 5.0 => "yes".into(),
                Some(Some(secs)) => format!("no ({secs:.0} s)"),
                Some(None) => "no".into(),
                None => "?".into(),
            }
        };
        let domain: Vec<String> = n
            .failure_domain
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(vec![
            n.id.to_string(),
            n.name.clone(),
            n.advertise.clone(),
            n.pg_addr.clone(),
            shard_span(n),
            s.metadata.buckets.owned_by_node(n).to_string(),
            s.metadata
                .masters
                .values()
                .filter(|m| m.node == n.id)
                .count()
                .to_string(),
            n.state.name().into(),
            raft.into(),
            reachable,
            n.tier.clone(),
            domain.join(","),
        ]);
    }
    out.push_str(&table(
        &[
            "NODE",
            "NAME",
            "ADDRESS",
            "POSTGRES",
            "SHARDS",
            "BUCKETS",
            "MASTER OF",
            "STATE",
            "RAFT",
            "REACHABLE",
            "TIER",
            "FAILURE DOMAIN",
        ],
        &rows,
    ));
    for tier in s.metadata.tiers.values() {
        let factor = tier.replication_factor;
        let (owned, to_move) = tier_balance(&s.metadata, &tier.name);
        let _ = writeln!(
            out,
            "\ntier {} (replication factor {factor}, {}): {owned} buckets, {}{}",
            tier.name,
            tier.replication_mode.name(),
            match to_move {
                0 => "balanced".to_string(),
                n => format!("{n} to move"),
            },
            if factor > 1 { "; replica groups:" } else { "" }
        );
        if factor < 2 {
            continue;
        }
        let rows: Vec<Vec<String>> = s
            .metadata
            .groups()
            .into_values()
            .filter(|members| members[0].tier == tier.name)
            .map(|members| {
                let masters: Vec<String> = members[0]
                    .shard_range()
                    .filter_map(|shard| {
                        let m = s.metadata.masters.get(&shard)?;
                        Some(format!("{shard}: node {} (epoch {})", m.node, m.epoch))
                    })
                    .collect();
                let ids: Vec<String> = members.iter().map(|n| n.id.to_string()).collect();
                let state = if members.len() < factor as usize {
                    format!("{} of {factor} members", members.len())
                } else {
                    "full".into()
                };
                vec![
                    shard_span(members[0]),
                    ids.join(","),
                    state,
                    s.metadata.buckets.owned_by_node(members[0]).to_string(),
                    masters.join(", "),
                ]
            })
            .collect();
        out.push_str(&table(
            &["SHARDS", "MEMBERS", "STATE", "BUCKETS", "MASTERS"],
            &rows,
        ));
    }
    out
}

/// The buckets tier `tier`'s shards own, and how many of them must still
/// move for its full groups' shards to own an even share each (every
/// bucket of a shard that is not one of those, such as a draining one's,
/// and each such shard's excess over the share).
fn tier_balance(metadata: &crate::state::Metadata, tier: &str) -> (usize, usize) {
    let online = metadata.tier_shards_of_groups(tier, NodeState::Online);
    let mut owned: BTreeMap<u16, usize> = BTreeMap::new();
    let shards: Vec<u16> = metadata
        .nodes
        .values()
        .filter(|n| n.tier == tier)
        .flat_map(|n| n.shard_range())
        .collect();
    for o in metadata.buckets.as_slice() {
        if shards.contains(o) {
            *owned.entry(*o).or_default() += 1;
        }
    }
    let total: usize = owned.values().sum();
    if online.is_empty() {
        return (total, 0);
    }
    let share = total.div_ceil(online.len());
    let to_move = owned
        .iter()
        .map(|(s, n)| match online.contains(s) {
            true => n.saturating_sub(share),
            false => *n,
        })
        .sum();
    (total, to_move)
}

/// A node's shards, `first-last`.
fn shard_span(n: &crate::state::NodeRecord) -> String {
    match n.shards {
        0 => "-".into(),
        1 => n.first_shard.to_string(),
        k => format!("{}-{}", n.first_shard, n.first_shard as u32 + k as u32 - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::{founded, node};
    use crate::state::{BucketMap, Command, TierWish};

    #[test]
    fn a_tiers_balance_counts_what_must_still_move() {
        // 16 buckets on node 1's shards 0-1; node 2 (shards 2-3) joins.
        let mut m = founded(node(1, "a"), 1);
        m.apply(&Command::AddNode {
            node: node(2, "b"),
            wish: TierWish::default(),
        });
        assert_eq!(tier_balance(&m, "default"), (16, 8));
        m.buckets = BucketMap::from(vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 2]);
        assert_eq!(tier_balance(&m, "default"), (16, 1));
        // A draining node's buckets all count.
        m.apply(&Command::DrainNode { id: 2 });
        assert_eq!(tier_balance(&m, "default"), (16, 8));
        assert_eq!(tier_balance(&m, "other"), (0, 0));
    }
}
