//! `pyconchat bench`: a load generator for a PyconChat server, in the spirit
//! of `redis-benchmark` and `nats bench`.
//!
//! [`run`] starts a server (embedded by default, see [`BenchOptions`]),
//! connects `clients` members spread over `groups` groups (each group's
//! first member creates it and approves the others), optionally puts each
//! client in several groups (`groups_per_client`, one connection holding
//! many conversations), then lets `publishers` members of each group post
//! messages for `duration` seconds, flat out or at a fixed total rate.
//! Every message carries its publisher, a per-publisher sequence number and
//! its send time; every member checks what it receives, per conversation,
//! for gaps, duplicates and misroutes, and records the end-to-end latency
//! in an HDR histogram. The result is a [`Report`].
//!
//! Flat out is bounded: a publisher may have at most `in_flight` messages
//! that have not yet reached every member of its group, so the generator
//! measures how fast the server delivers rather than how deep its queues
//! are (and stays below the server's per-client queue, whose overflow would
//! drop members as too slow).
//!
//! `docs/performance.md` describes the method and the numbers.

mod file;
mod layout;
mod load;
mod report;
mod scan;
mod target;

pub use file::FileReport;
pub use report::{Latency, Report};

use std::{
    fmt::Write as _,
    io::Write as _,
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use clap::Args;
use tokio::{sync::Semaphore, task::JoinSet};

use layout::{Layout, group_name, member_name};
use load::{Pace, ReaderRole, Shared};
use std::sync::atomic::AtomicUsize;
use target::{GENERATOR_THREAD, Target};
use tokio::{net::tcp::OwnedWriteHalf, task::JoinHandle};

const EXAMPLES: &str = "\
Examples:
  pyconchat bench                              10 groups x 100 members, 1 publisher each, flat out
  pyconchat bench -n 1000 -g 1                 one group of 1,000
  pyconchat bench -n 1000 -g 100 -k 10         100 groups of 100, each client in 10 of them
  pyconchat bench -r 200                       200 messages/s offered (20,000 deliveries/s)
  pyconchat bench -n 10000 -g 100 -p 0 --spawn 10,000 idle clients; the server's own RSS
  pyconchat bench --server 127.0.0.1:7667      against a running (plaintext) server
  pyconchat bench --server a:7667,b:7667       clients spread over two nodes
  pyconchat bench --json                       the report as JSON
  pyconchat bench --file-mb 100                send a 100 MiB file and fetch it, chatting meanwhile";

/// The options of one run; the defaults are the first scenario of the
/// performance budget (10 groups of 100 members, one publisher each,
/// 64-byte messages, flat out).
#[derive(Debug, Clone, Args)]
#[command(after_help = EXAMPLES)]
pub struct BenchOptions {
    /// Clients to connect, spread evenly over the groups.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub clients: usize,
    /// Groups to spread the clients over.
    #[arg(short = 'g', long, default_value_t = 10)]
    pub groups: usize,
    /// Groups each client is in, all on its one connection: the group it
    /// opens with its hello and the next K − 1 (joined with `join_group`),
    /// so every group has about K × clients ÷ groups members.
    #[arg(short = 'k', long, default_value_t = 1, value_name = "K")]
    pub groups_per_client: usize,
    /// Members of each group that post messages (0: connect and stay idle).
    #[arg(short = 'p', long, default_value_t = 1)]
    pub publishers: usize,
    /// Bytes of text per message (at least 48: the header).
    #[arg(short = 's', long, default_value_t = 64)]
    pub size: usize,
    /// Total messages per second over all publishers; without it, flat out.
    #[arg(short = 'r', long, value_name = "MSGS_PER_SEC")]
    pub rate: Option<f64>,
    /// Seconds of sending.
    #[arg(short = 't', long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Messages one publisher may have sent that have not yet reached every
    /// member of its group.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub in_flight: u64,
    /// Read every frame in the named form, as a client that does not ask
    /// for the compact one (the default asks, as `pyconchat join` does).
    #[arg(long)]
    pub named: bool,
    /// Use a server that is already running instead of an embedded one. It
    /// must run with `--plaintext` and with flood control raised (see
    /// docs/performance.md): the load generator speaks plain TCP and sends
    /// far faster than a person. Several, separated by commas (the nodes of
    /// a cluster): each group's members are spread over them.
    #[arg(long, value_name = "ADDR[,ADDR...]", conflicts_with = "spawn")]
    pub server: Option<String>,
    /// Run the server as a `pyconchat serve` child process, so that its
    /// memory and CPU time are measured apart from the generator's.
    #[arg(long)]
    pub spawn: bool,
    /// Worker threads of the embedded server's runtime.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub server_threads: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub threads: usize,
    /// Clients connecting at the same time during set-up.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub connect_concurrency: usize,
    /// Instead of chat load: one member sends a file of this many MiB and
    /// another fetches it, while the sender keeps chatting.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub file_mb: Option<u64>,
    /// With `--file-mb`: over TLS, as `serve` runs by default (the chat
    /// load generator speaks plain TCP only).
    #[arg(long, requires = "file_mb")]
    pub tls: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            options: BenchOptions,
        }
        <Defaults as clap::Parser>::parse_from(["bench"]).options
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server refused {name}: {code}")]
    Refused { name: String, code: String },
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    #[error("the server: {0}")]
    Server(String),
    #[error("set-up did not finish: {0}")]
    Setup(String),
    #[error(transparent)]
    Io(std::io::Error),
}

