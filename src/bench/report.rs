//! What a run measured: a table for people, JSON (`--json`) for programs.

use std::{collections::BTreeMap, fmt};

use hdrhistogram::Histogram;
use serde::Serialize;

/// End-to-end latency, from a publisher's send stamp to a member's read, in
/// microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Latency {
    pub(crate) fn from_histogram(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        Self {
            samples: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// The result of one run of `pyconchat bench`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub server: String,
    pub clients: usize,
    pub groups: usize,
    /// Conversations each client holds on its one connection.
    pub groups_per_client: usize,
    /// Smallest and largest group: how many members a message reaches.
    pub members_per_group: (usize, usize),
    pub publishers_per_group: usize,
    pub message_bytes: usize,
    pub mode: String,
    /// `--in-flight`: the most messages a publisher may have that have not
    /// reached every member of its group.
    pub in_flight: u64,
    /// The form the generator's clients read: `compact` or `named`.
    pub encoding: String,
    pub duration_s: f64,
    /// From the first connect until every member was approved and online.
    pub setup_s: f64,
    pub setup_per_client_ms: f64,
    /// From the first send until the last delivery (or the drain timeout).
    pub elapsed_s: f64,
    pub messages_sent: u64,
    /// Messages the server acknowledged as durable (`sent` replies).
    pub messages_accepted: u64,
    /// Messages received by members, each member counted once per message.
    pub deliveries: u64,
    pub accepted_per_s: f64,
    pub deliveries_per_s: f64,
    pub latency: Latency,
    /// From a publisher's send stamp to its `sent` reply: the commit (the
    /// message is durable) and the reply's way back. What the end-to-end
    /// latency adds to it is the fan-out to the members.
    pub accept_latency: Latency,
    /// Deliveries that never happened: (messages sent × members) − deliveries.
    pub gaps: u64,
    /// Log entries a member received again or after a later one of the
    /// same conversation (bench messages also per publisher).
    pub duplicates: u64,
    /// Bench messages received by a member of another group, or in
    /// another conversation than the one they were posted to.
    pub misrouted: u64,
    /// Error replies and error frames from the server, by code.
    pub errors: BTreeMap<String, u64>,
    pub publisher_errors: Vec<String>,
    /// `VmHWM`: the most the server was resident at any time, set-up included.
    pub server_peak_rss_bytes: Option<u64>,
    /// `VmRSS` after the run, with every client still connected.
    pub server_rss_at_end_bytes: Option<u64>,
    /// What the peak RSS covers (the embedded server shares the process).
    pub server_peak_rss_covers: Option<String>,
    /// CPU seconds during the run (not set-up).
    pub server_cpu_s: Option<f64>,
    /// `server_cpu_s` over `deliveries`: what fan-out costs the server.
    pub server_cpu_ns_per_delivery: Option<f64>,
    pub generator_cpu_s: f64,
    /// CPU seconds the rest of the machine used during the run: anything
    /// well above zero means the numbers were taken on a busy machine.
    pub other_cpu_s: Option<f64>,
    pub load_average_before: Option<[f64; 3]>,
    pub load_average_after: Option<[f64; 3]>,
}

impl Report {
    /// True when every message reached every member exactly once.
    pub fn is_clean(&self) -> bool {
        self.gaps == 0 && self.duplicates == 0 && self.misrouted == 0
    }
}

fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k", value / 1e3)
    } else {
        format!("{value:.0} ")
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "  {k:<24} {v}");
        writeln!(f, "pyconchat bench")?;
        row(f, "server", self.server.clone())?;
        let (lo, hi) = self.members_per_group;
        let members = if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        };
        let each_in = match self.groups_per_client {
            1 => String::new(),
            k => format!(" (each client in {k})"),
        };
        row(
            f,
            "clients",
            format!(
                "{} in {} groups of {members}{each_in}, {} publisher(s) each",
                self.clients, self.groups, self.publishers_per_group
            ),
        )?;
        row(
            f,
            "messages",
            format!(
                "{} bytes, {}; at most {} in flight per publisher; {} frames",
                self.message_bytes, self.mode, self.in_flight, self.encoding
            ),
        )?;
        row(
            f,
            "set-up",
            format!(
                "{:.2} s ({:.3} ms per client)",
                self.setup_s, self.setup_per_client_ms
            ),
        )?;
        row(
            f,
            "run",
            format!(
                "{:.2} s sending, {:.2} s until drained",
                self.duration_s, self.elapsed_s
            ),
        )?;
        row(
            f,
            "accepted",
            format!(
                "{}msg/s ({} of {} sent)",
                si(self.accepted_per_s),
                self.messages_accepted,
                self.messages_sent
            ),
        )?;
        row(
            f,
            "deliveries",
            format!(
                "{}msg/s ({} in all)",
                si(self.deliveries_per_s),
                self.deliveries
            ),
        )?;
        let l = &self.latency;
        row(
            f,
            "latency",
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us),
                l.samples
            ),
        )?;
        let a = &self.accept_latency;
        row(
            f,
            "accepted after",
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}  (send to `sent` reply: the commit)",
                ms(a.p50_us),
                ms(a.p99_us),
                ms(a.p999_us),
                ms(a.max_us),
            ),
        )?;
        row(
            f,
            "gaps / duplicates",
            format!(
                "{} / {}{}",
                self.gaps,
                self.duplicates,
                if self.misrouted > 0 {
                    format!("  ({} misrouted)", self.misrouted)
                } else {
                    String::new()
                }
            ),
        )?;
        if !self.errors.is_empty() {
            row(f, "server errors", format!("{:?}", self.errors))?;
        }
        for error in &self.publisher_errors {
            row(f, "publisher error", error.clone())?;
        }
        match (self.server_peak_rss_bytes, &self.server_peak_rss_covers) {
            (Some(bytes), Some(covers)) => row(
                f,
                "RSS",
                format!(
                    "peak {:.1} MiB, at end {:.1} MiB ({covers})",
                    mib(bytes),
                    mib(self.server_rss_at_end_bytes.unwrap_or(0))
                ),
            )?,
            _ => row(f, "RSS", "unknown (remote server)".into())?,
        }
        row(
            f,
            "CPU during run",
            format!(
                "server {}{}, generator {:.2} s",
                self.server_cpu_s
                    .map_or("unknown".into(), |s| format!("{s:.2} s")),
                self.server_cpu_ns_per_delivery
                    .map_or(String::new(), |ns| format!(" ({ns:.0} ns per delivery)")),
                self.generator_cpu_s
            ),
        )?;
        if let Some(other) = self.other_cpu_s {
            row(
                f,
                "other processes",
                format!(
                    "{other:.2} CPU s during the run ({:.0} % of one core)",
                    100.0 * other / self.elapsed_s
                ),
            )?;
        }
        if let (Some(a), Some(b)) = (self.load_average_before, self.load_average_after) {
            row(
                f,
                "load average",
                format!(
                    "{:.2} {:.2} {:.2} before, {:.2} {:.2} {:.2} after",
                    a[0], a[1], a[2], b[0], b[1], b[2]
                ),
            )?;
        }
        Ok(())
    }
}
