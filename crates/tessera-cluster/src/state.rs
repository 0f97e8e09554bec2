//! What the metadata Raft group agrees on: the cluster's system tables and
//! the commands that change them. Every node applies the same commands in
//! the same order, so every node holds the same tables; nothing else may
//! change them.

use std::collections::BTreeMap;

use openraft::{LogId, StoredMembership};
use serde::{Deserialize, Serialize};

pub type NodeId = u64;

/// A Raft member as openraft sees it: where its internal port is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftNode {
    pub addr: String,
}

openraft::declare_raft_types!(
    /// The metadata group's types.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = NodeId,
        Node = RaftNode,
        SnapshotData = Vec<u8>,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// A member of the cluster (reachable or not: liveness is not stored).
    Online,
    /// Removed by `tessera expel`; its id is never reused.
    Expelled,
}

impl NodeState {
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Online => "online",
            NodeState::Expelled => "expelled",
        }
    }
}

/// One row of the nodes table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: NodeId,
    /// Chosen by the node when its data directory was created; a join
    /// retried after a crash finds its earlier row by it.
    pub uuid: u128,
    pub name: String,
    /// The internal address other nodes reach it at.
    pub advertise: String,
    /// Where PostgreSQL clients reach it.
    pub pg_addr: String,
    pub shards: u16,
    pub failure_domain: BTreeMap<String, String>,
    pub state: NodeState,
}

/// A change to the system tables, proposed through the Raft leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The first entry of a new cluster: its id and its first node.
    Bootstrap { cluster_id: u128, node: NodeRecord },
    /// A node asks to join (or rejoin after a crash during its join): the
    /// answer is its id, the existing one if its uuid is known.
    AddNode { node: NodeRecord },
    /// A known node restarted with new addresses or failure domains.
    UpdateNode { node: NodeRecord },
    /// `tessera expel`: the node leaves for good; its id is never reused
    /// and its data directory cannot rejoin.
    ExpelNode { id: NodeId },
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Bootstrap { node, .. } => write!(f, "bootstrap by {}", node.name),
            Command::AddNode { node } => write!(f, "add node {}", node.name),
            Command::UpdateNode { node } => write!(f, "update node {}", node.id),
            Command::ExpelNode { id } => write!(f, "expel node {id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    Done,
    NodeId(NodeId),
    /// The command was valid Raft data but wrong for the tables (applied as
    /// a no-op on every node alike).
    Refused(String),
}

/// The system tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub cluster_id: u128,
    pub nodes: BTreeMap<NodeId, NodeRecord>,
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, RaftNode>,
}

impl Metadata {
    fn next_node_id(&self) -> NodeId {
        self.nodes.keys().next_back().map_or(1, |id| id + 1)
    }

    pub fn node_by_uuid(&self, uuid: u128) -> Option<&NodeRecord> {
        self.nodes.values().find(|n| n.uuid == uuid)
    }

