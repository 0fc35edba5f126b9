//! What the fan-out and the claims' routing take from the configuration.

use std::sync::Arc;

use super::BuildError;
use crate::config::{Config, RegisterFallback};
use crate::fanout::{FanoutSettings, RegisterSettings, RoutingSettings};
use crate::mapping::MappingSet;

/// The fan-out settings of the configuration.
pub fn fanout_settings(config: &Config) -> FanoutSettings {
    let o = &config.offices;
    FanoutSettings {
        sender_id: o.sender_id.clone(),
        participant_prefix: o.participant_prefix.clone(),
        test_delivery: o.test_delivery,
        deadline: o.deadline,
        breaker: config.protection.breaker,
        retry: config.protection.retry,
        hedge: config.protection.hedge_budget,
        max_entries_per_answer: config.protection.max_entries_per_answer,
    }
}

/// The routing settings of `[routing]` (with the register's compiled dialect), or
/// `None` without the section: every query asks every office, as before.
pub fn routing_settings(
    config: &Config,
    mappings: &MappingSet,
) -> Result<Option<RoutingSettings>, BuildError> {
    let Some(r) = &config.routing else {
        return Ok(None);
    };
    let register = match &r.register {
        None => None,
        Some(e) => {
            let refused = |problem: String| BuildError::Routing {
                file: config.file.clone(),
                problem,
            };
            let mapping = mappings.get(&e.dialect).ok_or_else(|| {
                refused(format!(
                    "no mapping {:?} in {}",
                    e.dialect,
                    config.offices.mappings.display()
                ))
            })?;
            if !mapping.is_register() {
                return Err(refused(format!(
                    "{:?} is an office dialect, not the register's",
                    e.dialect
                )));
            }
            Some(RegisterSettings {
                endpoint: e.endpoint.clone(),
                identity: e.identity.clone(),
                mapping: Arc::clone(mapping),
                timeout: e.timeout,
                max_answer_bytes: e.max_answer_bytes,
                max_rate_per_second: e.max_rate_per_second,
                max_concurrency: e.max_concurrency,
            })
        }
    };
    Ok(Some(RoutingSettings {
        mode: r.mode,
        register,
        fail_without_register: r.on_register_failure == RegisterFallback::Fail,
        cache_ttl: r.cache_ttl,
        cache_max_entries: r.cache_max_entries,
    }))
}
