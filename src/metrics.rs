//! Operational metrics in the Prometheus text format, served on a separate admin listener.
//! Labels are low-cardinality by construction: routes, statuses, office ids, kinds — an AHV
//! number, a name or an amount never becomes a label.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::model::OfficeId;

/// `route`, `status` of an answered request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template (`/v1/accounts/{vn}`), never the concrete path.
    pub route: &'static str,
    /// HTTP status.
    pub status: u16,
}

/// One office.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OfficeLabels {
    /// Office id `NNN.NNN`.
    pub office: String,
}

/// One office and an outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Office id.
    pub office: String,
    /// `ok`, `no_account`, `timeout`, `error`, `unavailable`.
    pub status: &'static str,
}

/// A kind (cache result, rejection reason).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The kind.
    pub kind: &'static str,
}

/// One office and why one of its answers was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedAnswerLabels {
    /// Office id.
    pub office: String,
    /// `entry-cap` (more IK entries and IV cases than `max_entries_per_answer`) or
    /// `byte-limit` (larger than the adapter's `max_answer_bytes`).
    pub reason: &'static str,
}

/// A listener and why the ingress closed (or refused) one of its connections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// `gateway` or `ops`.
    pub listener: &'static str,
    /// `over-cap`, `handshake-timeout`, `idle`, `max-age`, `revoked`, `expired`.
    pub reason: &'static str,
}

/// One fund and what a delivery attempt came to.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Office id.
    pub office: String,
    /// `accepted`, `rejected`, `transferred`, `delivered`, `failed`, `retry`, `waiting`,
    /// `superseded`.
    pub outcome: &'static str,
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status.
    pub requests: Family<RouteLabels, Counter>,
    /// Latency of consolidated queries (seconds).
    pub query_seconds: Histogram,
    /// Latency of office calls (seconds), per office.
    pub office_seconds: Family<OfficeLabels, Histogram>,
    /// Outcomes of office calls.
    pub office_outcomes: Family<OutcomeLabels, Counter>,
    /// Cache results: `hit`, `miss`, `bypass`.
    pub cache: Family<KindLabels, Counter>,
    /// Rejections: `portal-quota`, `in-flight`, `office-rate`, `circuit-open`.
    pub rejections: Family<KindLabels, Counter>,
    /// Connections the ingress refused or closed, by listener and reason.
    pub connections_closed: Family<ConnectionLabels, Counter>,
    /// Office calls tried again (after a `503` or a failed connection), per office.
    pub office_retries: Family<OfficeLabels, Counter>,
    /// Retries wanted but refused by the office's retry budget, per office.
    pub office_retries_refused: Family<OfficeLabels, Counter>,
    /// Office answers refused by a size cap, per office and cap.
    pub answers_refused: Family<RefusedAnswerLabels, Counter>,
    /// Outbox delivery attempts by fund and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// `verify` mode: offices where the register and the answers disagree, by kind
    /// (`not-in-register`, `no-account`).
    pub routing_discrepancies: Family<KindLabels, Counter>,
    /// Offices asked per routed query, by mode (`register`, `verify`, `broadcast`) and
    /// whether the register fallback was taken.
    pub routing_offices_asked: Family<RoutingLabels, Histogram>,
    /// Replicas alive on the shared PostgreSQL store at this replica's last heartbeat
    /// (1 without a cluster).
    pub replicas_live: Gauge,
    /// Notices received from the cluster (`adapters`, `evict`) and re-reads (`resync`).
    pub cluster_notices: Family<KindLabels, Counter>,
    /// Audit records that could not be written (the action they record did not happen).
    pub audit_write_failures: Counter,
}