/// How long set-up and the final drain may take before the run gives up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the benchmark described by `options` and prints the report (a
/// table, or JSON with `--json`).
pub fn main(options: BenchOptions) -> Result<(), BenchError> {
    match options.file_mb {
        Some(mib) => print_report(&run_file(&options, mib)?, options.json),
        None => print_report(&run(&options)?, options.json),
    }
    Ok(())
}

fn print_report(report: &(impl serde::Serialize + std::fmt::Display), json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("the report serializes")
        );
    } else {
        print!("{report}");
    }
}

/// Runs the benchmark and returns what it measured.
pub fn run(options: &BenchOptions) -> Result<Report, BenchError> {
    validate(options)?;
    let fd_limit = target::raise_fd_limit();
    let needed = options.clients as u64
        * if options.server.is_none() && !options.spawn {
            2
        } else {
            1
        }
        + 64;
    if fd_limit < needed {
        return Err(BenchError::Options(format!(
            "{} clients need about {needed} open files here, the limit is {fd_limit}; raise it (ulimit -n {needed}){}",
            options.clients,
            if options.server.is_none() && !options.spawn {
                " or use --spawn so the server has its own"
            } else {
                ""
            }
        )));
    }
    let mut target = start_target(options)?;
    let runtime = generator_runtime(options)?;
    let result = runtime.block_on(drive(options, &target));
    // Close every client before the server goes, so it shuts down quickly.
    drop(runtime);
    target.stop();
    result
}

/// The server the options ask for.
fn start_target(options: &BenchOptions) -> Result<Target, BenchError> {
    match &options.server {
        Some(list) => {
            let addrs = crate::client::server_list(list)
                .iter()
                .map(|addr| resolve(addr))
                .collect::<Result<Vec<_>, _>>()?;
            if addrs.is_empty() {
                return Err(BenchError::Options(format!(
                    "--server {list:?} names no server"
                )));
            }
            Ok(Target::Remote { addrs })
        }
        None if options.spawn => Target::spawn(
            &std::env::current_exe().map_err(BenchError::Io)?,
            options.tls,
        ),
        None => Target::embedded(options.server_threads, options.tls),
    }
}

fn generator_runtime(options: &BenchOptions) -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .thread_name(GENERATOR_THREAD)
        .enable_all()
        .build()
        .map_err(BenchError::Io)
}

/// Runs the file scenario (`--file-mb`) and returns what it measured.
pub fn run_file(options: &BenchOptions, mib: u64) -> Result<FileReport, BenchError> {
    let mut target = start_target(options)?;
    let runtime = generator_runtime(options)?;
    let result = runtime.block_on(file::run(&target, mib, options.tls));
    drop(runtime);
    target.stop();
    result
}

