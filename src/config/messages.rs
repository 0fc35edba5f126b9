//! `[messages]`: the keys that encrypt message bodies, replies and attachments at rest
//! (AES-256-GCM; each a file of 64 hex digits, `0600`; the id is stored beside each
//! value so keys can rotate), the active key, and the retention period per message kind
//! after which content is deleted and only receipts and hashes remain. Absent: the
//! message routes answer `503`. Raw TOML in, a validated [`MessagesConfig`] out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::FieldError;
use crate::message::MessageKind;

/// `[messages]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMessages {
    active_key: String,
    keys: BTreeMap<String, PathBuf>,
    #[serde(default)]
    retention_days: RawRetention,
    #[serde(default = "default_inbox_page")]
    inbox_page: u32,
}

fn default_inbox_page() -> u32 {
    50
}

/// `[messages.retention_days]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRetention {
    decision: u64,
    request: u64,
    information: u64,
    reply: u64,
}

impl Default for RawRetention {
    fn default() -> Self {
        RawRetention {
            decision: 3650,
            request: 730,
            information: 365,
            reply: 730,
        }
    }
}

/// The validated `[messages]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesConfig {
    /// Key id → key file (absolute).
    pub keys: BTreeMap<String, PathBuf>,
    /// The key new content is encrypted with (one of `keys`).
    pub active_key: String,
    /// How long each kind's content is kept (1–36,500 days).
    pub retention: BTreeMap<MessageKind, Duration>,
    /// How long a reply's content is kept.
    pub reply_retention: Duration,
    /// Replies per page of an office's inbox (1–500).
    pub inbox_page: u32,
}

impl MessagesConfig {
    /// The retention of `kind`.
    pub fn retention_of(&self, kind: MessageKind) -> Duration {
        self.retention
            .get(&kind)
            .copied()
            .unwrap_or(Duration::from_secs(365 * 86_400))
    }
}

const DAY: u64 = 86_400;

impl RawMessages {
    /// Validates the section; `at` resolves a path against the configuration's folder.
    pub(super) fn validate(
        &self,
        at: impl Fn(&Path) -> PathBuf,
    ) -> Result<MessagesConfig, FieldError> {
        if self.keys.is_empty() {
            return Err(FieldError::new(
                "messages.keys",
                "names no key file (id = \"path\")",
            ));
        }
        for (id, path) in &self.keys {
            let ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                return Err(FieldError::new(
                    format!("messages.keys.{id}"),
                    "a key id is 1–64 characters of A-Z, a-z, 0-9, '-', '_', '.'",
                ));
            }
            if path.as_os_str().is_empty() {
                return Err(FieldError::new(format!("messages.keys.{id}"), "is empty"));
            }
        }
        if !self.keys.contains_key(&self.active_key) {
            return Err(FieldError::new(
                "messages.active_key",
                format!("{:?} is not among messages.keys", self.active_key),
            ));
        }
        let r = &self.retention_days;
        let days = |field: &str, v: u64| {
            FieldError::range(format!("messages.retention_days.{field}"), v, 1, 36_500)
                .map(|d| Duration::from_secs(d * DAY))
        };
        let retention = BTreeMap::from([
            (MessageKind::Decision, days("decision", r.decision)?),
            (MessageKind::Request, days("request", r.request)?),
            (
                MessageKind::Information,
                days("information", r.information)?,
            ),
        ]);
        Ok(MessagesConfig {
            keys: self
                .keys
                .iter()
                .map(|(id, p)| (id.clone(), at(p)))
                .collect(),
            active_key: self.active_key.clone(),
            retention,
            reply_retention: days("reply", r.reply)?,
            inbox_page: FieldError::range("messages.inbox_page", self.inbox_page, 1, 500)?,
        })
    }
}
