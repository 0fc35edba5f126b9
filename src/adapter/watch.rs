//! The file watcher: polls the adapters folder (names, sizes, modification times of its
//! `*.toml` files) and hands any change to [`Store::sync_from_disk`] — the same code path
//! as start-up and API changes. No extra dependency, no platform notification API.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::store::{Publish, Store};

/// Stops the watcher when dropped.
#[derive(Debug)]
pub struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Fingerprint = Vec<(String, u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> Option<Fingerprint> {
    let mut files: Fingerprint = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".toml") || name.starts_with('.') {
                return None;
            }
            let meta = e.metadata().ok()?;
            Some((name, meta.len(), meta.modified().ok()))
        })
        .collect();
    files.sort();
    Some(files)
}

/// Polls `store`'s folder every `every` and publishes changes to `target`.
pub fn spawn(store: Arc<Store>, target: Arc<dyn Publish>, every: Duration) -> Watcher {
    Watcher(tokio::spawn(async move {
        let mut last = fingerprint(store.dir());
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = fingerprint(store.dir());
            if now == last {
                continue;
            }
            let (store, target) = (Arc::clone(&store), Arc::clone(&target));
            let _ =
                tokio::task::spawn_blocking(move || store.sync_from_disk(target.as_ref())).await;
            // The state seen before the sync: a file the store rewrote (managed header) or
            // edited again meanwhile costs one more sync, never a missed edit.
            last = now;
        }
    }))
}