fn validate(options: &BenchOptions) -> Result<(), BenchError> {
    let bad = |m: String| Err(BenchError::Options(m));
    if options.groups == 0 || options.clients < options.groups {
        return bad(format!(
            "need at least one client per group ({} clients, {} groups)",
            options.clients, options.groups
        ));
    }
    if options.groups_per_client == 0 || options.groups_per_client > options.groups {
        return bad(format!(
            "--groups-per-client must be between 1 and the number of groups ({})",
            options.groups
        ));
    }
    if options.publishers > options.clients / options.groups {
        return bad(format!(
            "{} publishers per group, but only {} clients have the smallest group as their first",
            options.publishers,
            options.clients / options.groups
        ));
    }
    if options.size < load::HEADER_BYTES {
        return bad(format!(
            "--size must be at least {} bytes (the message header)",
            load::HEADER_BYTES
        ));
    }
    if !(options.duration > 0.0 && options.duration.is_finite()) {
        return bad("--duration must be positive".into());
    }
    if options.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return bad("--rate must be positive".into());
    }
    if options.in_flight == 0 {
        return bad("--in-flight must be at least 1".into());
    }
    let queued = (options.groups_per_client * options.publishers) as u64 * options.in_flight;
    let limit = crate::server::Limits::default().outbound_queue as u64;
    if queued > limit * 7 / 8 && !options.quiet {
        eprintln!(
            "warning: up to {queued} messages may be queued for one member \
             ({} groups x {} publishers x --in-flight {}); a default server \
             drops a member whose queue passes {limit} as too slow",
            options.groups_per_client, options.publishers, options.in_flight
        );
    }
    Ok(())
}

fn resolve(addr: &str) -> Result<SocketAddr, BenchError> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .map_err(BenchError::Io)?
        .next()
        .ok_or_else(|| BenchError::Options(format!("{addr} resolves to no address")))
}

/// Creates one group with its home members: the first creates it, the
/// others ask to join through their hello and are approved. Each
/// connection's reader starts as soon as it is welcomed, so no client lets
/// the server's queue for it fill up.
struct GroupSetup {
    /// The servers; member `m` of group `g` uses the `(g + m)`th, so each
    /// group has members on every server.
    addrs: Arc<[SocketAddr]>,
    tag: String,
    g: usize,
    size: usize,
    per_group: usize,
    gate: Arc<Semaphore>,
    shared: Arc<Shared>,
    connected: Arc<AtomicUsize>,
    compact: bool,
}

type GroupConnections = (usize, Vec<Option<OwnedWriteHalf>>, Vec<JoinHandle<()>>);

impl GroupSetup {
    fn name(&self, m: usize) -> String {
        member_name(&self.tag, self.g, m)
    }

    fn group(&self) -> String {
        group_name(&self.tag, self.g)
    }

    /// Connects member `m`, checks the welcome and starts its reader.
    async fn join(
        &self,
        m: usize,
        expect: &str,
    ) -> Result<(OwnedWriteHalf, JoinHandle<()>), BenchError> {
        let name = self.name(m);
        let group = self.group();
        let member = {
            let _permit = self.gate.acquire().await.expect("the gate stays open");
            let addr = self.addrs[(self.g + m) % self.addrs.len()];
            load::connect(addr, &name, &group, secret(), self.compact).await?
        };
        if member.status != expect {
            return Err(BenchError::Setup(format!(
                "{name} was welcomed as {}, expected {expect}",
                member.status
            )));
        }
        self.connected.fetch_add(1, Ordering::Relaxed);
        let role = ReaderRole {
            home: self.g,
            publisher: (m < self.per_group).then_some(self.g * self.per_group + m),
        };
        let reader = tokio::spawn(load::read_loop(
            member.read,
            member.buffered,
            self.shared.clone(),
            role,
            self.g * 7919 + m,
        ));
        Ok((member.write, reader))
    }

