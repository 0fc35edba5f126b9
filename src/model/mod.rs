//! The canonical model: what guichet knows about persons, offices, accounts and cases.
//! Pure data with its validation; no I/O, no XML, no HTTP types.

mod ack;
mod ahv;
pub mod claim;
mod entry;
mod identity;
mod income;
mod money;
mod office;
mod outcome;
mod register;

pub use ack::{AckOutcome, ApgAck, RejectReason};
pub use ahv::{Vn, VnError};
pub use claim::{ApgClaim, ClaimErrors, ClaimRouting, FieldError};
pub use entry::{Benefit, CaseStatus, CodeName, Date, IkEntry, IvCase, Month};
pub use identity::{
    Identity, IdentityError, MAX_NAME_LEN, Role, URI_PREFIX, is_office_id, validate_name,
};
pub use income::{Genre, IncomeCode, IncomeCodeError};
pub use money::{Money, MoneyError};
pub use office::{
    CANTONS, Canton, CantonError, OfficeId, OfficeIdError, OfficeKind, is_participant_id,
};
pub use outcome::{Answer, AnswerStatus, OfficeOutcome, SourceStatus, same_person};
pub use register::{
    Affiliation, Discrepancy, DiscrepancyKind, IvFile, RegisterAccount, RegisterAnswer,
    RegisterCall, RegisterStatus, RoutingMode, RoutingReport, YearMonth,
};
