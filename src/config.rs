//! Settings, layered: built-in defaults < the TOML file < `PYCONCHAT_*`
//! environment variables < command-line flags (applied by the caller).
//!
//! An environment variable names a section and a key:
//! `PYCONCHAT_SERVER_MAX_MESSAGE_BYTES=4096` sets `[server] max_message_bytes`.
//! Its value is read as TOML when it parses as TOML and as a string otherwise,
//! so `PYCONCHAT_CLIENT_NAME=ann` works without quotes. The `[keys]` section
//! layers the same way: `PYCONCHAT_KEYS_APPROVE=y`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::{
    cluster::{BusSettings, DEFAULT_NAMESPACE},
    protocol::DEFAULT_MAX_FRAME_BYTES,
    server::Limits,
    tui::settings::{Notify, Osc},
};

/// The port `serve` listens on and `join` connects to unless told otherwise.
pub const DEFAULT_PORT: u16 = 7667;

/// Environment variables with this prefix override the config file.
pub const ENV_PREFIX: &str = "PYCONCHAT_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("in the config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("in the environment ({vars}): {message}")]
    Env { vars: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("cannot work out a {what} directory on this system; set it in the config file")]
    NoHome { what: &'static str },
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    /// `[cluster]`: what several servers share.
    pub cluster: ClusterConfig,
    pub client: ClientConfig,
    /// `[keys]`: action name → key or list of keys, replacing the client's
    /// default bindings (see `docs/config-client.toml`). Checked against the
    /// actions when the client starts.
    pub keys: BTreeMap<String, KeySpec>,
}

/// One key (`"ctrl-o"`) or several (`["a", "enter"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeySpec {
    One(String),
    Many(Vec<String>),
}

impl KeySpec {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeySpec::One(key) => vec![key.as_str()],
            KeySpec::Many(keys) => keys.iter().map(String::as_str).collect(),
        }
    }
}

/// `[server]`: see `config.example.toml` for each key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub data_dir: Option<PathBuf>,
    /// Serve without TLS.
    pub plaintext: bool,
    /// The operator's certificate chain and key (PEM); both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Where to serve `/metrics`, `/health` and `/ready` over HTTP; off
    /// when unset.
    pub metrics: Option<String>,
    pub drain_timeout_secs: u64,
    pub max_database_mb: u64,
    pub max_frame_bytes: usize,
    pub max_message_bytes: usize,
    pub history_on_join: u64,
    pub outbound_queue: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub handshake_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub write_timeout_secs: u64,
    pub requests_per_second: u32,
    pub request_burst: u32,
    pub messages_per_second: u32,
    pub message_burst: u32,
    pub new_names_per_minute: u32,
    pub new_name_burst: u32,
    pub new_groups_per_minute: u32,
    pub new_group_burst: u32,
    pub max_pending_requests: usize,
    pub rejoin_cooldown_secs: u64,
    pub max_file_mb: u64,
    pub max_files_mb: u64,
    pub file_retention_hours: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            listen: format!("127.0.0.1:{DEFAULT_PORT}"),
            data_dir: None,
            plaintext: false,
            tls_cert: None,
            tls_key: None,
            metrics: None,
            drain_timeout_secs: limits.drain_timeout.as_secs(),
            max_database_mb: 0,
            max_frame_bytes: limits.max_frame_bytes,
            max_message_bytes: limits.max_message_bytes,
            history_on_join: limits.history_on_join,
            outbound_queue: limits.outbound_queue,
            max_connections: limits.max_connections,
            max_connections_per_ip: limits.max_connections_per_ip,
            handshake_timeout_secs: limits.handshake_timeout.as_secs(),
            idle_timeout_secs: limits.idle_timeout.as_secs(),
            write_timeout_secs: limits.write_timeout.as_secs(),
            requests_per_second: limits.requests_per_second,
            request_burst: limits.request_burst,
            messages_per_second: limits.messages_per_second,
            message_burst: limits.message_burst,
            new_names_per_minute: limits.new_names_per_minute,
            new_name_burst: limits.new_name_burst,
            new_groups_per_minute: limits.new_groups_per_minute,
            new_group_burst: limits.new_group_burst,
            max_pending_requests: limits.max_pending_requests,
            rejoin_cooldown_secs: limits.rejoin_cooldown.as_secs(),
            max_file_mb: limits.max_file_bytes / MIB,
            max_files_mb: limits.max_files_bytes / MIB,
            file_retention_hours: limits.file_retention.as_secs() / 3600,
        }
    }
}

