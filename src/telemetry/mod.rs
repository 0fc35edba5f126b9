//! Traces over OTLP/HTTP (protobuf), when `[telemetry] otlp_endpoint` is configured: one
//! server span per account query, one client span per office call under it, exported in
//! batches and flushed when the gateway stops. Owns the OpenTelemetry SDK; the span ids
//! are the W3C ids of [`crate::trace`] (the office's `traceparent` names its call span).
//! Must not: put a person, a token, an AHV number or a name into any attribute (spans
//! carry route templates, office ids, statuses and counts only); reach anything but the
//! configured endpoint.

mod http;
mod span;

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::config::OtlpConfig;

pub use span::{CallSpan, QueryFacts, QuerySpan};

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The HTTP client of the exporter.
    #[error("telemetry: the OTLP HTTP client: {0}")]
    Client(String),
    /// The exporter itself.
    #[error("telemetry: the OTLP exporter for {endpoint}: {problem}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// What the SDK said.
        problem: String,
    },
}

/// The process's span export, or none (the default): cheap to clone, shared by the state.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Telemetry {
    /// No export: spans are not recorded; office calls still get a W3C child id.
    pub fn off() -> Telemetry {
        Telemetry::default()
    }

    /// Starts the batch exporter towards `config.endpoint`; the resource names the
    /// service, its version and the replica (`service.instance.id`: `[server]
    /// replica_id`, else the host name and process id, as `crate::cluster::ReplicaId`
    /// makes it). Must run inside a Tokio runtime: exports are sent on it.
    pub fn start(config: &OtlpConfig, replica: &str) -> Result<Telemetry, TelemetryError> {
        let client = http::OnRuntime::new(config.export_timeout)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.endpoint.as_str())
            .with_timeout(config.export_timeout)
            .build()
            .map_err(|e| TelemetryError::Exporter {
                endpoint: config.endpoint.to_string(),
                problem: e.to_string(),
            })?;
        let provider = SdkTracerProvider::builder()
            .with_resource(resource(&config.service_name, replica))
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("guichet");
        Ok(Telemetry {
            inner: Some(Arc::new(Inner { provider, tracer })),
        })
    }

    /// Whether spans are exported.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// The span of one account query. With export on, a trace the caller did not send is
    /// taken over from the new span, so that the `traceparent` echoed to the portal names
    /// the exported span; a caller's trace is continued as the span's remote parent.
    pub fn query(&self, trace: &mut crate::trace::Trace, route: &'static str) -> QuerySpan {
        match &self.inner {
            Some(inner) => QuerySpan::start(&inner.tracer, trace, route),
            None => QuerySpan::off(),
        }
    }

    /// Exports what is still queued and stops the exporter (waits at most the export
    /// time-out); later spans are dropped. Called by `Gateway::serve` once drained.
    pub async fn shutdown(&self) {
        let Some(inner) = self.inner.clone() else {
            return;
        };
        // The SDK's shutdown blocks until the batch thread has exported, and that export
        // runs on this runtime: block a pool thread, never a reactor thread.
        let done = tokio::task::spawn_blocking(move || inner.provider.shutdown()).await;
        match done {
            Ok(Ok(())) => tracing::info!("traces flushed to the OTLP endpoint"),
            Ok(Err(e)) => tracing::warn!(error = %e, "traces not all flushed at shutdown"),
            Err(e) => tracing::warn!(error = %e, "trace flush at shutdown failed"),
        }
    }
}

/// `service.name`, `service.version` and `service.instance.id` (the replica).
fn resource(service: &str, replica: &str) -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", service.to_owned()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", replica.to_owned()),
        ])
        .build()
}
