//! Live reload of the gateway's TLS material: the ingress's certificate, key, client CA
//! bundle and CRL, and the client identity, trust and CRL used towards offices.
//!
//! Triggers: a change of any file (polled), SIGHUP, `POST /admin/v1/reload`. Each of the
//! two sets is loaded whole; a set that fails to load keeps its last good material and the
//! reason is logged and reported. New handshakes read the current [`ServerConfig`] from a
//! `watch` channel. Established connections are checked against the new client verifier at
//! once: those whose certificate is now revoked, expired or no longer trusted are closed
//! (see [`super::conn`]). New office queries take the current `reqwest::Client`; queries
//! in flight keep the one they started with.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::server::danger::ClientCertVerifier;
use serde::Serialize;
use tokio::sync::watch;

use super::State;
use super::conn::Connections;
use crate::audit::{Actor, AuditError, AuditLog, Event, Kind};
use crate::fanout::Fanout;
use crate::locks::{lock, read, write};
use crate::tls::{ClientPaths, Loaded, ServerPaths, load_client, load_server};

/// A certificate expiring within this many days is warned about.
pub const WARN_DAYS: i64 = 30;
/// How often the expiry warnings are repeated.
const DAILY: Duration = Duration::from_secs(24 * 3600);

/// The identity of a file's content as far as polling can tell.
type Stamp = Option<(SystemTime, u64, u64)>;

/// Owns the current TLS material and reloads it.
#[derive(Debug)]
pub struct Reloader {
    server: ServerPaths,
    client: ClientPaths,
    tls: watch::Sender<Arc<ServerConfig>>,
    /// The client verifier of the current server material, for established connections.
    verifier: RwLock<Arc<dyn ClientCertVerifier>>,
    /// The portal listener's connections, checked again on every server reload.
    connections: Arc<Connections>,
    /// Serialises reloads; holds the stamps of the files at the last attempt per set.
    stamps: Mutex<(Vec<Stamp>, Vec<Stamp>)>,
    status: RwLock<Status>,
}

/// What `GET /admin/v1/certificates` shows.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The ingress material in use.
    pub server: Loaded,
    /// The client material in use towards offices.
    pub client: Loaded,
    /// The last reload attempt.
    pub last_reload: Option<ReloadOutcome>,
}

/// The result of one reload attempt.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadOutcome {
    /// When, RFC 3339.
    pub at: String,
    /// What triggered it.
    pub trigger: String,
    /// Sets replaced (`server`, `client`).
    pub reloaded: Vec<&'static str>,
    /// Why a set was kept, if it was.
    pub errors: Vec<String>,
}

impl Reloader {
    /// Loads both sets for the start; fails (naming the file) if either cannot be loaded.
    /// Returns the client TLS config for the first fan-out client. `connections` are the
    /// ingress's, closed on a reload when their client is no longer accepted.
    pub fn load(
        server: ServerPaths,
        client: ClientPaths,
        connections: Arc<Connections>,
    ) -> Result<(Reloader, crate::tls::OfficeTls), crate::tls::TlsError> {
        let stamps = (stamps(&server.files()), stamps(&client.files()));
        let (server_tls, server_loaded) = load_server(&server)?;
        let verifier = load_verifier(&server)?;
        let (client_tls, client_loaded) = load_client(&client)?;
        let status = Status {
            server: server_loaded,
            client: client_loaded,
            last_reload: None,
        };
        warn_expiring(&status);
        let (tls, _) = watch::channel(server_tls);
        Ok((
            Reloader {
                server,
                client,
                tls,
                verifier: RwLock::new(verifier),
                connections,
                stamps: Mutex::new(stamps),
                status: RwLock::new(status),
            },
            client_tls,
        ))
    }