impl ServerConfig {
    /// The server's limits, checked for sense.
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        const MIN_FRAME: usize = 1024;
        if self.max_frame_bytes < MIN_FRAME || self.max_frame_bytes > u32::MAX as usize {
            return Err(invalid(
                "server.max_frame_bytes",
                format!("must be between {MIN_FRAME} and {}", u32::MAX),
            ));
        }
        // A message travels inside a frame with its envelope around it.
        if self.max_message_bytes == 0 || self.max_message_bytes > self.max_frame_bytes - 512 {
            return Err(invalid(
                "server.max_message_bytes",
                "must be at least 1 and at least 512 bytes below server.max_frame_bytes",
            ));
        }
        for (key, value) in [
            ("server.outbound_queue", self.outbound_queue as u64),
            ("server.max_connections", self.max_connections as u64),
            (
                "server.max_connections_per_ip",
                self.max_connections_per_ip as u64,
            ),
            ("server.handshake_timeout_secs", self.handshake_timeout_secs),
            ("server.idle_timeout_secs", self.idle_timeout_secs),
            ("server.write_timeout_secs", self.write_timeout_secs),
            (
                "server.requests_per_second",
                self.requests_per_second.into(),
            ),
            ("server.request_burst", self.request_burst.into()),
            (
                "server.messages_per_second",
                self.messages_per_second.into(),
            ),
            ("server.message_burst", self.message_burst.into()),
            (
                "server.new_names_per_minute",
                self.new_names_per_minute.into(),
            ),
            ("server.new_name_burst", self.new_name_burst.into()),
            (
                "server.new_groups_per_minute",
                self.new_groups_per_minute.into(),
            ),
            ("server.new_group_burst", self.new_group_burst.into()),
            (
                "server.max_pending_requests",
                self.max_pending_requests as u64,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.max_files_mb < self.max_file_mb {
            return Err(invalid(
                "server.max_files_mb",
                "must be at least server.max_file_mb: the largest file has to fit",
            ));
        }
        if self.file_retention_hours == 0 {
            return Err(invalid("server.file_retention_hours", "must be at least 1"));
        }
        Ok(Limits {
            max_frame_bytes: self.max_frame_bytes,
            max_message_bytes: self.max_message_bytes,
            history_on_join: self.history_on_join,
            outbound_queue: self.outbound_queue,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            write_timeout: Duration::from_secs(self.write_timeout_secs),
            requests_per_second: self.requests_per_second,
            request_burst: self.request_burst,
            messages_per_second: self.messages_per_second,
            message_burst: self.message_burst,
            new_names_per_minute: self.new_names_per_minute,
            new_name_burst: self.new_name_burst,
            new_groups_per_minute: self.new_groups_per_minute,
            new_group_burst: self.new_group_burst,
            max_pending_requests: self.max_pending_requests,
            rejoin_cooldown: Duration::from_secs(self.rejoin_cooldown_secs),
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
            max_file_bytes: self.max_file_mb.saturating_mul(MIB),
            max_files_bytes: self.max_files_mb.saturating_mul(MIB),
            file_retention: Duration::from_secs(self.file_retention_hours.saturating_mul(3600)),
            ..Limits::default()
        })
    }

    /// Where the server keeps its database: the configured directory or the
    /// platform's data directory.
    pub fn data_dir(&self) -> Result<PathBuf, ConfigError> {
        match &self.data_dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(project_dirs("data")?.data_dir().join("server")),
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// `[cluster]`: several `serve` nodes as one server; see
/// `config.example.toml` and `docs/cluster.md`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The store's URL: `postgres://...` for PostgreSQL, shared by every
    /// server of a cluster; unset, the embedded database in the data dir.
    pub store: Option<String>,
    /// The bus between the nodes, `nats://host:port`; none for one server.
    pub bus: Option<String>,
    /// This node's name, unique in the cluster [default: `node-` and
    /// random hex, new at every start].
    pub node_name: Option<String>,
    /// Prefix of every bus subject, so that clusters sharing one NATS
    /// server keep apart.
    pub namespace: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            store: None,
            bus: None,
            node_name: None,
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

impl ClusterConfig {
    /// Where this node finds the bus; `None` for a single server.
    pub fn bus_settings(&self) -> Result<Option<BusSettings>, ConfigError> {
        let Some(url) = self.bus.clone() else {
            return Ok(None);
        };
        let node = match &self.node_name {
            Some(name) if name.trim().is_empty() => {
                return Err(invalid("cluster.node_name", "must not be empty"));
            }
            Some(name) => name.clone(),
            None => {
                let mut random = [0_u8; 4];
                getrandom::fill(&mut random)
                    .map_err(|e| invalid("cluster.node_name", e.to_string()))?;
                format!("node-{:08x}", u32::from_be_bytes(random))
            }
        };
        Ok(Some(BusSettings {
            url,
            node,
            namespace: self.namespace.clone(),
        }))
    }
}

/// `[client]`: see `config.example.toml` for each key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    pub server: String,
    pub name: Option<String>,
    pub group: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub max_frame_bytes: usize,
    /// Alert (by `notify`) when a message mentions `@you` or comes in a
    /// direct conversation.
    pub bell_on_mention: bool,
    /// How those alerts reach you: a desktop notification through the
    /// terminal's escape sequence, the bell, or nothing.
    pub notify: NotifySetting,
    /// Ring the terminal bell when someone asks to join (admin only).
    pub bell_on_request: bool,
    /// Connect without TLS (the server must run with `--plaintext` too).
    pub plaintext: bool,
    /// Where received files are saved; see [`ClientConfig::download_dir`].
    pub download_dir: Option<PathBuf>,
    /// Files up to this size (MiB) are fetched as soon as they are
    /// announced; larger ones wait for a key press. 0: never automatically.
    pub auto_download_mb: u64,
    /// A theme file replacing the built-in (dark) one; `light` names the
    /// light theme shipped with the client.
    pub theme: Option<PathBuf>,
    /// How message times are written (chrono's strftime format).
    pub timestamp_format: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            server: default_server(),
            name: None,
            group: None,
            data_dir: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            bell_on_mention: true,
            notify: NotifySetting::Auto,
            bell_on_request: true,
            plaintext: false,
            download_dir: None,
            auto_download_mb: 20,
            theme: None,
            timestamp_format: "%H:%M".to_owned(),
        }
    }
}

