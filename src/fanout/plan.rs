//! The planner: which offices a query asks. Kept apart so a smarter plan (the ZAS
//! register of which funds hold an account) can replace it without touching the calls.

use std::sync::Arc;

use crate::adapter::{Adapter, Registry};

/// Every IK-holding fund and every IV office of the registry, by office id.
pub fn plan(registry: &Registry) -> Vec<Arc<Adapter>> {
    registry.iter().cloned().collect()
}