    async fn run(self) -> Result<GroupConnections, BenchError> {
        let this = Arc::new(self);
        let (admin, admin_reader) = this.join(0, "created").await?;
        let mut writers: Vec<Option<OwnedWriteHalf>> = (0..this.size).map(|_| None).collect();
        let mut readers = vec![admin_reader];
        let mut joins = JoinSet::new();
        for m in 1..this.size {
            let this = this.clone();
            joins.spawn(async move { this.join(m, "pending").await.map(|j| (m, j)) });
        }
        while let Some(joined) = joins.join_next().await {
            let (m, (write, reader)) = joined.map_err(|e| BenchError::Setup(e.to_string()))??;
            writers[m] = Some(write);
            readers.push(reader);
        }
        let mut admin = admin;
        let names = (1..this.size).map(|m| this.name(m));
        load::approve_all(&mut admin, &this.group(), names).await?;
        writers[0] = Some(admin);
        Ok((this.g, writers, readers))
    }
}

async fn drive(options: &BenchOptions, target: &Target) -> Result<Report, BenchError> {
    let load_before = target::load_average();
    let tag = run_tag();
    let groups = options.groups;
    let per_group = options.publishers;
    let layout = Layout::new(options.clients, groups, options.groups_per_client);
    let shared = Arc::new(Shared::new(tag, layout, per_group));
    let layout = &shared.layout;
    let tag_str = std::str::from_utf8(&tag).expect("hex").to_owned();
    let progress = !options.quiet;
    let to_approve = options.clients * layout.per_client() - groups;

    // Set-up: create each group, connect its home members, approve them;
    // then take every client into its other groups.
    let setup_start = Instant::now();
    let gate = Arc::new(Semaphore::new(options.connect_concurrency.max(1)));
    let addrs: Arc<[SocketAddr]> = target.addrs().into();
    let connected = Arc::new(AtomicUsize::new(0));
    let ticker = progress.then(|| {
        let connected = connected.clone();
        let shared = shared.clone();
        let total = options.clients;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                eprint!(
                    "\rset-up: {} of {total} connected, {} more groups asked, {} of {to_approve} approved   ",
                    connected.load(Ordering::Relaxed),
                    shared.joined.get(),
                    shared.approved.get()
                );
                let _ = std::io::stderr().flush();
            }
        })
    });
    let mut readers: Vec<JoinHandle<()>> = Vec::with_capacity(options.clients);
    let mut writers: Vec<Vec<Option<OwnedWriteHalf>>> = (0..groups).map(|_| Vec::new()).collect();
    let setup = async {
        let mut group_tasks = JoinSet::new();
        for g in 0..groups {
            let setup = GroupSetup {
                addrs: addrs.clone(),
                tag: tag_str.clone(),
                g,
                size: layout.home_members(g),
                per_group,
                gate: gate.clone(),
                shared: shared.clone(),
                connected: connected.clone(),
                compact: !options.named,
            };
            group_tasks.spawn(setup.run());
        }
        while let Some(group) = group_tasks.join_next().await {
            let (g, group_writers, group_readers) =
                group.map_err(|e| BenchError::Setup(e.to_string()))??;
            writers[g] = group_writers;
            readers.extend(group_readers);
        }
        shared.approved.reach(options.clients - groups).await;
        if layout.per_client() > 1 {
            join_other_groups(&shared, &tag_str, &mut writers).await?;
            shared.approved.reach(to_approve).await;
        }
        Ok::<_, BenchError>(())
    };
    let outcome = tokio::time::timeout(SETUP_TIMEOUT, setup).await;
    if let Some(ticker) = ticker {
        ticker.abort();
        eprintln!();
    }
    match outcome {
        Ok(result) => result?,
        Err(_) => {
            return Err(BenchError::Setup(format!(
                "not done after {SETUP_TIMEOUT:?}: {} connected, {} more groups asked, \
                 {} of {to_approve} approved; errors: {:?}",
                connected.load(Ordering::Relaxed),
                shared.joined.get(),
                shared.approved.get(),
                shared.errors()
            )));
        }
    }
    let setup_time = setup_start.elapsed();
    settle(&shared).await;

    // The run.
    let (cpu_server_0, cpu_generator_0) = target.cpu();
    let (machine_0, own_0) = (target::machine_busy_cpu(), target::own_cpu(target));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(options.duration);
    let publishers_total = groups * per_group;
    let interval = options
        .rate
        .map(|rate| Duration::from_secs_f64(publishers_total as f64 / rate));
    let pace = |publisher: usize| Pace {
        size: options.size,
        window: options.in_flight,
        interval,
        first: start
            + interval
                .unwrap_or_default()
                .mul_f64(publisher as f64 / publishers_total as f64),
        deadline,
    };
    let mut publishers = JoinSet::new();
    for (g, group) in writers.iter_mut().enumerate() {
        for (p, write) in group.iter_mut().take(per_group).enumerate() {
            let write = write.take().expect("a writer");
            publishers.spawn(load::publish(
                write,
                group_name(&tag_str, g),
                shared.clone(),
                g * per_group + p,
                layout.members(g) as u64,
                pace(g * per_group + p),
            ));
        }
    }
    let expected = |shared: &Shared| -> u64 {
        shared
            .publishers
            .iter()
            .enumerate()
            .map(|(i, p)| p.sent.load(Ordering::Relaxed) * layout.members(i / per_group) as u64)
            .sum()
    };
    let progress_task = progress.then(|| {
        let shared = shared.clone();
        let duration = options.duration;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                (start + Duration::from_secs(1)).into(),
                Duration::from_secs(1),
            );
            let (mut last_accepted, mut last_receipts) = (0, 0);
            loop {
                tick.tick().await;
                let (sent, accepted, receipts) = shared.totals();
                let mut line = String::new();
                let _ = write!(
                    line,
                    "\r[{:>5.1}s/{duration}s] accepted {:>9}/s  deliveries {:>10}/s  sent {sent}   ",
                    start.elapsed().as_secs_f64(),
                    accepted - last_accepted,
                    receipts - last_receipts,
                );
                eprint!("{line}");
                let _ = std::io::stderr().flush();
                (last_accepted, last_receipts) = (accepted, receipts);
            }
        })
    });
    let mut publish_errors = Vec::new();
    let mut still_open = Vec::new();
    while let Some(done) = publishers.join_next().await {
        match done {
            Ok(Ok(write)) => still_open.push(write),
            Ok(Err(error)) => publish_errors.push(error.to_string()),
            Err(error) => publish_errors.push(error.to_string()),
        }
    }
    // Drain: wait for the last replies and deliveries.
    let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut last_change = start;
    loop {
        let (sent, accepted, receipts) = shared.totals();
        if accepted >= sent && receipts >= expected(&shared) {
            last_change = Instant::now();
            break;
        }
        if Instant::now() >= drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        last_change = Instant::now();
    }
    let elapsed = last_change
        .duration_since(start)
        .max(Duration::from_millis(1));
    if let Some(task) = progress_task {
        task.abort();
        eprintln!();
    }
    let (cpu_server_1, cpu_generator_1) = target.cpu();
    let (machine_1, own_1) = (target::machine_busy_cpu(), target::own_cpu(target));
    let peak_rss = target.peak_rss();
    let rss_now = target.rss();
    let load_after = target::load_average();

    let (sent, accepted, receipts) = shared.totals();
    let expected_deliveries = expected(&shared);
    let latency = shared.latency();
    let errors = shared.errors();
    for reader in &readers {
        reader.abort();
    }
    drop(writers);
    drop(still_open);

    let secs = elapsed.as_secs_f64();
    let members = (0..groups).map(|g| layout.members(g));
    let server_cpu_s = match (cpu_server_0, cpu_server_1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(Report {
        server: target.describe(),
        clients: options.clients,
        groups,
        groups_per_client: layout.per_client(),
        members_per_group: (
            members.clone().min().unwrap_or(0),
            members.max().unwrap_or(0),
        ),
        publishers_per_group: per_group,
        message_bytes: options.size,
        mode: match options.rate {
            Some(rate) => format!("fixed rate: {rate} messages/s offered"),
            None => "flat out".into(),
        },
        in_flight: options.in_flight,
        encoding: if options.named { "named" } else { "compact" }.into(),
        duration_s: options.duration,
        setup_s: setup_time.as_secs_f64(),
        setup_per_client_ms: setup_time.as_secs_f64() * 1000.0 / options.clients as f64,
        elapsed_s: secs,
        messages_sent: sent,
        messages_accepted: accepted,
        deliveries: receipts,
        accepted_per_s: accepted as f64 / secs,
        deliveries_per_s: receipts as f64 / secs,
        latency: Latency::from_histogram(&latency),
        accept_latency: Latency::from_histogram(&shared.accept_latency()),
        gaps: expected_deliveries.saturating_sub(receipts),
        duplicates: shared.duplicates.load(Ordering::Relaxed),
        misrouted: shared.misrouted.load(Ordering::Relaxed),
        errors,
        publisher_errors: publish_errors,
        server_peak_rss_bytes: peak_rss.map(|(b, _)| b),
        server_rss_at_end_bytes: rss_now,
        server_peak_rss_covers: peak_rss.map(|(_, what)| what.to_owned()),
        server_cpu_s,
        server_cpu_ns_per_delivery: server_cpu_s
            .filter(|_| receipts > 0)
            .map(|s| s * 1e9 / receipts as f64),
        generator_cpu_s: cpu_generator_1 - cpu_generator_0,
        other_cpu_s: match (machine_0, machine_1) {
            (Some(a), Some(b)) => Some(((b - a) - (own_1 - own_0)).max(0.0)),
            _ => None,
        },
        load_average_before: load_before,
        load_average_after: load_after,
    })
}