/// `notify` in `[client]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifySetting {
    /// A desktop notification in terminals known to show one, else the bell.
    #[default]
    Auto,
    /// iTerm2's OSC 9 (also kitty, WezTerm, Ghostty).
    Osc9,
    /// rxvt-unicode's OSC 777 (also foot, WezTerm, Ghostty).
    Osc777,
    Bell,
    Off,
}

impl NotifySetting {
    /// What the setting means in this terminal; `env` reads the
    /// environment (`auto` looks at `TERM` and `TERM_PROGRAM`).
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Notify {
        match self {
            NotifySetting::Auto => Notify::detect(env),
            NotifySetting::Osc9 => Notify::Desktop(Osc::Osc9),
            NotifySetting::Osc777 => Notify::Desktop(Osc::Osc777),
            NotifySetting::Bell => Notify::Bell,
            NotifySetting::Off => Notify::Off,
        }
    }
}

/// The server `join` connects to unless told otherwise.
pub fn default_server() -> String {
    format!("127.0.0.1:{DEFAULT_PORT}")
}

impl ClientConfig {
    /// Where the client keeps its identity, its log and its last session.
    pub fn data_dir(&self) -> Result<PathBuf, ConfigError> {
        match &self.data_dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(project_dirs("data")?.data_dir().join("client")),
        }
    }

    /// Where received files go: the configured directory, else the user's
    /// download directory, else `downloads` in `data_dir` (the data dir in
    /// use, which a flag may have chosen).
    pub fn download_dir(&self, data_dir: &Path) -> PathBuf {
        if let Some(dir) = &self.download_dir {
            return dir.clone();
        }
        directories::UserDirs::new()
            .and_then(|u| u.download_dir().map(Path::to_owned))
            .unwrap_or_else(|| data_dir.join("downloads"))
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

fn project_dirs(what: &'static str) -> Result<directories::ProjectDirs, ConfigError> {
    directories::ProjectDirs::from("", "", "pyconchat").ok_or(ConfigError::NoHome { what })
}

/// The config file used when none is given.
pub fn default_path() -> Result<PathBuf, ConfigError> {
    Ok(project_dirs("config")?.config_dir().join("config.toml"))
}

impl Config {
    /// Loads the config: `path` if given (it must exist), else the default
    /// file if it exists; then the process environment on top.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, required) = match path {
            Some(path) => (path.to_owned(), true),
            None => (default_path()?, false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Config::from_sources(
            text.as_deref().map(|t| (path.as_path(), t)),
            std::env::vars(),
        )
    }

    /// Builds the config from a file's text and environment variables.
    pub fn from_sources(
        file: Option<(&Path, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        if let Some((path, text)) = file {
            let file_error = |e: toml::de::Error| ConfigError::File {
                path: path.to_owned(),
                message: e.to_string(),
            };
            // Parsing into the typed config first gives errors with the line and key.
            toml::from_str::<Config>(text).map_err(file_error)?;
            table = toml::from_str(text).map_err(file_error)?;
        }
        let mut used = Vec::new();
        for (var, raw) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let Some((section, key)) = rest.split_once('_') else {
                continue;
            };
            if !matches!(section, "server" | "cluster" | "client" | "keys") {
                continue;
            }
            let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(raw));
            let section = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(section) = section {
                section.insert(key.to_owned(), value);
            }
            used.push(var);
        }
        Config::deserialize(table).map_err(|e| ConfigError::Env {
            vars: used.join(", "),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn downloads_go_to_the_configured_dir_else_the_data_dir_in_use() {
        let data = Path::new("/chosen/by/flag");
        let configured = ClientConfig {
            download_dir: Some("/dl".into()),
            ..ClientConfig::default()
        };
        assert_eq!(configured.download_dir(data), Path::new("/dl"));
        let platform =
            directories::UserDirs::new().and_then(|u| u.download_dir().map(Path::to_owned));
        assert_eq!(
            ClientConfig::default().download_dir(data),
            platform.unwrap_or_else(|| data.join("downloads")),
            "never the default data dir when another one is in use"
        );
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let file = "[server]\nlisten = \"0.0.0.0:9000\"\nmax_message_bytes = 100\n[client]\nname = \"ann\"\n";
        let config = Config::from_sources(
            Some((Path::new("c.toml"), file)),
            env(&[
                ("PYCONCHAT_SERVER_MAX_MESSAGE_BYTES", "200"),
                ("PYCONCHAT_CLIENT_GROUP", "rust"),
                ("HOME", "/x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:9000");
        assert_eq!(config.server.max_message_bytes, 200);
        assert_eq!(config.server.history_on_join, 50);
        assert_eq!(config.client.name.as_deref(), Some("ann"));
        assert_eq!(config.client.group.as_deref(), Some("rust"));
    }

    #[test]
    fn a_bad_file_names_the_file_and_the_key() {
        let err = Config::from_sources(
            Some((
                Path::new("/etc/p.toml"),
                "[server]\nmax_frame_bytes = \"big\"\n",
            )),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/etc/p.toml")
                && err.contains("max_frame_bytes")
                && err.contains("line 2"),
            "{err}"
        );
        let err = Config::from_sources(
            Some((Path::new("p.toml"), "[server]\nlisten_on = 1\n")),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `listen_on`"), "{err}");
    }

    #[test]
    fn the_cluster_store_comes_from_the_file_or_the_environment() {
        let file = "[cluster]\nstore = \"postgres://chat@db/pyconchat\"\n";
        let config = Config::from_sources(Some((Path::new("c.toml"), file)), env(&[])).unwrap();
        assert_eq!(
            config.cluster.store.as_deref(),
            Some("postgres://chat@db/pyconchat")
        );
        let config = Config::from_sources(
            Some((Path::new("c.toml"), file)),
            env(&[(
                "PYCONCHAT_CLUSTER_STORE",
                "postgres://chat@other/db?sslmode=disable",
            )]),
        )
        .unwrap();
        assert_eq!(
            config.cluster.store.as_deref(),
            Some("postgres://chat@other/db?sslmode=disable")
        );
        assert_eq!(Config::default().cluster.store, None);
    }

    #[test]
    fn a_bad_environment_variable_is_named() {
        let err = Config::from_sources(None, env(&[("PYCONCHAT_SERVER_OUTBOUND_QUEUE", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PYCONCHAT_SERVER_OUTBOUND_QUEUE"), "{err}");
    }

    #[test]
    fn client_settings_and_key_overrides_layer_too() {
        let file = "[client]\nbell_on_mention = false\n[keys]\napprove = \"y\"\nquit = [\"ctrl-q\", \"ctrl-c\"]\n";
        let config = Config::from_sources(
            Some((Path::new("c.toml"), file)),
            env(&[
                ("PYCONCHAT_KEYS_MAKE_ADMIN", "M"),
                ("PYCONCHAT_CLIENT_BELL_ON_REQUEST", "false"),
            ]),
        )
        .unwrap();
        assert!(!config.client.bell_on_mention);
        assert!(!config.client.bell_on_request);
        assert_eq!(config.keys["approve"], KeySpec::One("y".into()));
        assert_eq!(config.keys["quit"].keys(), vec!["ctrl-q", "ctrl-c"]);
        assert_eq!(config.keys["make_admin"], KeySpec::One("M".into()));
        let err = Config::from_sources(Some((Path::new("c.toml"), "[keys]\nkick = 3\n")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml"), "{err}");
    }

    #[test]
    fn the_cluster_keys_layer_and_a_node_gets_a_name() {
        let file = "[cluster]\nbus = \"nats://bus:4222\"\n";
        let config = Config::from_sources(
            Some((Path::new("c.toml"), file)),
            env(&[("PYCONCHAT_CLUSTER_NODE_NAME", "a")]),
        )
        .unwrap();
        let bus = config.cluster.bus_settings().unwrap().unwrap();
        assert_eq!(
            (bus.url.as_str(), bus.node.as_str(), bus.namespace.as_str()),
            ("nats://bus:4222", "a", DEFAULT_NAMESPACE)
        );
        let unnamed = ClusterConfig {
            bus: Some("nats://bus:4222".into()),
            ..ClusterConfig::default()
        };
        let (one, two) = (
            unnamed.bus_settings().unwrap().unwrap().node,
            unnamed.bus_settings().unwrap().unwrap().node,
        );
        assert!(one.starts_with("node-") && one != two, "{one} {two}");
        assert_eq!(ClusterConfig::default().bus_settings().unwrap(), None);
    }

    #[test]
    fn limits_are_checked() {
        let config = ServerConfig {
            max_message_bytes: DEFAULT_MAX_FRAME_BYTES,
            ..ServerConfig::default()
        };
        assert!(matches!(
            config.limits(),
            Err(ConfigError::Invalid {
                key: "server.max_message_bytes",
                ..
            })
        ));
        assert!(ServerConfig::default().limits().is_ok());
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_example_file_states_the_defaults() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"));
        let text = std::fs::read_to_string(path).unwrap();
        let parsed = Config::from_sources(Some((path, &text)), Vec::new()).unwrap();
        assert_eq!(parsed, Config::default());
    }
}
