//! The `[telemetry]` section: where traces go over OTLP/HTTP, under which service name.
//! Absent or without `otlp_endpoint`, nothing is exported. Raw TOML in, a validated
//! [`TelemetryConfig`] out; the exporter itself is built by `crate::telemetry`.

use std::time::Duration;

use serde::Deserialize;

use super::FieldError;

/// `[telemetry]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    #[serde(default)]
    otlp_endpoint: Option<String>,
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    export_timeout_ms: Option<u64>,
}

/// Trace export settings; `otlp: None` is the default (nothing leaves the process).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP receiver, when traces are exported.
    pub otlp: Option<OtlpConfig>,
}

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The traces URL (`…/v1/traces`; a bare `http://host:4318` gets that path).
    pub endpoint: reqwest::Url,
    /// The `service.name` resource attribute (default `guichet`).
    pub service_name: String,
    /// Time one export (one batch) may take (default 10 s, 100 ms–60 s).
    pub export_timeout: Duration,
}

/// The default `service.name`.
pub const DEFAULT_SERVICE_NAME: &str = "guichet";

impl RawTelemetry {
    /// Validates the section.
    pub(super) fn validate(&self) -> Result<TelemetryConfig, FieldError> {
        let Some(endpoint) = &self.otlp_endpoint else {
            if self.service_name.is_some() || self.export_timeout_ms.is_some() {
                return Err(FieldError::new(
                    "telemetry.otlp_endpoint",
                    "missing: service_name and export_timeout_ms only apply when traces are \
                     exported to an OTLP endpoint",
                ));
            }
            return Ok(TelemetryConfig::default());
        };
        let service_name = self
            .service_name
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        let printable = |c: char| c.is_ascii_graphic() || c == ' ';
        if service_name.is_empty()
            || service_name.len() > 100
            || !service_name.chars().all(printable)
        {
            return Err(FieldError::new(
                "telemetry.service_name",
                "1 to 100 printable ASCII characters",
            ));
        }
        let ms = FieldError::range(
            "telemetry.export_timeout_ms",
            self.export_timeout_ms.unwrap_or(10_000),
            100,
            60_000,
        )?;
        Ok(TelemetryConfig {
            otlp: Some(OtlpConfig {
                endpoint: endpoint_url(endpoint)?,
                service_name,
                export_timeout: Duration::from_millis(ms),
            }),
        })
    }
}

/// An `http://` URL with a host; an empty path becomes `/v1/traces`. `https://` is refused:
/// spans carry no person, and the exporter is meant for the collector next to the process
/// (a sidecar or node agent), which forwards them over its own TLS.
fn endpoint_url(text: &str) -> Result<reqwest::Url, FieldError> {
    let field = "telemetry.otlp_endpoint";
    let mut url = reqwest::Url::parse(text)
        .map_err(|e| FieldError::new(field, format!("{text:?} is not a URL: {e}")))?;
    if url.scheme() != "http" {
        return Err(FieldError::new(
            field,
            format!(
                "{text:?}: only http:// is supported (a collector on the same host or pod, \
                 e.g. http://127.0.0.1:4318)"
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) || url.query().is_some() {
        return Err(FieldError::new(
            field,
            format!("{text:?}: a host is needed, and no query string"),
        ));
    }
    if url.path() == "/" {
        url.set_path("/v1/traces");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(endpoint: Option<&str>, name: Option<&str>) -> RawTelemetry {
        RawTelemetry {
            otlp_endpoint: endpoint.map(str::to_owned),
            service_name: name.map(str::to_owned),
            export_timeout_ms: None,
        }
    }

    #[test]
    fn off_by_default_and_endpoints_are_checked() {
        assert_eq!(raw(None, None).validate(), Ok(TelemetryConfig::default()));
        let on = raw(Some("http://127.0.0.1:4318"), None)
            .validate()
            .expect("valid");
        let otlp = on.otlp.expect("on");
        assert_eq!(otlp.endpoint.as_str(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(otlp.service_name, "guichet");
        let kept = raw(Some("http://collector:4318/custom/traces"), Some("gw"))
            .validate()
            .expect("valid");
        assert_eq!(kept.otlp.expect("on").endpoint.path(), "/custom/traces");
        for bad in ["https://collector:4318", "collector:4318", "http://", "x"] {
            let e = raw(Some(bad), None).validate().expect_err(bad);
            assert_eq!(e.field, "telemetry.otlp_endpoint", "{bad}");
        }
        let e = raw(None, Some("gw")).validate().expect_err("name alone");
        assert_eq!(e.field, "telemetry.otlp_endpoint");
        let e = raw(Some("http://c:4318"), Some(""))
            .validate()
            .expect_err("empty");
        assert_eq!(e.field, "telemetry.service_name");
    }
}