    /// Applies one command. Deterministic: it looks at nothing but the
    /// tables and the command.
    pub fn apply(&mut self, command: &Command) -> CommandResult {
        match command {
            Command::Bootstrap { cluster_id, node } => {
                if self.cluster_id != 0 {
                    return CommandResult::Refused("the cluster is already bootstrapped".into());
                }
                self.cluster_id = *cluster_id;
                self.nodes.insert(node.id, node.clone());
                CommandResult::NodeId(node.id)
            }
            Command::AddNode { node } => {
                if let Some(known) = self.node_by_uuid(node.uuid) {
                    if known.state == NodeState::Expelled {
                        return CommandResult::Refused(format!(
                            "node {} was expelled from the cluster; start it with a new data directory to join again",
                            known.id
                        ));
                    }
                    return CommandResult::NodeId(known.id);
                }
                if self
                    .nodes
                    .values()
                    .any(|n| n.state == NodeState::Online && n.name == node.name)
                {
                    return CommandResult::Refused(format!(
                        "a node named \"{}\" is already in the cluster",
                        node.name
                    ));
                }
                let id = self.next_node_id();
                let mut row = node.clone();
                row.id = id;
                row.state = NodeState::Online;
                self.nodes.insert(id, row);
                CommandResult::NodeId(id)
            }
            Command::UpdateNode { node } => match self.nodes.get_mut(&node.id) {
                Some(row) if row.uuid == node.uuid && row.state == NodeState::Online => {
                    row.advertise = node.advertise.clone();
                    row.pg_addr = node.pg_addr.clone();
                    row.failure_domain = node.failure_domain.clone();
                    row.shards = node.shards;
                    CommandResult::Done
                }
                Some(row) if row.state == NodeState::Expelled => {
                    CommandResult::Refused(format!("node {} was expelled", node.id))
                }
                _ => CommandResult::Refused(format!("node {} is not known", node.id)),
            },
            Command::ExpelNode { id } => {
                let online = self
                    .nodes
                    .values()
                    .filter(|n| n.state == NodeState::Online)
                    .count();
                match self.nodes.get_mut(id) {
                    Some(row) if row.state == NodeState::Expelled => {
                        CommandResult::Refused(format!("node {id} is already expelled"))
                    }
                    Some(_) if online <= 1 => CommandResult::Refused(format!(
                        "node {id} is the cluster's last node; it cannot be expelled"
                    )),
                    Some(row) => {
                        row.state = NodeState::Expelled;
                        CommandResult::Done
                    }
                    None => CommandResult::Refused(format!("node {id} is not known")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uuid: u128, name: &str) -> NodeRecord {
        NodeRecord {
            id: 0,
            uuid,
            name: name.into(),
            advertise: format!("{name}:1"),
            pg_addr: format!("{name}:2"),
            shards: 2,
            failure_domain: BTreeMap::new(),
            state: NodeState::Online,
        }
    }

    #[test]
    fn joins_get_new_ids_once_and_names_stay_unique() {
        let mut m = Metadata::default();
        let mut first = node(7, "a");
        first.id = 1;
        assert_eq!(
            m.apply(&Command::Bootstrap {
                cluster_id: 9,
                node: first.clone()
            }),
            CommandResult::NodeId(1)
        );
        assert!(matches!(
            m.apply(&Command::Bootstrap {
                cluster_id: 10,
                node: first
            }),
            CommandResult::Refused(_)
        ));
        let b = node(8, "b");
        assert_eq!(
            m.apply(&Command::AddNode { node: b.clone() }),
            CommandResult::NodeId(2)
        );
        // A retried join finds its row.
        assert_eq!(
            m.apply(&Command::AddNode { node: b }),
            CommandResult::NodeId(2)
        );
        assert!(matches!(
            m.apply(&Command::AddNode {
                node: node(11, "a")
            }),
            CommandResult::Refused(_)
        ));
        let mut moved = m.nodes[&2].clone();
        moved.advertise = "elsewhere:1".into();
        assert_eq!(
            m.apply(&Command::UpdateNode { node: moved }),
            CommandResult::Done
        );
        assert_eq!(m.nodes[&2].advertise, "elsewhere:1");
        let mut stranger = m.nodes[&2].clone();
        stranger.uuid = 99;
        assert!(matches!(
            m.apply(&Command::UpdateNode { node: stranger }),
            CommandResult::Refused(_)
        ));
    }

    #[test]
    fn an_expelled_node_stays_out_and_the_last_node_stays_in() {
        let mut m = Metadata::default();
        let mut first = node(1, "a");
        first.id = 1;
        m.apply(&Command::Bootstrap {
            cluster_id: 9,
            node: first,
        });
        let b = node(2, "b");
        m.apply(&Command::AddNode { node: b.clone() });
        assert_eq!(m.apply(&Command::ExpelNode { id: 2 }), CommandResult::Done);
        assert_eq!(m.nodes[&2].state, NodeState::Expelled);
        assert!(matches!(
            m.apply(&Command::ExpelNode { id: 2 }),
            CommandResult::Refused(_)
        ));
        // Its data directory cannot come back, under its id or a new one.
        assert!(matches!(
            m.apply(&Command::AddNode { node: b }),
            CommandResult::Refused(_)
        ));
        assert!(matches!(
            m.apply(&Command::ExpelNode { id: 1 }),
            CommandResult::Refused(_)
        ));
        assert!(matches!(
            m.apply(&Command::ExpelNode { id: 7 }),
            CommandResult::Refused(_)
        ));
        // Its name is free again.
        assert_eq!(
            m.apply(&Command::AddNode { node: node(3, "b") }),
            CommandResult::NodeId(3)
        );
    }
}
