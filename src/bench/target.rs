//! The server under test: embedded in this process, a `pyconchat serve`
//! child process, or one already running elsewhere. Also what the operating
//! system says about its memory and CPU time.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    thread::JoinHandle,
};

use tokio::sync::oneshot;

use super::BenchError;
use crate::{
    server::{self, Limits},
    store::SqliteStore,
};

/// Thread-name prefix of the embedded server's runtime.
pub(crate) const SERVER_THREAD: &str = "pcc-server";
/// Thread-name prefix of the generator's runtime.
pub(crate) const GENERATOR_THREAD: &str = "pcc-bench";

pub(crate) enum Target {
    /// `server::run` on its own runtime in this process, with the durable
    /// SQLite store in a temporary directory: the same code path as `serve`.
    Embedded {
        addr: SocketAddr,
        stop: Option<oneshot::Sender<()>>,
        thread: Option<JoinHandle<()>>,
        _dir: tempfile::TempDir,
    },
    /// `pyconchat serve` as a child process with a temporary data dir.
    Spawned {
        addr: SocketAddr,
        child: Child,
        _dir: tempfile::TempDir,
    },
    /// Servers already running: one, or the nodes of a cluster, with the
    /// clients spread over them.
    Remote { addrs: Vec<SocketAddr> },
}

impl Target {
    /// Starts `server::run` (or `run_tls` when `tls`, with a fresh
    /// self-signed certificate) on its own runtime.
    pub fn embedded(threads: usize, tls: bool) -> Result<Self, BenchError> {
        let dir = tempfile::tempdir().map_err(BenchError::Io)?;
        let tls = if tls {
            let identity = crate::tls::server_identity(dir.path(), None, None)
                .map_err(|e| BenchError::Server(e.to_string()))?;
            Some(identity.config)
        } else {
            None
        };
        let store = SqliteStore::open(dir.path()).map_err(|e| BenchError::Server(e.to_string()))?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(BenchError::Io)?;
        listener.set_nonblocking(true).map_err(BenchError::Io)?;
        let addr = listener.local_addr().map_err(BenchError::Io)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(SERVER_THREAD)
            .enable_all()
            .build()
            .map_err(BenchError::Io)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(SERVER_THREAD.into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!(%error, "cannot register the listener");
                            return;
                        }
                    };
                    let shutdown = async {
                        let _ = stopped.await;
                    };
                    let store = Arc::new(store);
                    match tls {
                        Some(tls) => {
                            server::run_tls(listener, store, unthrottled(), tls, shutdown).await;
                        }
                        None => server::run(listener, store, unthrottled(), shutdown).await,
                    }
                });
            })
            .map_err(BenchError::Io)?;
        Ok(Target::Embedded {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// Runs `exe serve` (plaintext unless `tls`, flood control off) on a
    /// free port and waits for it to say where.
    pub fn spawn(exe: &Path, tls: bool) -> Result<Self, BenchError> {
        let dir = tempfile::tempdir().map_err(BenchError::Io)?;
        let mut child = Command::new(exe)
            .args(["--config", "/dev/null", "serve", "--listen", "127.0.0.1:0"])
            .args((!tls).then_some("--plaintext"))
            .arg("--data-dir")
            .arg(dir.path())
            .envs(UNTHROTTLED_ENV.iter().copied())
            // One log line per connection would be part of what we measure.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| BenchError::Server(format!("cannot start {}: {e}", exe.display())))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(BenchError::Io)?;
        let addr = line
            .rsplit(' ')
            .next()
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| {
                let _ = child.kill();
                BenchError::Server(format!("unexpected first line from the server: {line:?}"))
            })?;
        Ok(Target::Spawned {
            addr,
            child,
            _dir: dir,
        })
    }

    /// The servers to connect to; at least one.
    pub fn addrs(&self) -> &[SocketAddr] {
        match self {
            Target::Embedded { addr, .. } | Target::Spawned { addr, .. } => {
                std::slice::from_ref(addr)
            }
            Target::Remote { addrs } => addrs,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Embedded { .. } => "embedded (in this process, own runtime)".into(),
            Target::Spawned { child, .. } => {
                format!("spawned `pyconchat serve` (pid {})", child.id())
            }
            Target::Remote { addrs } => {
                let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                format!("remote {}", addrs.join(", "))
            }
        }
    }

    /// Peak resident memory and what it covers.
    pub fn peak_rss(&self) -> Option<(u64, &'static str)> {
        match self {
            Target::Embedded { .. } => vm_hwm("self").map(|b| {
                (
                    b,
                    "whole bench process: embedded server and load generator together",
                )
            }),
            Target::Spawned { child, .. } => {
                vm_hwm(&child.id().to_string()).map(|b| (b, "server process alone"))
            }
            Target::Remote { .. } => None,
        }
    }

    /// Resident memory now, covering what [`Target::peak_rss`] covers.
    pub fn rss(&self) -> Option<u64> {
        match self {
            Target::Embedded { .. } => proc_status_kib("self", "VmRSS:"),
            Target::Spawned { child, .. } => proc_status_kib(&child.id().to_string(), "VmRSS:"),
            Target::Remote { .. } => None,
        }
    }

    /// CPU seconds used so far by the server and by the generator, as far
    /// as they can be told apart.
    pub fn cpu(&self) -> (Option<f64>, f64) {
        match self {
            Target::Embedded { .. } => {
                let threads = thread_cpu();
                let of = |prefix: &str| {
                    threads
                        .iter()
                        .filter(|(name, _)| name.starts_with(prefix))
                        .map(|(_, secs)| secs)
                        .sum::<f64>()
                };
                (
                    Some(of(SERVER_THREAD) + of(SqliteStore::THREAD)),
                    of(GENERATOR_THREAD),
                )
            }
            Target::Spawned { child, .. } => (
                process_cpu(&child.id().to_string()),
                process_cpu("self").unwrap_or(0.0),
            ),
            Target::Remote { .. } => (None, process_cpu("self").unwrap_or(0.0)),
        }
    }

    /// Stops a server this run started and waits for it.
    pub fn stop(&mut self) {
        match self {
            Target::Embedded { stop, thread, .. } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
            Target::Spawned { child, .. } => {
                // SIGTERM: the server shuts down gracefully.
                if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                    // SAFETY: kill(2) with a pid we own and a valid signal.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
                let _ = child.wait();
            }
            Target::Remote { .. } => {}
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `VmHWM` (peak resident set) of a process, in bytes.
fn vm_hwm(pid: &str) -> Option<u64> {
    proc_status_kib(pid, "VmHWM:")
}

/// A `kB` field of `/proc/PID/status`, in bytes.
fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// utime + stime from a `/proc/.../stat` line, in seconds.
fn stat_cpu(stat: &str) -> Option<f64> {
    // The command name may hold spaces; the fields after it do not.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second())
}

fn process_cpu(pid: &str) -> Option<f64> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every live thread of this process: its name and CPU seconds.
fn thread_cpu() -> Vec<(String, f64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let path = task.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            let cpu = stat_cpu(&std::fs::read_to_string(path.join("stat")).ok()?)?;
            Some((name.trim().to_owned(), cpu))
        })
        .collect()
}

/// CPU seconds the whole machine has spent busy (all cores, all processes).
pub(crate) fn machine_busy_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: f64 = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    Some(busy / ticks_per_second())
}

