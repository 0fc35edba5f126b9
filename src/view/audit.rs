//! The JSON shape of `GET /admin/v1/audit/head`: the chain's head now, the newest signed
//! checkpoint and the key that verifies it. Field names are the API's; the audit module's
//! own types stay free to change.

use serde::{Deserialize, Serialize};

use crate::audit::{Checkpoint, Head};

/// `GET /admin/v1/audit/head`. Monitoring that keeps these elsewhere can later prove a
/// truncation even if the checkpoint file itself was cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditHeadView {
    /// The newest record of the chain.
    pub head: AuditRecordRef,
    /// The newest signed checkpoint; `null` before the first.
    pub checkpoint: Option<CheckpointView>,
    /// Hex of the raw Ed25519 checkpoint public key; `null` only for a log opened without a
    /// signing key (never in `guichet serve`).
    pub public_key: Option<String>,
}

/// A record of the chain, named by file, sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecordRef {
    /// The file holding it (`audit-NNNNNN.jsonl`; empty for an empty log).
    pub file: String,
    /// Its sequence number (0: empty log).
    pub seq: u64,
    /// Its SHA-256 (hex; 64 zeros for an empty log).
    pub hash: String,
}

/// A signed checkpoint: `(file, seq, hash, time)` and the Ed25519 signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointView {
    /// The file holding the record.
    pub file: String,
    /// The record's sequence number.
    pub seq: u64,
    /// The record's hash (hex).
    pub hash: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// Hex of the Ed25519 signature.
    pub signature: String,
}

impl AuditHeadView {
    /// The view of the log's head, its newest checkpoint and the public key.
    pub fn new(head: Head, checkpoint: Option<Checkpoint>, public_key: Option<String>) -> Self {
        AuditHeadView {
            head: AuditRecordRef {
                file: head.file,
                seq: head.seq,
                hash: head.hash,
            },
            checkpoint: checkpoint.map(|c| CheckpointView {
                file: c.file,
                seq: c.seq,
                hash: c.hash,
                time: c.time,
                signature: c.signature,
            }),
            public_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_keeps_the_documented_names() {
        let head = Head {
            file: "audit-000001.jsonl".into(),
            seq: 3,
            hash: "ab".into(),
        };
        let v = serde_json::to_value(AuditHeadView::new(head, None, Some("k".into())))
            .expect("serialize");
        assert_eq!(v["head"]["seq"], 3);
        assert_eq!(v["checkpoint"], serde_json::Value::Null, "present, null");
        assert_eq!(v["publicKey"], "k");
    }
}