    /// The ingress config as it changes; the accept loop reads it per connection.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ServerConfig>> {
        self.tls.subscribe()
    }

    /// The ingress's live connections.
    pub fn connections(&self) -> &Arc<Connections> {
        &self.connections
    }

    /// The client verifier of the current server material.
    pub fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        match self.verifier.read() {
            Ok(v) => Arc::clone(&v),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// The current status, `daysLeft` recomputed for now.
    pub fn status(&self) -> Status {
        let mut status = read(&self.status).clone();
        for c in status
            .server
            .certificates
            .iter_mut()
            .chain(status.client.certificates.iter_mut())
        {
            c.refresh();
        }
        status
    }

    /// Logs a warning for every loaded certificate expiring within [`WARN_DAYS`].
    pub fn warn_expiring(&self) {
        warn_expiring(&self.status());
    }

    /// Reloads both sets whatever their files look like (SIGHUP, admin API). `Err` when the
    /// audit record cannot be written: then nothing is swapped.
    pub fn reload_all(
        &self,
        fanout: &Fanout,
        audit: &AuditLog,
        actor: Actor,
        trigger: &str,
    ) -> Result<ReloadOutcome, AuditError> {
        self.reload(fanout, audit, actor, trigger, true)
    }

    /// Reloads the sets whose files changed since the last attempt; `None` if none did.
    pub fn reload_changed(
        &self,
        fanout: &Fanout,
        audit: &AuditLog,
    ) -> Option<Result<ReloadOutcome, AuditError>> {
        {
            let last = lock(&self.stamps);
            if last.0 == stamps(&self.server.files()) && last.1 == stamps(&self.client.files()) {
                return None;
            }
        }
        let trigger = "file change";
        Some(self.reload(fanout, audit, Actor::operator(trigger), trigger, false))
    }

    /// Loads the sets, records what is about to be swapped, then swaps. A set that fails
    /// to load keeps its last good material; a record that cannot be written swaps nothing
    /// and leaves the stamps, so the file watch tries again.
    fn reload(
        &self,
        fanout: &Fanout,
        audit: &AuditLog,
        actor: Actor,
        trigger: &str,
        force: bool,
    ) -> Result<ReloadOutcome, AuditError> {
        let mut last = lock(&self.stamps);
        let mut outcome = ReloadOutcome {
            at: now_rfc3339(),
            trigger: trigger.to_owned(),
            reloaded: Vec::new(),
            errors: Vec::new(),
        };
        // Stamps are taken before reading: a file replaced while we read is seen again.
        let server_stamps = stamps(&self.server.files());
        let server = (force || server_stamps != last.0)
            .then(|| load_server(&self.server).and_then(|l| Ok((l, load_verifier(&self.server)?))));
        let client_stamps = stamps(&self.client.files());
        let client = (force || client_stamps != last.1).then(|| load_client(&self.client));
        match &server {
            Some(Ok(_)) => outcome.reloaded.push("server"),
            Some(Err(e)) => outcome.errors.push(format!("server material kept: {e}")),
            None => {}
        }
        match &client {
            Some(Ok(_)) => outcome.reloaded.push("client"),
            Some(Err(e)) => outcome.errors.push(format!("client material kept: {e}")),
            None => {}
        }
        if let Err(e) = audit.append_blocking(reload_event(&outcome, actor)) {
            tracing::error!(trigger, error = %e, "certificate reload not applied: its audit record cannot be written");
            return Err(e);
        }
        (last.0, last.1) = (server_stamps, client_stamps);
        let mut loaded = self.status();
        if let Some(Ok(((config, info), verifier))) = server {
            self.tls.send_replace(config);
            self.cut_off(verifier, trigger);
            loaded.server = info;
        }
        if let Some(Ok((tls, info))) = client {
            fanout.set_tls(tls);
            loaded.client = info;
        }
        loaded.last_reload = Some(outcome.clone());
        for e in &outcome.errors {
            tracing::warn!(trigger, error = %e, "certificate reload failed");
        }
        if !outcome.reloaded.is_empty() {
            let serials: Vec<&str> = loaded
                .server
                .certificates
                .iter()
                .chain(&loaded.client.certificates)
                .filter(|c| matches!(c.usage, "server" | "client"))
                .map(|c| c.serial.as_str())
                .collect();
            tracing::info!(trigger, sets = ?outcome.reloaded, ?serials, "certificates reloaded");
            warn_expiring(&loaded);
        }
        *write(&self.status) = loaded;
        Ok(outcome)
    }
}

/// The `reload` record: written before anything is swapped, saying what will be.
fn reload_event(outcome: &ReloadOutcome, actor: Actor) -> Event {
    let mut detail = format!("{}: swapping {:?}", outcome.trigger, outcome.reloaded);
    for e in &outcome.errors {
        detail.push_str("; ");
        detail.push_str(e);
    }
    Event {
        kind: Kind::Reload,
        actor,
        purpose: None,
        person: None,
        offices: Vec::new(),
        result: if outcome.errors.is_empty() {
            "reloaded".into()
        } else {
            "failed".into()
        },
        detail: Some(detail),
        binding: None,
    }
}