/// Takes every client into the groups after its home (see [`Layout`]):
/// each asks with pipelined `join_group`s, and once every request is filed
/// each group's first member approves them all, pipelined.
async fn join_other_groups(
    shared: &Shared,
    tag: &str,
    writers: &mut [Vec<Option<OwnedWriteHalf>>],
) -> Result<(), BenchError> {
    let layout = &shared.layout;
    let mut asked = 0;
    for (home, members) in writers.iter_mut().enumerate() {
        for write in members.iter_mut() {
            let write = write.as_mut().expect("every client is connected");
            let others = layout.groups_of(home).skip(1).map(|g| group_name(tag, g));
            load::join_all(write, others).await?;
            asked += layout.per_client() - 1;
        }
    }
    shared.joined.reach(asked).await;
    for (g, members) in writers.iter_mut().enumerate() {
        let admin = members[0].as_mut().expect("every group has its creator");
        let names = layout.joiners(g).map(|(home, m)| member_name(tag, home, m));
        load::approve_all(admin, &group_name(tag, g), names).await?;
    }
    Ok(())
}

/// Waits until set-up's traffic (presence events, membership entries) has
/// drained, so the clock starts on a quiet server: until no frame has
/// arrived for 200 ms.
async fn settle(shared: &Shared) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut seen = shared.frames.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = shared.frames.load(Ordering::Relaxed);
        if now == seen || Instant::now() >= deadline {
            return;
        }
        seen = now;
    }
}

/// Eight hex digits naming this run's groups and users, so runs against a
/// long-lived server do not meet each other.
fn run_tag() -> [u8; 8] {
    let mut raw = [0_u8; 4];
    getrandom::fill(&mut raw).expect("the operating system's random source is available");
    let mut tag = [0_u8; 8];
    for (i, b) in raw.iter().enumerate() {
        tag[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
        tag[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 0xf)];
    }
    // Names must start with a letter or digit: hex always does.
    tag
}

fn secret() -> [u8; 32] {
    let mut secret = [0_u8; 32];
    getrandom::fill(&mut secret).expect("the operating system's random source is available");
    secret
}
