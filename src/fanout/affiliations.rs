//! The claimant's affiliations for routing a submission: the central account register
//! asked once (its client, breaker, caps and cache, as for a query), never failing the
//! submission. When routing does not ask the register (no `[routing]`, mode `broadcast`)
//! or the register fails, the answer is absent and the claim is routed by its own content;
//! [`Affiliations::basis`] says which, for the submission's history.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Fanout, Query, call, register};
use crate::merge::YearRange;
use crate::model::{RegisterAnswer, RegisterCall, RegisterStatus, Vn};

/// The purpose the register is asked under for a submission.
const CLAIM_PURPOSE: &str = "claim";

/// What the register contributed to a submission's routing.
#[derive(Debug, Clone)]
pub struct Affiliations {
    /// The register's answer, when it gave one.
    pub answer: Option<Arc<RegisterAnswer>>,
    /// What the register did (`skipped` when routing does not ask it).
    pub call: RegisterCall,
    /// Why it was skipped: `None` when it was asked.
    pub skipped_because: Option<&'static str>,
}

impl Affiliations {
    /// The register's answer, or an empty one (an unknown person) to route by the claim's
    /// own content.
    pub fn answer_or_empty(&self) -> RegisterAnswer {
        self.answer.as_deref().cloned().unwrap_or_default()
    }

    /// Whether the claim is routed by its own content only (no usable answer).
    pub fn is_fallback(&self) -> bool {
        self.answer.is_none()
    }

    /// What the routing rested on, in words for the history: the register's answer, or
    /// why the claim's own content decided. Names no person.
    pub fn basis(&self) -> String {
        let status = self.call.status.name();
        match (&self.answer, self.skipped_because) {
            (Some(a), _) if a.known => "affiliations from the account register".to_owned(),
            (Some(_), _) => "the account register does not know the person".to_owned(),
            (None, Some(why)) => {
                format!("account register not asked ({why}): routed by the claim's content")
            }
            (None, None) => {
                format!("account register failed ({status}): routed by the claim's content")
            }
        }
    }
}

impl Fanout {
    /// Asks the central account register about a claimant, for routing a submission:
    /// only when `[routing]` is configured with a mode that asks it; bounded by the
    /// register's timeout and the configured query deadline; cached like a query's
    /// answer. Never fails: a failure is reported in [`Affiliations::call`].
    pub async fn affiliations(&self, vn: Vn, trace: crate::trace::Trace) -> Affiliations {
        let skipped = |why| Affiliations {
            answer: None,
            call: RegisterCall {
                status: RegisterStatus::Skipped,
                detail: None,
                as_of: None,
                latency: Duration::ZERO,
                cached: false,
            },
            skipped_because: Some(why),
        };
        let (Some(routing), Some(register)) = (&self.routing, &self.register) else {
            return skipped("no [routing] register");
        };
        if !routing.mode.asks_register() {
            return skipped("routing mode broadcast");
        }
        let q = Query {
            vn,
            range: YearRange::default(),
            deadline: None,
            purpose: CLAIM_PURPOSE,
            trace,
            span: None,
        };
        let ctx = call::QueryContext::new(&q, &self.settings);
        let env = call::CallEnv {
            clients: &self.clients,
            guards: &self.guards,
            hedge: self.hedge.as_ref(),
            breaker: self.settings.breaker,
            retry: self.settings.retry,
        };
        let deadline_at = Instant::now() + self.effective_deadline(None);
        let register::Asked { call, answer } = register.ask(&env, &ctx, deadline_at).await;
        Affiliations {
            answer,
            call,
            skipped_because: None,
        }
    }
}
