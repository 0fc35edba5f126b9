//! The exporter's HTTP client: the async reqwest of the tree, driven on the gateway's
//! Tokio runtime. The SDK's batch processor runs on a thread of its own with a plain
//! executor, where reqwest cannot run; each export is therefore spawned onto the runtime
//! the exporter was built on and awaited from there.

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

use super::TelemetryError;

/// A reqwest client and the runtime its requests run on.
#[derive(Debug, Clone)]
pub(super) struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    /// A client with no redirects, no proxy and `timeout` per request. Endpoints are
    /// `http://` (checked by the configuration): its TLS config trusts nothing.
    pub(super) fn new(timeout: Duration) -> Result<OnRuntime, TelemetryError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| TelemetryError::Client(format!("no Tokio runtime: {e}")))?;
        let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TelemetryError::Client(e.to_string()))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| TelemetryError::Client(e.to_string()))?;
        Ok(OnRuntime { client, runtime })
    }
}

#[async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}
