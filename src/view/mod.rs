//! The JSON shapes of the public API (`docs/api.md`, `src/server/openapi.json`) and of
//! the office-staff commands. Only this module decides field names and how money, months
//! and dates are spelt; the server serializes these types, the CLI deserializes them.
//! Invariant: no `json!` shape is built anywhere else on the way out.

mod account;
mod ack;
mod api;
mod audit;
mod console;
mod message;
mod register;
mod routing;
mod submission;
mod truth;

pub use account::{
    AccountView, AnswerView, ConflictView, EntryView, IvCaseView, SourceView, YearView,
};
pub use ack::AckView;
pub use api::{
    AccessView, AccessesView, AdapterRow, AdapterView, AdaptersView, CallerView, ChangedView,
    FieldErrorView, HealthView, ProbeView, ProblemView, ReloadView,
};
pub use audit::{AuditHeadView, AuditRecordRef, CheckpointView};
pub use console::{AccessCountView, FederationView, OfficeHealthView, OutboxRowView};
pub use message::{
    AttachmentView, InboxView, MessageListView, MessageReceiptsView, MessageSentView,
    MessageSummaryView, MessageView, ReplyAttachmentView, ReplySentView, ReplyView,
};
pub use register::{
    AffiliationView, DiscrepancyView, IvFileView, RegisterAccountView, RegisterAnswerView,
    RegisterCallView, RoutingView,
};
pub use routing::{RoutingDecisionView, SkippedRuleView};
pub use submission::{HistoryView, ReceiptView, ReceiptsView, SubmissionView};
pub use truth::{HolderView, RegisterTruthView, TruthView};
