//! Several nodes (`server::run_with` each, in this process) on one
//! PostgreSQL schema and one bus namespace: a cluster for tests.

use std::{net::SocketAddr, sync::Arc};

use pyconchat::{
    cluster::{Bus, BusSettings},
    protocol::LogEntry,
    server::{self, Limits},
    store::{PostgresStore, Store},
};
use tokio::net::TcpListener;

use super::{Running, scrape, services};

/// One node of a [`Cluster`].
pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    /// The node's bus, to ask whether it is connected.
    pub bus: Bus,
    /// Its metrics listener (`/metrics`), labelled `node="NAME"`.
    pub metrics: String,
    running: Running,
}

impl Node {
    /// Starts a node on a free port, on `store`, joined to the bus at `url`
    /// under `namespace`.
    pub async fn start(
        name: &str,
        store: Arc<dyn Store>,
        limits: Limits,
        url: &str,
        namespace: &str,
    ) -> Node {
        let bus = Bus::connect(BusSettings {
            url: url.to_owned(),
            node: name.to_owned(),
            namespace: namespace.to_owned(),
        })
        .await
        .expect("the bus answers");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("an address");
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let metrics = http.local_addr().expect("an address").to_string();
        let options = server::Options {
            bus: bus.clone(),
            metrics: Some(http),
            node_name: Some(name.to_owned()),
            ..server::Options::default()
        };
        let running = Running::spawn(listener, store, limits, options);
        Node {
            name: name.to_owned(),
            addr,
            bus,
            metrics,
            running,
        }
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The node's sample of `metric` (a name after `pyconchat_`, with
    /// `labels` besides the node's, as printed: `kind="group"`), 0 when
    /// absent.
    pub async fn metric(&self, metric: &str, labels: &str) -> f64 {
        let (status, text) = scrape::get(&self.metrics, "/metrics").await;
        assert_eq!(status, 200, "{text}");
        let separator = if labels.is_empty() { "" } else { "," };
        let series = format!(
            "pyconchat_{metric}{{node=\"{}\"{separator}{labels}}}",
            self.name
        );
        scrape::sample(&text, &series).unwrap_or(0.0)
    }

    /// Shuts the node down gracefully and waits until it has.
    pub async fn stop(&mut self) {
        self.running.stop().await;
    }
}

/// Nodes `a`, `b`, `c`, ... on one fresh PostgreSQL schema and one fresh
/// bus namespace.
pub struct Cluster {
    pub store: Arc<dyn Store>,
    pub nodes: Vec<Node>,
    pub url: String,
    pub namespace: String,
    pub limits: Limits,
    /// Dropped after the store: the schema goes last.
    database: services::Database,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(nodes: usize, limits: Limits) -> Cluster {
        Self::on_bus(nodes, limits, &services::nats_url()).await
    }

    /// A cluster on the NATS server at `url`.
    pub async fn on_bus(nodes: usize, limits: Limits, url: &str) -> Cluster {
        Self::on(nodes, limits, url, services::Database::migrated()).await
    }

    /// A cluster on `database` (a migrated schema) and the NATS server at
    /// `url`.
    pub async fn on(
        nodes: usize,
        limits: Limits,
        url: &str,
        database: services::Database,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db_url, files) = (database.url.clone(), dir.path().join("files"));
        let store = tokio::task::spawn_blocking(move || PostgresStore::open(&db_url, files))
            .await
            .expect("the opening thread")
            .expect("open the PostgreSQL store");
        let mut cluster = Cluster {
            store: Arc::new(store),
            nodes: Vec::new(),
            url: url.to_owned(),
            namespace: services::namespace(),
            limits,
            database,
            _dir: dir,
        };
        for i in 0..nodes {
            let name = char::from(b'a' + i as u8).to_string();
            cluster.add(&name, None).await;
        }
        cluster
    }

    /// Starts one more node; `namespace` puts it on another one (its notes
    /// then reach nobody, as if the bus lost every one of them).
    pub async fn add(&mut self, name: &str, namespace: Option<&str>) -> &Node {
        let node = Node::start(
            name,
            self.store.clone(),
            self.limits.clone(),
            &self.url,
            namespace.unwrap_or(&self.namespace),
        )
        .await;
        self.nodes.push(node);
        self.nodes.last().expect("just added")
    }

    /// The store's URL, for nodes in processes of their own.
    pub fn database_url(&self) -> String {
        self.database.url.clone()
    }

    /// The cluster's schema, to look at what is stored.
    pub fn database(&self) -> &services::Database {
        &self.database
    }

    /// The whole log of `conv`, read on a blocking thread: the store blocks.
    pub async fn log(&self, conv: &str) -> Vec<LogEntry> {
        let (store, conv) = (self.store.clone(), conv.to_owned());
        tokio::task::spawn_blocking(move || store.read_log(&conv, 0, 1_000_000))
            .await
            .expect("the reading thread")
            .expect("the log reads")
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .expect("a node of that name")
    }

    pub fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("a node of that name")
    }
}
