//! The node's heartbeat: `alive/<node>`, rewritten every few seconds under the node's lease with
//! its free disk, CPU and memory use, the templates it holds and where its updates stand.
//!
//! The templates held and the last update acted on are kept in the node's folder too, so a
//! restarted node reports them as before.

use crate::Node;
use fleet::{Heartbeat, TemplateOnNode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the heartbeat is written even when nothing changed.
const PERIOD: Duration = Duration::from_secs(5);
const TEMPLATES_FILE: &str = "templates.json";
const GENERATION_FILE: &str = "update_generation";

/// What the heartbeat tells beyond the machine's figures.
pub(crate) struct State {
    dir: PathBuf,
    updating: AtomicBool,
    update_generation: AtomicU64,
    /// The templates pulled here, by image reference.
    templates: Mutex<BTreeMap<String, TemplateOnNode>>,
    /// Asks for a heartbeat now (an update began or ended).
    now: tokio::sync::Notify,
}

impl State {
    pub fn load(dir: &Path) -> State {
        let templates = std::fs::read(dir.join(TEMPLATES_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let generation = std::fs::read_to_string(dir.join(GENERATION_FILE))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        State {
            dir: dir.to_owned(),
            updating: AtomicBool::new(false),
            update_generation: AtomicU64::new(generation),
            templates: Mutex::new(templates),
            now: tokio::sync::Notify::new(),
        }
    }

    pub fn update_generation(&self) -> u64 {
        self.update_generation.load(Ordering::SeqCst)
    }

    pub fn set_updating(&self, updating: bool) {
        self.updating.store(updating, Ordering::SeqCst);
        self.now.notify_one();
    }

    /// Records that the node acted on update `generation`.
    pub fn updated_to(&self, generation: u64) {
        self.update_generation.store(generation, Ordering::SeqCst);
        if let Err(e) =
            base::fs::atomic_write(&self.dir.join(GENERATION_FILE), format!("{generation}\n").as_bytes(), 0o600)
        {
            tracing::warn!("can't record the node update {generation}: {e}");
        }
    }

    /// A template's image is on the node now.
    pub fn holds(&self, image: &str, template: TemplateOnNode) {
        self.change_templates(|templates| {
            templates.insert(image.to_owned(), template);
        });
    }

    /// Every image of `repository` left the node.
    pub fn dropped_repository(&self, repository: &str) {
        self.change_templates(|templates| {
            templates.retain(|image, _| crate::images::repository_of(image) != repository)
        });
    }

    fn change_templates(&self, change: impl FnOnce(&mut BTreeMap<String, TemplateOnNode>)) {
        let mut templates = self.templates.lock().expect("templates lock");
        change(&mut templates);
        let bytes = serde_json::to_vec(&*templates).expect("templates are JSON");
        if let Err(e) = base::fs::atomic_write(&self.dir.join(TEMPLATES_FILE), &bytes, 0o600) {
            tracing::warn!("can't record the templates the node holds: {e}");
        }
        drop(templates);
        self.now.notify_one();
    }

    fn templates(&self) -> Vec<TemplateOnNode> {
        self.templates.lock().expect("templates lock").values().cloned().collect()
    }
}

/// Writes the heartbeat every [`PERIOD`], and at once when the node's state changes.
pub(crate) async fn run(node: Arc<Node>) {
    let mut cpu = CpuSampler::default();
    loop {
        let heartbeat = Heartbeat {
            updating: node.heartbeat.updating.load(Ordering::SeqCst),
            ts: chrono::Utc::now(),
            free_disk_space: base::system::free_space(&node.dir).unwrap_or(0),
            cpu_util: cpu.sample(),
            ram_util: ram_util(),
            templates: node.heartbeat.templates(),
            update_generation: node.heartbeat.update_generation(),
        };
        node.leased.put_json(&node.keys.alive(&node.id), &heartbeat).await;
        let _ = tokio::time::timeout(PERIOD, node.heartbeat.now.notified()).await;
    }
}

/// The share of memory in use, 0.0 to 1.0.
fn ram_util() -> f64 {
    match (crate::info::meminfo("MemTotal:"), crate::info::meminfo("MemAvailable:")) {
        (Some(total), Some(available)) if total > 0 => 1.0 - available as f64 / total as f64,
        _ => 0.0,
    }
}

/// The host's CPU use between two samples, from `/proc/stat`.
#[derive(Default)]
struct CpuSampler {
    last: Option<(u64, u64)>,
}

impl CpuSampler {
    fn sample(&mut self) -> f64 {
        let Some(now) = std::fs::read_to_string("/proc/stat").ok().and_then(|stat| cpu_times(&stat)) else {
            return 0.0;
        };
        let util = self.last.map_or(0.0, |last| busy_share(last, now));
        self.last = Some(now);
        util
    }
}

/// The busy and total jiffies of the `cpu` line of `/proc/stat`.
fn cpu_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle and iowait are the fourth and fifth.
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn busy_share((busy_before, total_before): (u64, u64), (busy, total): (u64, u64)) -> f64 {
    let elapsed = total.saturating_sub(total_before);
    if elapsed == 0 {
        return 0.0;
    }
    (busy.saturating_sub(busy_before) as f64 / elapsed as f64).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_use_is_the_busy_share_between_samples() {
        let before = cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(before, (200, 1000));
        let after = cpu_times("cpu  200 0 200 800 100 0 0 0 0 0\n").unwrap();
        assert!((busy_share(before, after) - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(busy_share(after, after), 0.0);
        assert_eq!(cpu_times("intr 1 2 3"), None);
    }

    #[test]
    fn templates_and_the_update_generation_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::load(dir.path());
        let template = TemplateOnNode { uuid: "t1".into(), name: "reg/templates/t1".into(), tag: "v1".into() };
        state.holds("reg/templates/t1:v1", template.clone());
        state.holds("reg/templates/t2:v1", TemplateOnNode { uuid: "t2".into(), ..Default::default() });
        state.updated_to(3);
        let again = State::load(dir.path());
        assert_eq!(again.update_generation(), 3);
        assert_eq!(again.templates().len(), 2);
        again.dropped_repository("reg/templates/t2");
        assert_eq!(State::load(dir.path()).templates(), vec![template]);
    }
}
