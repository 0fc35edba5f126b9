-- guichet store, version 3: what several replicas on one PostgreSQL share besides the
-- submissions: the adapter registry (definitions with versions, history and tombstones),
-- the live replicas (heartbeats) and the cluster's keys. Portable SQL like 0001 (the
-- tables exist but stay empty on SQLite, where the adapters folder is the registry).

-- One row per office ever registered: the live definition (the adapter file's text with
-- its managed header), or NULL once deleted (a tombstone: the office stays in answers as
-- deregistered). `version` only grows; a change is an UPDATE guarded by the version read.
CREATE TABLE adapter_registry (
    office     TEXT PRIMARY KEY,
    version    BIGINT NOT NULL CHECK (version >= 1),
    name       TEXT NOT NULL,
    definition TEXT,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL
);

-- Every version ever written, the live one included (definition NULL: the deletion).
CREATE TABLE adapter_history (
    office     TEXT NOT NULL,
    version    BIGINT NOT NULL,
    definition TEXT,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    PRIMARY KEY (office, version)
);

-- The replicas alive: each upserts its row every heartbeat (unix ms of the database's
-- clock); a row older than the expiry is a dead replica.
CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

-- Keys shared by the replicas, made by the first one that needs each (random, hex):
-- `evict` keys the person hashes that cache evictions carry between replicas.
CREATE TABLE cluster_keys (
    name    TEXT PRIMARY KEY,
    key_hex TEXT NOT NULL
);
