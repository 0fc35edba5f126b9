//! Child processes of `guichet bench` and what it reads about them from `/proc`: a child
//! killed and reaped when dropped, free loopback ports, CPU time and the load average. Owns
//! no benchmark logic.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Child {
    name: &'static str,
    process: std::process::Child,
}

impl Child {
    /// Wraps a started process.
    pub fn new(name: &'static str, process: std::process::Child) -> Child {
        Child { name, process }
    }

    /// The process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Fails when the process has already exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.process.try_wait() {
            anyhow::bail!("{} exited early ({status})", self.name);
        }
        Ok(())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts `exe args… config` with its output in `log` and `GUICHET_LOG=warn`.
pub fn spawn(
    exe: &Path,
    args: &[&str],
    config: &Path,
    log: &Path,
    name: &'static str,
) -> anyhow::Result<Child> {
    let log_file = std::fs::File::create(log)?;
    let process = Command::new(exe)
        .args(args)
        .arg(config)
        .env("GUICHET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start the {name}"))?;
    Ok(Child::new(name, process))
}

/// `n` loopback ports free at the time of the call.
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(listeners
        .iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect())
}

/// utime + stime of a process in seconds (0 where /proc is not readable).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// The 1, 5 and 15 minute load averages as `/proc/loadavg` writes them ("" elsewhere).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
