//! Runs one parsed command line: each subcommand hands over to its `cli` function, prints
//! what it returns and becomes an exit status (0 done, 1 failed, other codes where the
//! command documents them). Owns no command logic.

use std::process::ExitCode;

use super::args::{AdaptersCommand, AuditCommand, Command, ReceiptsCommand};
use crate::merge::YearRange;

impl Command {
    /// The default log filter: the demo and the benchmark talk to a person, so only
    /// warnings unless `GUICHET_LOG` asks for more.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Demo { .. } | Command::Bench(_) => "warn",
            _ => "info",
        }
    }
}

/// Runs `command` to its end; the exit status for the process.
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Audit {
            command: AuditCommand::Verify { dirs, public_key },
        } => return super::audit_verify(&dirs, &public_key),
        Command::Certs { dir, action } => return certs(&dir, action.into()),
        Command::Receipts {
            command: ReceiptsCommand::Verify { file, ca, crl },
        } => super::receipts_verify(&file, &ca, crl.as_deref()).and_then(|(json, who)| {
            eprintln!("{who}");
            print_out(&json)
        }),
        Command::Adapters { action } => adapters(action).and_then(|out| print_out(&out)),
        Command::ConsoleLogin { config, identity } => {
            console_login(&config, &identity).and_then(|url| print_out(&url))
        }
        Command::Translate {
            dialect,
            office,
            mappings,
            file,
        } => super::translate(&mappings, &dialect, office, &file).and_then(|j| print_out(&j)),
        Command::Route {
            claim,
            register,
            rules,
            mappings,
            json,
        } => {
            let files = super::RouteFiles {
                claim: &claim,
                register: register.as_deref(),
                rules: &rules,
                mappings: &mappings,
            };
            super::route(files, json).and_then(|t| print_out(&t))
        }
        Command::Consolidate {
            mappings,
            year_from,
            year_to,
            answers,
        } => {
            let range = YearRange {
                from: year_from,
                to: year_to,
            };
            super::consolidate(&mappings, &answers, range).and_then(|json| print_out(&json))
        }
        Command::Token {
            vn,
            portal_cert,
            acr,
            ttl,
            key,
            issuer,
            audience,
        } => {
            let request = super::TokenRequest {
                vn,
                portal_cert: &portal_cert,
                acr: &acr,
                ttl,
                key: &key,
                issuer: &issuer,
                audience: &audience,
            };
            super::token(&request).and_then(|t| print_out(&t))
        }
        online => runtime().and_then(|rt| rt.block_on(run_async(online))),
    };
    exit_status(result.map(|()| 0))
}

/// The commands that need the runtime: servers, the demo and the load generators.
async fn run_async(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config } => super::serve(&config).await,
        Command::Simulate {
            config,
            truth,
            zero_latency,
            faults,
            decisions_to,
            decisions,
        } => {
            let to = decisions_to.map(|url| (url, decisions));
            let json = super::simulate(&config, truth, zero_latency, faults.as_deref(), to).await?;
            json.map_or(Ok(()), |j| print_out(&j))
        }
        Command::Demo { config, once, vn } => {
            super::demo(&config, super::DemoOptions { once, vn }).await
        }
        Command::Migrate { config } => print_out(&super::migrate(&config).await?),
        Command::Store {
            command:
                super::StoreCommand::Import {
                    config,
                    from_files,
                    replace,
                },
        } => print_out(&super::store_import(&config, &from_files, replace).await?),
        Command::Loadtest(a) => print_out(super::loadtest(a).await?.trim_end()),
        Command::Bench(a) => print_out(super::bench(a).await?.trim_end()),
        offline => anyhow::bail!("internal: {offline:?} does not run on the runtime"),
    }
}

/// `guichet certs …`: its text on stdout, its own exit code (2 for `list --expiring`).
fn certs(dir: &std::path::Path, action: super::CertsAction) -> ExitCode {
    let result = super::certs(dir, action).and_then(|(text, code)| {
        print_out(&text)?;
        Ok(code)
    });
    exit_status(result)
}

fn adapters(action: AdaptersCommand) -> anyhow::Result<String> {
    use super::adapters as cmd;
    match action {
        AdaptersCommand::Check {
            mappings,
            config,
            file,
        } => cmd::check(&file, mappings.as_deref(), config.as_deref()),
        AdaptersCommand::List {
            config,
            gateway,
            admin_cert,
            admin_key,
            offline,
        } => {
            let opts = cmd::ListOptions {
                config,
                gateway,
                identity: admin_cert.zip(admin_key),
                offline,
            };
            runtime()?.block_on(cmd::list(&opts))
        }
        AdaptersCommand::Probe { config, file } => runtime()?.block_on(cmd::probe(&file, &config)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `Ok(code)` exits with `code`; an error is printed as `guichet: …` and exits 1.
fn exit_status(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("guichet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout; a closed pipe (`guichet … | head`) is not an error worth a panic.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `guichet console-login`: the configuration, the identity, the signed link.
fn console_login(config: &std::path::Path, identity: &str) -> anyhow::Result<String> {
    let config = crate::config::Config::load(config)?;
    let identity = crate::model::Identity::parse_uri(identity)?;
    Ok(crate::console::login_url(&config, &identity)?)
}
