//! Measuring processes, percentiles, and the side-by-side table.

use crate::{Figures, Scenario};

pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// A process, read from /proc.
pub struct Proc {
    pub pid: u32,
}

impl Proc {
    pub fn me() -> Proc {
        Proc {
            pid: std::process::id(),
        }
    }

    /// User + system CPU time so far, all threads.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // The command may hold spaces: fields count from after its ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15; here 11 and 12 (from 0,
        // after the state field at 0), in clock ticks of 1/100 s.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Resident memory in KiB.
    pub fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

pub fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpu}, {} cores", cores())
}

/// The value at quantile `q` of sorted microseconds, in milliseconds.
pub fn percentile(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * q).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

/// Markdown: each figure for both, and Boomerang's ratio to the reference.
pub fn table(s: &Scenario, r: &Figures, b: &Figures) -> String {
    let row = |name: &str, rv: f64, bv: f64, digits: usize| {
        format!(
            "| {name} | {rv:.digits$} | {bv:.digits$} | {:.2}x |\n",
            if rv == 0.0 { f64::NAN } else { bv / rv }
        )
    };
    let mut t = format!(
        "\n{} users x {} tabs, {} webhooks ({} in flight), latency at {:.0} webhooks/s for {} s, {} idle connections; {}\n\n",
        s.users,
        s.tabs,
        s.webhooks,
        s.inflight,
        r.latency_rate_per_s,
        s.latency_seconds,
        s.idle,
        machine()
    );
    t.push_str("| figure | Socket.IO design | Boomerang | Boomerang / Socket.IO |\n| --- | --- | --- | --- |\n");
    t.push_str(&row(
        "webhooks/s at saturation",
        r.webhooks_per_s,
        b.webhooks_per_s,
        0,
    ));
    t.push_str(&row(
        "deliveries/s at saturation",
        r.deliveries_per_s,
        b.deliveries_per_s,
        0,
    ));
    t.push_str(&row(
        "server CPU s per 1,000 deliveries",
        r.server_cpu_s_per_1000_deliveries,
        b.server_cpu_s_per_1000_deliveries,
        3,
    ));
    t.push_str(&row(
        "webhook-to-tab p50 (ms)",
        r.latency_p50_ms,
        b.latency_p50_ms,
        2,
    ));
    t.push_str(&row(
        "webhook-to-tab p99 (ms)",
        r.latency_p99_ms,
        b.latency_p99_ms,
        2,
    ));
    t.push_str(&row(
        "webhook-to-tab max (ms)",
        r.latency_max_ms,
        b.latency_max_ms,
        2,
    ));
    t.push_str(&row(
        "resident KB per idle connection",
        r.rss_per_idle_connection_kb,
        b.rss_per_idle_connection_kb,
        1,
    ));
    t.push_str(&row(
        "new connections/s",
        r.connections_per_s,
        b.connections_per_s,
        0,
    ));
    t.push_str(&format!(
        "\nload generator CPU during saturation: {:.0}% (reference run), {:.0}% (Boomerang run) of the machine; deliveries checked exactly once: {} and {}\n",
        r.loadgen_cpu_share * 100.0,
        b.loadgen_cpu_share * 100.0,
        r.deliveries_checked,
        b.deliveries_checked
    ));
    t
}
