//! Who is online on the other nodes, from their heartbeats.
//!
//! Every node publishes, every [`HEARTBEAT`], the names connected to it. A
//! node not heard from for [`EXPIRY`] counts as gone and its names go
//! offline; a node that stops cleanly says so at once. So a member of a
//! dead node shows offline everywhere within `EXPIRY + HEARTBEAT` (the
//! expiry is checked on every heartbeat tick). Pure bookkeeping: the caller
//! passes the time, and tests pass any time they like.

use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

/// How often a node tells the others who is connected to it.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long a silent node still counts as alive: five missed heartbeats,
/// so a short stall (a pause, a bus reconnect) does not flap presence.
pub const EXPIRY: Duration = Duration::from_secs(5);

/// The other nodes' online names.
#[derive(Debug, Default)]
pub struct Presence {
    nodes: HashMap<String, Heard>,
}

#[derive(Debug)]
struct Heard {
    names: BTreeSet<String>,
    at: Instant,
}

impl Presence {
    /// `node` says these names are connected to it now.
    pub fn heard(&mut self, node: &str, names: impl IntoIterator<Item = String>, now: Instant) {
        let names = names.into_iter().collect();
        self.nodes.insert(node.to_owned(), Heard { names, at: now });
    }

    /// `node` stopped cleanly.
    pub fn left(&mut self, node: &str) {
        self.nodes.remove(node);
    }

    /// Forgets the nodes silent for longer than [`EXPIRY`]; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let dead: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, heard)| now.saturating_duration_since(heard.at) > EXPIRY)
            .map(|(node, _)| node.clone())
            .collect();
        for node in &dead {
            self.nodes.remove(node);
        }
        dead
    }

    /// Every name online on some other node.
    pub fn online(&self) -> BTreeSet<String> {
        self.nodes
            .values()
            .flat_map(|heard| heard.names.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        names(list).into_iter().collect()
    }

    #[test]
    fn a_silent_node_goes_offline_after_the_expiry_and_not_before() {
        let start = Instant::now();
        let mut presence = Presence::default();
        presence.heard("a", names(&["ann", "bob"]), start);
        presence.heard("b", names(&["bob", "cid"]), start);
        let later = start + HEARTBEAT;
        presence.heard("b", names(&["bob", "cid"]), later);
        assert!(presence.expire(start + EXPIRY).is_empty());
        assert_eq!(presence.online(), set(&["ann", "bob", "cid"]));
        assert_eq!(
            presence.expire(start + EXPIRY + HEARTBEAT / 2),
            vec!["a".to_owned()]
        );
        // bob is still on b.
        assert_eq!(presence.online(), set(&["bob", "cid"]));
    }

    #[test]
    fn a_heartbeat_replaces_the_nodes_names_and_a_goodbye_removes_them() {
        let now = Instant::now();
        let mut presence = Presence::default();
        presence.heard("a", names(&["ann", "bob"]), now);
        presence.heard("a", names(&["bob"]), now);
        assert_eq!(presence.online(), set(&["bob"]));
        presence.left("a");
        assert!(presence.online().is_empty());
    }
}