/// CPU seconds used so far by this process and a spawned server together.
pub(crate) fn own_cpu(target: &Target) -> f64 {
    let child = match target {
        Target::Spawned { child, .. } => process_cpu(&child.id().to_string()).unwrap_or(0.0),
        _ => 0.0,
    };
    process_cpu("self").unwrap_or(0.0) + child
}

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Raises this process's open-file limit to its hard limit; returns the new
/// soft limit.
pub(crate) fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid resource and a pointer to a
    // properly initialised struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// The bench measures what the server can carry, so its own server runs
/// without flood control (which would cap each publisher at a human rate,
/// a group at 100 waiting join requests, and the bench's one address at a
/// conference room's worth of new names and groups) and without TLS (the load
/// generator speaks plain TCP).
fn unthrottled() -> Limits {
    Limits {
        requests_per_second: u32::MAX,
        request_burst: u32::MAX,
        messages_per_second: u32::MAX,
        message_burst: u32::MAX,
        new_names_per_minute: u32::MAX,
        new_name_burst: u32::MAX,
        new_groups_per_minute: u32::MAX,
        new_group_burst: u32::MAX,
        max_pending_requests: usize::MAX,
        ..Limits::default()
    }
}

/// The same for a spawned `serve`, through its environment.
const UNTHROTTLED_ENV: &[(&str, &str)] = &[
    ("PYCONCHAT_SERVER_REQUESTS_PER_SECOND", "4294967295"),
    ("PYCONCHAT_SERVER_REQUEST_BURST", "4294967295"),
    ("PYCONCHAT_SERVER_MESSAGES_PER_SECOND", "4294967295"),
    ("PYCONCHAT_SERVER_MESSAGE_BURST", "4294967295"),
    ("PYCONCHAT_SERVER_NEW_NAMES_PER_MINUTE", "4294967295"),
    ("PYCONCHAT_SERVER_NEW_NAME_BURST", "4294967295"),
    ("PYCONCHAT_SERVER_NEW_GROUPS_PER_MINUTE", "4294967295"),
    ("PYCONCHAT_SERVER_NEW_GROUP_BURST", "4294967295"),
    ("PYCONCHAT_SERVER_MAX_PENDING_REQUESTS", "4294967295"),
];