impl Reloader {
    /// Installs `verifier` and closes the connections whose client it no longer accepts.
    fn cut_off(&self, verifier: Arc<dyn ClientCertVerifier>, trigger: &str) {
        match self.verifier.write() {
            Ok(mut v) => *v = Arc::clone(&verifier),
            Err(p) => *p.into_inner() = Arc::clone(&verifier),
        }
        let closed = self.connections.close_rejected(verifier.as_ref());
        if closed > 0 {
            let labels = crate::metrics::ConnectionLabels {
                listener: self.connections.listener(),
                reason: "revoked",
            };
            crate::metrics::METRICS
                .connections_closed
                .get_or_create(&labels)
                .inc_by(closed as u64);
            tracing::warn!(
                trigger,
                closed,
                "closed established connections whose client certificate is no longer accepted"
            );
        }
    }
}

/// The client verifier of a server set, from the same files as its `ServerConfig`.
fn load_verifier(p: &ServerPaths) -> Result<Arc<dyn ClientCertVerifier>, crate::tls::TlsError> {
    let roots = crate::tls::load_certs(&p.client_ca)?;
    let crls = match &p.crl {
        Some(crl) => crate::tls::load_crls(crl)?,
        None => Vec::new(),
    };
    crate::tls::client_verifier(&roots, crls)
}

/// Polls the files every `interval` (and repeats expiry warnings daily) until the state is gone.
pub fn spawn_watch(state: &Arc<State>, interval: Duration) {
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut last_warning = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(interval).await;
            let Some(state) = weak.upgrade() else { break };
            let reloader = &state.reloader;
            // A failure is logged (and retried at the next poll) inside.
            let _ = reloader.reload_changed(&state.fanout, &state.audit);
            if let Some(sealer) = &state.sealer {
                let _ = sealer.reload_changed(&state.audit);
            }
            reload_jwks(&state, "file change");
            if last_warning.elapsed() >= DAILY {
                last_warning = tokio::time::Instant::now();
                reloader.warn_expiring();
            }
        }
    });
}

/// Reloads everything on SIGHUP until the state is gone (unix only).
pub fn spawn_sighup(state: &Arc<State>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let weak = Arc::downgrade(state);
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        let Some(state) = weak.upgrade() else { break };
                        // A failure is logged inside; nothing was swapped.
                        let _ = state.reloader.reload_all(
                            &state.fanout,
                            &state.audit,
                            Actor::operator("SIGHUP"),
                            "SIGHUP",
                        );
                        if let Some(sealer) = &state.sealer {
                            let _ =
                                sealer.reload(&state.audit, Actor::operator("SIGHUP"), "SIGHUP");
                        }
                        reload_jwks(&state, "SIGHUP");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP"),
        }
    }
    #[cfg(not(unix))]
    let _ = state;
}

/// Reads again the identity providers' JWKS files that changed: each reload is recorded
/// (`reload`, with the key ids) before the new keys are used; a file that is refused keeps
/// the last good keys, and a record that cannot be written changes nothing (tried again
/// at the next poll).
pub fn reload_jwks(state: &State, trigger: &str) {
    for staged in state.identity.changed() {
        let event = Event {
            kind: Kind::Reload,
            actor: Actor::operator(trigger),
            purpose: None,
            person: None,
            offices: Vec::new(),
            result: if staged.failed() {
                "failed"
            } else {
                "reloaded"
            }
            .into(),
            detail: Some(format!("{trigger}: {}", staged.describe(&state.identity))),
            binding: None,
        };
        if let Err(e) = state.audit.append_blocking(event) {
            tracing::error!(trigger, error = %e, "JWKS reload not applied: its audit record cannot be written");
            continue;
        }
        state.identity.install(staged);
    }
}

fn warn_expiring(status: &Status) {
    for crl in status.server.crls.iter().chain(&status.client.crls) {
        if crl.seconds_to_next_update().is_some_and(|s| s < 0) {
            tracing::warn!(
                file = %crl.file,
                issuer = %crl.issuer,
                next_update = crl.next_update.as_deref().unwrap_or(""),
                "CRL is past its next update: re-publish it (guichet certs crl) and distribute it"
            );
        }
    }
    for c in status
        .server
        .certificates
        .iter()
        .chain(&status.client.certificates)
    {
        if c.days_left < WARN_DAYS {
            tracing::warn!(
                file = %c.file,
                usage = c.usage,
                subject = %c.subject,
                serial = %c.serial,
                not_after = %c.not_after,
                days_left = c.days_left,
                "certificate expires within {WARN_DAYS} days"
            );
        }
    }
}

fn stamps(files: &[&Path]) -> Vec<Stamp> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            #[cfg(unix)]
            let ino = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let ino = 0;
            Some((m.modified().ok()?, m.len(), ino))
        })
        .collect()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
