-- guichet store, version 2: messages between offices and insured persons (issue #16).
-- Content (subject and body, attachment names and bytes, replies) is stored only
-- encrypted (AES-256-GCM, base64 of nonce || ciphertext || tag) with the id of the key
-- that encrypted it; after the retention period the content columns are emptied and
-- only hashes, sizes and the receipts (table receipts, subject_kind 'message') remain.
-- The person is the audit log's keyed hash (HMAC-SHA-256 hex) of the AHV number.

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    sender_office   TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_sha256  TEXT NOT NULL CHECK (length(request_sha256) = 64),
    person          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    reference       TEXT,
    key_id          TEXT,
    content         TEXT,
    body_sha256     TEXT NOT NULL CHECK (length(body_sha256) = 64),
    created_at      BIGINT NOT NULL,
    read_at         BIGINT,
    purge_after     BIGINT NOT NULL,
    purged_at       BIGINT,
    CONSTRAINT messages_idempotency UNIQUE (sender_office, idempotency_key)
);

CREATE INDEX messages_person ON messages (person, created_at, id);
CREATE INDEX messages_purge ON messages (purge_after);

CREATE TABLE message_attachments (
    message_id TEXT NOT NULL REFERENCES messages (id),
    seq        BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL CHECK (length(sha256) = 64),
    key_id     TEXT,
    content    TEXT,
    PRIMARY KEY (message_id, seq)
);

CREATE TABLE message_replies (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages (id),
    office          TEXT NOT NULL,
    portal          TEXT NOT NULL,
    person          TEXT NOT NULL,
    key_id          TEXT,
    content         TEXT,
    content_sha256  TEXT NOT NULL CHECK (length(content_sha256) = 64),
    created_at      BIGINT NOT NULL,
    acknowledged_at BIGINT,
    purge_after     BIGINT NOT NULL,
    purged_at       BIGINT
);

CREATE INDEX message_replies_inbox ON message_replies (office, acknowledged_at, created_at, id);
CREATE INDEX message_replies_message ON message_replies (message_id, created_at);
