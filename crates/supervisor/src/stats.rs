//! Resource figures of the supervisor process, from `/proc` and its cgroup, in the real
//! Supervisor's stats model (the same model container stats use).

use docker::{round2, Stats};
use std::sync::Mutex;
use std::time::Instant;

/// Remembers the previous CPU sample, so `cpu_percent` covers the time between two calls.
pub struct StatsSampler {
    previous: Mutex<(Instant, f64)>,
    ticks_per_second: f64,
}

impl Default for StatsSampler {
    fn default() -> Self {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let ticks_per_second = if ticks > 0 { ticks as f64 } else { 100.0 };
        let sampler = StatsSampler { previous: Mutex::new((Instant::now(), 0.0)), ticks_per_second };
        let cpu = sampler.cpu_seconds().unwrap_or(0.0);
        *sampler.previous.lock().expect("stats lock") = (Instant::now(), cpu);
        sampler
    }
}

impl StatsSampler {
    pub fn sample(&self) -> std::io::Result<Stats> {
        let cpu = self.cpu_seconds()?;
        let cpu_percent = {
            let mut previous = self.previous.lock().expect("stats lock");
            let elapsed = previous.0.elapsed().as_secs_f64();
            let used = cpu - previous.1;
            *previous = (Instant::now(), cpu);
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
            if elapsed > 0.0 {
                round2(100.0 * used / elapsed / cores)
            } else {
                0.0
            }
        };
        let status = std::fs::read_to_string("/proc/self/status")?;
        let memory_usage = status_kib(&status, "VmRSS:") * 1024;
        let memory_limit = cgroup_memory_limit().unwrap_or_else(|| meminfo_total().unwrap_or(0));
        let memory_percent =
            if memory_limit > 0 { round2(100.0 * memory_usage as f64 / memory_limit as f64) } else { 0.0 };
        let (network_rx, network_tx) =
            network_bytes(&std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default());
        let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        Ok(Stats {
            cpu_percent,
            memory_usage,
            memory_limit,
            memory_percent,
            network_rx,
            network_tx,
            blk_read: field(&io, "read_bytes:"),
            blk_write: field(&io, "write_bytes:"),
        })
    }

    fn cpu_seconds(&self) -> std::io::Result<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat")?;
        // Fields after the command name, which may itself hold spaces and parentheses.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
        Ok((ticks(11) + ticks(12)) / self.ticks_per_second)
    }
}

fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn status_kib(status: &str, name: &str) -> u64 {
    field(status, name)
}

fn meminfo_total() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    Some(field(&meminfo, "MemTotal:") * 1024)
}

/// The memory limit of our cgroup (v2 `memory.max`, or v1), if one is set.
fn cgroup_memory_limit() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/memory.max")).ok()?;
    max.trim().parse().ok()
}

/// Received and sent bytes over every interface but loopback.
fn network_bytes(dev: &str) -> (u64, u64) {
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .map(|(_, counters)| {
            let c: Vec<u64> = counters.split_whitespace().filter_map(|v| v.parse().ok()).collect();
            (c.first().copied().unwrap_or(0), c.get(8).copied().unwrap_or(0))
        })
        .fold((0, 0), |(rx, tx), (r, t)| (rx + r, tx + t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_net_dev() {
        let dev = "Inter-|   Receive\n face |bytes packets\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 2000 10 0 0 0 0 0 0 3000 12 0 0 0 0 0 0\n";
        assert_eq!(network_bytes(dev), (2000, 3000));
    }

    #[test]
    fn samples_this_process() {
        let sampler = StatsSampler::default();
        let stats = sampler.sample().unwrap();
        assert!(stats.memory_usage > 0);
        assert!(stats.memory_limit >= stats.memory_usage);
        assert!(stats.cpu_percent >= 0.0);
    }
}
