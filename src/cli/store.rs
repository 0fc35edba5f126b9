//! `guichet migrate`: brings the configured store's schema up to date and says what it did.
//! `guichet store import`: moves a folder adapter registry into PostgreSQL.

use std::path::Path;

use anyhow::bail;

use crate::config::Config;
use crate::mapping::MappingSet;
use crate::store::{Imported, Store};

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

/// Imports the adapters folder `from` into the PostgreSQL registry of the configuration
/// (migrating the store first); one line on what changed. An office the database holds
/// with other content fails the whole import, naming it, unless `replace`.
pub async fn store_import(
    config_path: &Path,
    from: &Path,
    replace: bool,
) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    if config.store.location.backend() != "postgres" {
        bail!(
            "{}: store import needs a PostgreSQL store ([store] url = \"postgres://…\"); \
             without one the adapters folder is the registry",
            config.file.display()
        );
    }
    let mappings = MappingSet::load_dir(&config.offices.mappings)?;
    let folder = crate::adapter::Store::open_with_policy(
        from,
        mappings,
        config.offices.endpoint_policy.clone(),
    )?;
    let offices = folder.export()?;
    let store = Store::open(&config.store).await?;
    let (channel, payload) = crate::cluster::adapters_notice(store.schema());
    let outcome = store
        .registry_import(
            &offices,
            replace,
            &crate::adapter::store::replacement,
            Some((&channel, &payload)),
        )
        .await;
    store.close().await;
    let outcome = outcome?;
    let named = |kind: Imported| {
        offices
            .iter()
            .zip(&outcome)
            .filter(|(_, o)| **o == kind)
            .map(|(office, _)| office.row.office.as_str())
            .collect::<Vec<_>>()
    };
    let different = named(Imported::Different);
    if !different.is_empty() {
        bail!(
            "store {}: the registry already holds other content for office {}; nothing was \
             imported from {} (--replace makes the folder's definition a new version of those offices)",
            store.location(),
            different.join(", "),
            from.display()
        );
    }
    let (added, replaced) = (named(Imported::Added), named(Imported::Replaced));
    if added.is_empty() && replaced.is_empty() {
        return Ok(format!(
            "store {}: nothing changed, the registry already holds the {} offices of {}",
            store.location(),
            offices.len(),
            from.display()
        ));
    }
    let versions: usize = offices.iter().map(|o| o.history.len()).sum();
    Ok(format!(
        "store {}: imported {} from {} ({} added, {} replaced, {} unchanged; {versions} versions in the history)",
        store.location(),
        if offices.len() == 1 {
            "1 office".to_owned()
        } else {
            format!("{} offices", offices.len())
        },
        from.display(),
        added.len(),
        replaced.len(),
        offices.len() - added.len() - replaced.len(),
    ))
}
