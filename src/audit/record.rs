//! What the audit log records: the [`Event`] (its [`Kind`], the [`Actor`] and, for a
//! person's data, the keyed hash and the [`Binding`]), and the [`Record`] — one line of the
//! log, the event with its place in the chain. Serialized field names are the log's file
//! format: older logs stay readable.

use serde::{Deserialize, Serialize};

/// What a record is about. Serialized in kebab-case; the names of older logs stay readable.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A portal read a person's account.
    AccountQuery,
    /// A portal read who looked at a person's account.
    AccessesQuery,
    /// An office said a person's account changed (cache eviction).
    AccountChanged,
    /// An adapter change is about to be applied (written before the files change).
    AdapterIntent,
    /// The outcome of an adapter change request (also refusals, which change nothing).
    AdapterChange,
    /// A TLS or seal reload: written before the new material is swapped in, with what it
    /// swaps.
    Reload,
    /// A signed receipt (submission, delivery, dispatch, read): its kind in `result`, its
    /// id, subject id and SHA-256 in `detail`; written before the receipt leaves.
    Receipt,
    /// An operator made an outbox row due now (console): the row's id in `detail`.
    OutboxRetry,
    /// An office sent a message to a person (message id in `detail`).
    MessageSend,
    /// A portal listed a person's messages.
    MessageList,
    /// A portal read a message or one of its attachments (first reads and later ones).
    MessageRead,
    /// A person replied to a message.
    MessageReply,
    /// An office fetched its inbox of replies or acknowledged one.
    MessageInbox,
}

/// Who acted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ActorRole {
    /// A portal's client certificate.
    Portal,
    /// An office's client certificate.
    Office,
    /// An administrator's client certificate.
    Admin,
    /// The gateway itself (a certificate with the gateway role).
    Gateway,
    /// The account register's certificate (it answers, it never calls the gateway).
    Register,
    /// The seal's certificate (it signs receipts, it is never a TLS identity).
    Seal,
    /// The operator through the host: a signal or a changed file.
    Operator,
    /// A certificate without a known role.
    Unknown,
}

impl From<crate::model::Role> for ActorRole {
    fn from(role: crate::model::Role) -> ActorRole {
        use crate::model::Role;
        match role {
            Role::Portal => ActorRole::Portal,
            Role::Office => ActorRole::Office,
            Role::Admin => ActorRole::Admin,
            Role::Gateway => ActorRole::Gateway,
            Role::Register => ActorRole::Register,
            Role::Seal => ActorRole::Seal,
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    /// Role of the client certificate, or `operator` for signals and file changes.
    pub role: ActorRole,
    /// Name in the certificate (or the trigger, for the operator).
    pub name: String,
}

impl Actor {
    /// The actor of an optional client identity (`unknown` without one).
    pub fn of(peer: Option<&crate::model::Identity>) -> Actor {
        peer.map_or_else(
            || Actor {
                role: ActorRole::Unknown,
                name: String::new(),
            },
            |id| Actor {
                role: id.role.into(),
                name: id.name.clone(),
            },
        )
    }

    /// The operator, acting through `trigger` (`SIGHUP`, `file change`).
    pub fn operator(trigger: &str) -> Actor {
        Actor {
            role: ActorRole::Operator,
            name: trigger.to_owned(),
        }
    }
}

/// What is recorded, before the chain fields are added.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// What the record is about.
    pub kind: Kind,
    /// The caller.
    pub actor: Actor,
    /// The stated purpose, for queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// HMAC-SHA-256 of the person's AHV number (hex), when a person is concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Offices contacted and their status (`office` → `ok`, `timeout`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offices: Vec<(String, String)>,
    /// The result: `complete`, `incomplete`, `cached`, an HTTP status, `intent`…
    pub result: String,
    /// Free detail without personal data (the adapter changed, the request id…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What bound the query beyond the portal's certificate: the end user's token or the
    /// institution's case reference (absent in older records and for other kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
}

/// What a query was bound to besides the caller's certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Binding {
    /// The end user's own token, verified: who issued it and the keyed hash of its `sub`
    /// ([`AuditLog::subject`]); never the token.
    #[serde(rename_all = "camelCase")]
    EndUser {
        /// The identity provider (`iss`).
        issuer: String,
        /// HMAC-SHA-256 (hex) of the issuer and the `sub` claim.
        subject: String,
    },
    /// An institutional query: the `Case-Reference` the portal gave (1–64 visible ASCII).
    CaseReference(String),
}

/// One line of the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Position in the whole chain, from 1.
    pub seq: u64,
    /// RFC 3339 UTC time.
    pub time: String,
    /// The replica whose chain this is (`[server] replica_id`); absent in older records
    /// and for a gateway without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
    /// Hash of the previous line.
    pub prev: String,
}
