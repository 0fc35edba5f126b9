//! `guichet migrate`: brings the configured store's schema up to date and says what it did.

use std::path::Path;

use crate::config::Config;
use crate::store::Store;

/// Migrates the store of the configuration at `config_path`; one line on what changed.
pub async fn migrate(config_path: &Path) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    let store = Store::connect(&config.store).await?;
    let before = store.schema_version().await?;
    let after = store.migrate().await?;
    store.close().await;
    let location = store.location();
    Ok(match before {
        Some(v) if v == after => format!("store {location}: schema version {after}, up to date"),
        Some(v) => format!("store {location}: schema version {v} → {after}"),
        None => format!("store {location}: schema created, version {after}"),
    })
}
