//! The command line of `guichet` as clap types: every subcommand, its options and their
//! documentation (what `--help` prints). Parsing only; [`super::dispatch`] runs them.
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::{AnswerArg, BenchArgs, CertsAction, LoadtestArgs};
use crate::model::{OfficeId, Role, Vn};

/// guichet — the integration gateway of the Swiss 1st-pillar online platform.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Translate one office answer into canonical JSON (offline check of an export).
    Translate {
        /// Dialect of the answer: ech-ik, vendor-ik, ech-iv, ech-register, ech-apg (a fund's
        /// acknowledgement of a claim), or any file in the mappings folder.
        #[arg(long)]
        dialect: String,
        /// The office that sent it (its id is used where the dialect lacks one).
        #[arg(long, default_value = "001.000")]
        office: OfficeId,
        /// Folder of mapping files.
        #[arg(long, default_value = "mappings")]
        mappings: PathBuf,
        /// The answer file.
        file: PathBuf,
    },
    /// Run the gateway: mutual TLS ingress, fan-out to every office of the adapters folder.
    Serve {
        /// Configuration file.
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
    },
    /// Serve every office of the adapters folder as simulated offices on loopback.
    Simulate {
        /// Configuration file.
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
        /// Print the consolidated account of this AHV number straight from the synthetic
        /// population (no XML, no network) and exit.
        #[arg(long)]
        truth: Option<Vn>,
        /// Answer at once instead of the configured latency distribution.
        #[arg(long)]
        zero_latency: bool,
        /// Fault file: which offices hang, fail, drip, lie… (see config/faults.example.toml and docs/operating.md).
        #[arg(long)]
        faults: Option<PathBuf>,
        /// The gateway (`https://host:port`) the simulated offices send decisions to
        /// (`POST /v1/messages` with their own certificates), once it answers.
        #[arg(long, value_name = "URL")]
        decisions_to: Option<String>,
        /// How many persons get a decision with `--decisions-to` (offices take turns).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        decisions: u32,
    },
    /// Create or update the store's schema (SQLite file or PostgreSQL) and exit; `serve`
    /// also does this at start, under the same lock.
    Migrate {
        /// Configuration file.
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
    },
    /// The shared store: `import` moves a folder adapter registry into PostgreSQL.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// One-command demo: dev PKI, simulated offices and the gateway on loopback, a sample query.
    Demo {
        /// Configuration file.
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
        /// Exit after the sample query.
        #[arg(long)]
        once: bool,
        /// Sample person (default: one with several funds and an IV case).
        #[arg(long)]
        vn: Option<Vn>,
    },
    /// Print a one-time sign-in link to the operator's console (`[console]`), bound to an
    /// admin or office identity; it opens a session once, within `console.login_ttl_ms`.
    ConsoleLogin {
        /// Configuration file (its `[console] key_file` signs the link).
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
        /// `urn:guichet:admin:NAME` or `urn:guichet:office:NNN.NNN`.
        #[arg(long)]
        identity: String,
    },
    /// Check the audit log's hash chain; exit 0 only when every record is intact.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Receipts signed by the gateway's seal: verify one offline.
    Receipts {
        #[command(subcommand)]
        command: ReceiptsCommand,
    },
    /// Certificates for IT staff: init, issue, list, renew, revoke (folder `certs/` by default).
    Certs {
        /// Federation folder (root and issuing CA, inventory, CRL, issued files).
        #[arg(long, global = true, default_value = "certs")]
        dir: PathBuf,
        #[command(subcommand)]
        action: CertsCommand,
    },
    /// Adapters for office IT staff: validate a definition, list the registry, run the probe.
    Adapters {
        #[command(subcommand)]
        action: AdaptersCommand,
    },
    /// Load test a gateway: GET /v1/accounts/{vn} over mTLS, closed or open loop.
    Loadtest(LoadtestArgs),
    /// Benchmark: simulated offices + gateway (+ the Node.js peer), fixed loads, a table.
    Bench(BenchArgs),
    /// Print an end-user token of the development identity provider (development and
    /// tests only): signed with `certs/idp-signing.key`, bound to the portal certificate.
    Token {
        /// The person (the token's `ahvn13` claim).
        #[arg(long)]
        vn: Vn,
        /// The portal's client certificate (PEM) the token is bound to (`cnf` x5t#S256).
        #[arg(long)]
        portal_cert: PathBuf,
        /// Authentication level (`acr`).
        #[arg(long, default_value = crate::pki::idp::DEV_ACR)]
        acr: String,
        /// Lifetime (e.g. 5m, 90s).
        #[arg(long, default_value = "5m", value_parser = super::parse_duration)]
        ttl: std::time::Duration,
        /// The provider's ES256 signing key (PKCS#8 PEM).
        #[arg(long, default_value = "certs/idp-signing.key")]
        key: PathBuf,
        /// `iss`.
        #[arg(long, default_value = crate::pki::idp::DEV_ISSUER)]
        issuer: String,
        /// `aud` (the gateway's `identity.audience`).
        #[arg(long, default_value = crate::pki::idp::DEV_AUDIENCE)]
        audience: String,
    },
    /// Which fund is competent for an APG claim (offline): validates the claim, applies the
    /// routing rules and shows the rule that fired and why the ones before did not.
    Route {
        /// The claim as JSON (the body of POST /v1/submissions).
        #[arg(long)]
        claim: PathBuf,
        /// The central register's answer for the claimant: its XML (dialect ech-register)
        /// or that answer's JSON as `guichet translate` prints it; without it, the person
        /// counts as unknown to the register.
        #[arg(long)]
        register: Option<PathBuf>,
        /// The routing rules file.
        #[arg(long, default_value = crate::routing::DEFAULT_RULES)]
        rules: PathBuf,
        /// Folder of mapping files (for an XML register answer).
        #[arg(long, default_value = "mappings")]
        mappings: PathBuf,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Merge several office answers into one consolidated account (JSON).
    Consolidate {
        /// Folder of mapping files.
        #[arg(long, default_value = "mappings")]
        mappings: PathBuf,
        /// First contribution year kept.
        #[arg(long)]
        year_from: Option<u16>,
        /// Last contribution year kept.
        #[arg(long)]
        year_to: Option<u16>,
        /// Answers as OFFICE=DIALECT:FILE, e.g. 025.000=ech-ik:a.xml.
        #[arg(required = true)]
        answers: Vec<AnswerArg>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CertsCommand {
    /// Create a root CA (its key may then go offline), an issuing CA, an empty CRL.
    Init,
    /// Issue a key and certificate (key 0600; existing files need --force).
    Issue {
        /// portal, office, admin, gateway, register or seal (seal: signs receipts only,
        /// never a TLS identity; see docs/operating.md).
        #[arg(long)]
        role: Role,
        /// Name within the role (office id NNN.NNN for offices).
        #[arg(long)]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Also a server certificate (serverAuth, SANs); always for offices.
        #[arg(long)]
        server: bool,
        /// DNS name for a server certificate (repeatable; default localhost).
        #[arg(long)]
        dns: Vec<String>,
        /// IP address for a server certificate (repeatable; default 127.0.0.1).
        #[arg(long)]
        ip: Vec<std::net::IpAddr>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// The inventory; with --expiring exits 2 if a certificate in use expires within it.
    List {
        /// Window, e.g. 30d.
        #[arg(long)]
        expiring: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// A new certificate for the same identity; the old one stays valid (overlap).
    Renew {
        #[command(flatten)]
        target: CertTarget,
        /// Validity in days (default: the old certificate's).
        #[arg(long)]
        days: Option<u32>,
    },
    /// Revoke a certificate and publish a fresh CRL.
    Revoke {
        #[command(flatten)]
        target: CertTarget,
        /// unspecified, key-compromise, ca-compromise, affiliation-changed, superseded,
        /// cessation-of-operation, privilege-withdrawn, aa-compromise; or the RFC 5280 /
        /// OpenSSL names (keyCompromise, cACompromise, ...).
        #[arg(long)]
        reason: String,
    },
    /// Re-publish the CRL (it is valid 30 days).
    Crl,
}

/// Which certificate `renew` / `revoke` acts on: a serial, or the one in use with a name.
#[derive(clap::Args, Debug)]
pub struct CertTarget {
    /// Serial (hex) of the certificate.
    #[arg(required_unless_present = "name", conflicts_with = "name")]
    serial: Option<String>,
    /// The certificate in use with this name instead.
    #[arg(long)]
    name: Option<String>,
    /// Role, when several certificates carry the name.
    #[arg(long)]
    role: Option<Role>,
}

impl From<CertsCommand> for CertsAction {
    fn from(c: CertsCommand) -> Self {
        match c {
            CertsCommand::Init => CertsAction::Init,
            CertsCommand::Issue {
                role,
                name,
                days,
                server,
                dns,
                ip,
                force,
            } => CertsAction::Issue {
                role,
                name,
                days,
                server,
                dns,
                ips: ip,
                force,
            },
            CertsCommand::List { expiring, json } => CertsAction::List { expiring, json },
            CertsCommand::Renew {
                target: CertTarget { serial, name, role },
                days,
            } => CertsAction::Renew {
                serial,
                name,
                role,
                days,
            },
            CertsCommand::Revoke {
                target: CertTarget { serial, name, role },
                reason,
            } => CertsAction::Revoke {
                serial,
                name,
                role,
                reason,
            },
            CertsCommand::Crl => CertsAction::Crl,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum AdaptersCommand {
    /// Validate an adapter definition offline (schema, ranges, known dialect and, with
    /// --config, the endpoint policy); exit 1 naming the field. Nothing is contacted.
    Check {
        /// Folder of mapping files (the known dialects); default: the configuration's
        /// `offices.mappings` with --config, else `mappings`.
        #[arg(long)]
        mappings: Option<PathBuf>,
        /// Configuration whose `[offices]` endpoint policy the endpoint must pass
        /// (`endpoint_host_suffixes`, `endpoint_networks`, `allow_loopback`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The definition (TOML, or JSON when it ends in .json).
        file: PathBuf,
    },
    /// Print the registry with versions and live health from the gateway's API; the
    /// registry itself (no health: the adapters folder, or the PostgreSQL store's registry)
    /// with --offline or when the gateway is not reachable.
    List {
        /// Configuration file.
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
        /// Gateway base URL (default: https:// + the configured listen address).
        #[arg(long)]
        gateway: Option<String>,
        /// Client certificate (role admin or office); default: the dev PKI's admin-ops.
        #[arg(long, requires = "admin_key")]
        admin_cert: Option<PathBuf>,
        /// Its private key.
        #[arg(long, requires = "admin_cert")]
        admin_key: Option<PathBuf>,
        /// Read the registry (adapters folder, or PostgreSQL) instead of asking the gateway.
        #[arg(long)]
        offline: bool,
    },
    /// Run the conformance probe against the definition's endpoint with the gateway's
    /// client identity: one test request (testDeliveryFlag) that must translate in time.
    Probe {
        /// Configuration file (client identity, CA, mappings).
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
        /// The definition (TOML, or JSON when it ends in .json).
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Move an adapters folder (definitions with their versions, `.history/` and
    /// tombstones) into the PostgreSQL registry of `[store]`. Idempotent: a re-run changes
    /// nothing and says so. An office the database already holds with other content is
    /// refused (nothing is written) unless `--replace`, which makes the folder's
    /// definition a new version of it.
    Import {
        /// Configuration file (its `[store] url` must be `postgres://…`).
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
        /// The adapters folder to import.
        #[arg(long = "from-files")]
        from_files: PathBuf,
        /// Offices the database holds with other content get the folder's definition as a
        /// new version (history kept; running replicas adopt it at once).
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReceiptsCommand {
    /// Verify a receipt (compact JWS) offline against the federation's root certificate:
    /// signature, seal certificate, chain valid at the signing time. Exit 0 with the
    /// payload as JSON on stdout, 1 with the reason.
    Verify {
        /// The receipt file (the compact JWS text).
        file: PathBuf,
        /// The federation's root certificate(s), PEM (`certs/root-ca.pem`, or
        /// `certs/federation-ca.pem` for the development federation).
        #[arg(long)]
        ca: PathBuf,
        /// The federation's CRL (`certs/federation.crl.pem`): a receipt whose seal is
        /// revoked is refused, whatever the revocation date.
        #[arg(long)]
        crl: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify every file of an audit folder and its signed checkpoints; names the first
    /// altered, removed or reordered record, a truncated tail or a recomputed chain.
    /// Several folders (one per replica) are checked each as its own chain, and no two
    /// may hold the same replica's.
    Verify {
        /// The audit folder(s) (`audit/` by default configuration; one per replica).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The checkpoint public key (`certs/audit-checkpoint.pub`): checks the signatures.
        /// Once for every folder, or once per folder in the same order.
        #[arg(long)]
        public_key: Vec<PathBuf>,
    },
}
