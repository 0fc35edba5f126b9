-- guichet store, version 1: submissions, their state history, receipts, the outbox.
-- Portable SQL: the same text runs on SQLite and on PostgreSQL. Integers are BIGINT
-- (SQLite: INTEGER affinity), times are unix milliseconds UTC, ids are text (UUIDs),
-- hashes are lowercase hex. Receipts and the outbox name their subject by kind and id,
-- so that messages and replies use the same tables.

CREATE TABLE submissions (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    portal           TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    body_sha256      TEXT NOT NULL CHECK (length(body_sha256) = 64),
    body             TEXT NOT NULL,
    state            TEXT NOT NULL,
    competent_office TEXT NOT NULL,
    routing_rule     TEXT NOT NULL,
    case_number      TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    CONSTRAINT submissions_idempotency UNIQUE (portal, idempotency_key)
);

CREATE TABLE submission_history (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    seq           BIGINT NOT NULL,
    state         TEXT NOT NULL,
    office        TEXT,
    detail        TEXT,
    at            BIGINT NOT NULL,
    PRIMARY KEY (submission_id, seq)
);

CREATE TABLE receipts (
    id           TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    jws          TEXT NOT NULL,
    sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
    created_at   BIGINT NOT NULL
);

CREATE INDEX receipts_subject ON receipts (subject_kind, subject_id, created_at);

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    subject_kind     TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    target_office    TEXT NOT NULL,
    message_id       TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    finished_at      BIGINT
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_subject ON outbox (subject_kind, subject_id);