/// A routing mode and whether its register fallback was taken.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoutingLabels {
    /// `register`, `broadcast`, `verify`.
    pub mode: &'static str,
    /// `ok`, `unknown-person`, `timeout`, `error`, `unavailable`, `bad-certificate`,
    /// `skipped`: what the register did.
    pub register: &'static str,
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("guichet");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route and HTTP status",
            requests.clone(),
        );
        let query_seconds = Histogram::new(exponential_buckets(0.002, 2.0, 13));
        registry.register(
            "query_duration_seconds",
            "Time to answer one consolidated account query",
            query_seconds.clone(),
        );
        let office_seconds = Family::<OfficeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 13))
        });
        registry.register(
            "office_call_duration_seconds",
            "Time of one office call",
            office_seconds.clone(),
        );
        let office_outcomes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "office_calls",
            "Office calls by outcome",
            office_outcomes.clone(),
        );
        let cache = Family::<KindLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Account cache lookups by result",
            cache.clone(),
        );
        let rejections = Family::<KindLabels, Counter>::default();
        registry.register(
            "rejections",
            "Requests or calls refused by a limit, by kind",
            rejections.clone(),
        );
        let connections_closed = Family::<ConnectionLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Connections refused or closed by the ingress, by listener and reason",
            connections_closed.clone(),
        );
        let office_retries = Family::<OfficeLabels, Counter>::default();
        registry.register(
            "office_retries",
            "Office calls tried again after a 503 or a failed connection, per office",
            office_retries.clone(),
        );
        let office_retries_refused = Family::<OfficeLabels, Counter>::default();
        registry.register(
            "office_retries_refused",
            "Retries wanted but refused by the office's retry budget, per office",
            office_retries_refused.clone(),
        );
        let answers_refused = Family::<RefusedAnswerLabels, Counter>::default();
        registry.register(
            "office_answers_refused",
            "Office answers refused by a size cap (entry-cap, byte-limit), per office",
            answers_refused.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Outbox delivery attempts (claims to funds) by office and outcome",
            deliveries.clone(),
        );
        let routing_discrepancies = Family::<KindLabels, Counter>::default();
        registry.register(
            "routing_discrepancies",
            "Verify mode: offices where the account register and the answers disagree, by kind",
            routing_discrepancies.clone(),
        );
        let routing_offices_asked =
            Family::<RoutingLabels, Histogram>::new_with_constructor(|| {
                Histogram::new([0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 25.0, 50.0, 101.0, 250.0])
            });
        registry.register(
            "routing_offices_asked",
            "Offices asked per routed account query, by mode and register status",
            routing_offices_asked.clone(),
        );
        let replicas_live = Gauge::default();
        replicas_live.set(1);
        registry.register(
            "replicas_live",
            "Replicas alive on the shared PostgreSQL store at the last heartbeat (1 without one)",
            replicas_live.clone(),
        );
        let cluster_notices = Family::<KindLabels, Counter>::default();
        registry.register(
            "cluster_notices",
            "Notices from other replicas (adapters, evict) and re-reads of the shared state (resync)",
            cluster_notices.clone(),
        );
        let audit_write_failures = Counter::default();
        registry.register(
            "audit_write_failures",
            "Audit records that could not be written; the action each records was refused",
            audit_write_failures.clone(),
        );
        Metrics {
            replicas_live,
            cluster_notices,
            audit_write_failures,
            deliveries,
            routing_discrepancies,
            routing_offices_asked,
            connections_closed,
            office_retries,
            office_retries_refused,
            answers_refused,
            registry,
            requests,
            query_seconds,
            office_seconds,
            office_outcomes,
            cache,
            rejections,
        }
    }

    /// Counts a retry of an office call: started, or refused by the office's budget.
    pub fn retry(&self, office: OfficeId, started: bool) {
        let family = if started {
            &self.office_retries
        } else {
            &self.office_retries_refused
        };
        family
            .get_or_create(&OfficeLabels {
                office: office.to_string(),
            })
            .inc();
    }

    /// Counts an office answer refused by a size cap (`entry-cap`, `byte-limit`).
    pub fn answer_refused(&self, office: OfficeId, reason: &'static str) {
        self.answers_refused
            .get_or_create(&RefusedAnswerLabels {
                office: office.to_string(),
                reason,
            })
            .inc();
    }

    /// The registry in the Prometheus text format, followed by `extra` gauge lines
    /// computed at scrape time (breaker states, certificate expiry).
    pub fn render(&self, extra: &str) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out.push_str(extra);
        if prometheus_client::encoding::text::encode_eof(&mut out).is_err() {
            out.push_str("# EOF\n");
        }
        out
    }
}
