//! The two kinds of span: the account query (server) and each office call (client) under
//! it. Attributes are route templates, office ids, adapter names, statuses and counts —
//! never the person, a token or anything an office answered.

use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

use crate::model::SourceStatus;
use crate::trace::Trace;

/// The span of one query; inert when export is off.
#[derive(Debug, Default)]
pub struct QuerySpan {
    live: Option<(SdkTracer, Context)>,
}

/// What the query span records when it ends.
#[derive(Debug, Clone, Copy)]
pub struct QueryFacts<'a> {
    /// The portal's certificate name (an institution, never a person).
    pub portal: &'a str,
    /// The stated purpose.
    pub purpose: &'a str,
    /// `hit`, `miss`, `bypass` or `off`.
    pub cache: &'a str,
    /// `complete`, `incomplete`, `cached`, or the problem's status.
    pub result: &'a str,
    /// Offices in the answer's `sources`.
    pub offices: usize,
    /// Of which did not answer.
    pub failed: usize,
    /// The HTTP status sent.
    pub status: u16,
}

impl QuerySpan {
    /// A span that records nothing.
    pub fn off() -> QuerySpan {
        QuerySpan::default()
    }

    pub(super) fn start(tracer: &SdkTracer, trace: &mut Trace, route: &'static str) -> QuerySpan {
        let parent = if trace.remote {
            let flags = TraceFlags::new(trace.flags);
            let sc = SpanContext::new(
                TraceId::from_bytes(trace.trace_id),
                opentelemetry::trace::SpanId::from_bytes(trace.parent_id),
                flags,
                true,
                TraceState::default(),
            );
            Context::new().with_remote_span_context(sc)
        } else {
            Context::new()
        };
        let span = tracer
            .span_builder(format!("GET {route}"))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", route),
            ])
            .start_with_context(tracer, &parent);
        let sc = span.span_context().clone();
        if !trace.remote {
            // Our own trace: the ids the portal is told are those of the exported span.
            trace.trace_id = sc.trace_id().to_bytes();
            trace.parent_id = sc.span_id().to_bytes();
            trace.flags = sc.trace_flags().to_u8();
        }
        QuerySpan {
            live: Some((tracer.clone(), parent.with_span(span))),
        }
    }

    /// Ends the span with what the query gave.
    pub fn finish(self, facts: &QueryFacts<'_>) {
        let Some((_, cx)) = self.live else {
            return;
        };
        let span = cx.span();
        span.set_attributes([
            KeyValue::new("guichet.portal", facts.portal.to_owned()),
            KeyValue::new("guichet.purpose", facts.purpose.to_owned()),
            KeyValue::new("guichet.cache", facts.cache.to_owned()),
            KeyValue::new("guichet.result", facts.result.to_owned()),
            KeyValue::new("guichet.offices", facts.offices as i64),
            KeyValue::new("guichet.offices_failed", facts.failed as i64),
            KeyValue::new("http.response.status_code", i64::from(facts.status)),
        ]);
        if facts.status >= 500 {
            span.set_status(Status::error(facts.result.to_owned()));
        }
        span.end();
    }
}

/// One office call's span and the `traceparent` sent to the office, which names it.
#[derive(Debug)]
pub struct CallSpan {
    span: Option<opentelemetry_sdk::trace::Span>,
    traceparent: String,
}

impl CallSpan {
    /// A child of `query` (or, export off, a fresh W3C child id of `trace`) for a call to
    /// `office` through the adapter `adapter`.
    pub fn start(
        query: Option<&QuerySpan>,
        trace: &Trace,
        office: &str,
        adapter: &str,
    ) -> CallSpan {
        let Some((tracer, cx)) = query.and_then(|q| q.live.as_ref()) else {
            return CallSpan {
                span: None,
                traceparent: trace.child(),
            };
        };
        let span = tracer
            .span_builder("office call")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("guichet.office", office.to_owned()),
                KeyValue::new("guichet.adapter", adapter.to_owned()),
            ])
            .start_with_context(tracer, cx);
        let sc = span.span_context();
        let traceparent = format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        CallSpan {
            span: Some(span),
            traceparent,
        }
    }

    /// The `traceparent` header of this call's requests (retries and hedges included).
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// Ends the span with the call's outcome (its kind only, never the detail text).
    pub fn end(self, status: &SourceStatus) {
        let Some(mut span) = self.span else {
            return;
        };
        span.set_attribute(KeyValue::new("guichet.outcome", status.name()));
        if !status.is_answer() {
            span.set_status(Status::error(status.name()));
        }
        span.end();
    }
}
