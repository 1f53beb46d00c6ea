//! The Stats model shared by the supervisor and every container, and its computation from one
//! engine stats sample.

use bollard::models::ContainerStatsResponse;
use serde::Serialize;
use utoipa::ToSchema;

/// Resource figures in the real Supervisor's Stats model: what `/supervisor/stats` and the
/// stats of every container answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Stats {
    pub cpu_percent: f64,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub memory_percent: f64,
    pub network_rx: u64,
    pub network_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
}

/// Rounds to two decimals, as the real Supervisor reports percentages.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The figures from one engine stats sample (which carries the previous CPU sample too).
pub fn stats_from(sample: &ContainerStatsResponse) -> Stats {
    let cpu = sample.cpu_stats.as_ref();
    let precpu = sample.precpu_stats.as_ref();
    let total = |c: Option<&bollard::models::ContainerCpuStats>| {
        c.and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.total_usage).unwrap_or(0)
    };
    let system = |c: Option<&bollard::models::ContainerCpuStats>| c.and_then(|c| c.system_cpu_usage).unwrap_or(0);
    let cpu_delta = total(cpu).saturating_sub(total(precpu)) as f64;
    let system_delta = system(cpu).saturating_sub(system(precpu)) as f64;
    let cpus = cpu
        .and_then(|c| c.online_cpus.map(f64::from))
        .or_else(|| cpu.and_then(|c| c.cpu_usage.as_ref()?.percpu_usage.as_ref().map(|p| p.len() as f64)))
        .filter(|n| *n > 0.0)
        .unwrap_or(1.0);
    let cpu_percent = if system_delta > 0.0 { round2(cpu_delta / system_delta * cpus * 100.0) } else { 0.0 };

    let memory = sample.memory_stats.as_ref();
    // Page cache is reclaimable; the engine's own CLI leaves it out of "usage" the same way.
    let cache = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| s.get("cache").or_else(|| s.get("total_inactive_file")).or_else(|| s.get("inactive_file")))
        .copied()
        .unwrap_or(0);
    let memory_usage = memory.and_then(|m| m.usage).unwrap_or(0).saturating_sub(cache);
    let memory_limit = memory.and_then(|m| m.limit).unwrap_or(0);
    let memory_percent = if memory_limit > 0 { round2(memory_usage as f64 / memory_limit as f64 * 100.0) } else { 0.0 };

    let (network_rx, network_tx) = sample
        .networks
        .as_ref()
        .map(|n| n.values().fold((0, 0), |(rx, tx), s| (rx + s.rx_bytes.unwrap_or(0), tx + s.tx_bytes.unwrap_or(0))))
        .unwrap_or((0, 0));

    let io = sample.blkio_stats.as_ref().and_then(|b| b.io_service_bytes_recursive.as_ref());
    let io_sum = |op: &str| {
        io.map(|entries| {
            entries
                .iter()
                .filter(|e| e.op.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(op)))
                .map(|e| e.value.unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
    };
    Stats {
        cpu_percent,
        memory_usage,
        memory_limit,
        memory_percent,
        network_rx,
        network_tx,
        blk_read: io_sum("read"),
        blk_write: io_sum("write"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stats_from_an_engine_sample() {
        let sample: ContainerStatsResponse = serde_json::from_value(json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000}, "system_cpu_usage": 200_000_000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000}, "system_cpu_usage": 100_000_000},
            "memory_stats": {"usage": 50_000_000, "limit": 1_000_000_000, "stats": {"inactive_file": 10_000_000}},
            "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 200}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 8192},
                {"major": 8, "minor": 16, "op": "Read", "value": 4}
            ]}
        }))
        .unwrap();
        let stats = stats_from(&sample);
        assert_eq!(stats.cpu_percent, 4.0);
        assert_eq!(stats.memory_usage, 40_000_000);
        assert_eq!(stats.memory_limit, 1_000_000_000);
        assert_eq!(stats.memory_percent, 4.0);
        assert_eq!((stats.network_rx, stats.network_tx), (101, 202));
        assert_eq!((stats.blk_read, stats.blk_write), (4100, 8192));
    }

    #[test]
    fn an_empty_sample_is_all_zero() {
        let stats = stats_from(&ContainerStatsResponse::default());
        assert_eq!(stats.cpu_percent, 0.0);
        assert_eq!(stats.memory_percent, 0.0);
        assert_eq!(stats.blk_read, 0);
    }
}
