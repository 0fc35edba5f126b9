//! The accesses index on disk: `accesses.idx` next to the log files, one line per
//! `account-query` record (`a PERSON FILE OFFSET LEN SEQ HASH MAC`) and, every N records and
//! at shutdown, a mark of how far the log has been indexed (`m FILE OFFSET LEN SEQ HASH
//! MAC`). `HASH` is the first 16 hex digits of the record's own hash; `MAC` (32 hex digits)
//! is HMAC-SHA-256, under a key derived from the audit secret, over the previous line's MAC
//! and this line, so an edited, inserted, reordered or removed line breaks the chain.
//!
//! At start the file is read and checked, its last line is compared with the record it
//! points at, and only the log records after that position are read (catch-up). A missing,
//! corrupt or foreign index is rebuilt from every log file, once, and the log says why. The
//! file is written after each group commit but not synced with it: it is derived data, and
//! a crash loses at most a tail that the next start reads again from the (synced) log. It is
//! synced at shutdown.
//!
//! Invariant: the file holds keyed person hashes and positions, never an AHV number.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::hmac;

use super::AuditError;
use super::chain::{Pos, Scan, accesses_in, hex, log_files, open_append, open_line};
use super::index::{Entry, Tip};

/// Name of the index file in the audit folder.
pub const FILE: &str = "accesses.idx";

/// The MAC of nothing before the first line.
const START: &str = "00000000000000000000000000000000";

/// How the accesses index was obtained at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexStart {
    /// Why the index was rebuilt from every log file; `None` when its file was used.
    pub rebuilt: Option<String>,
    /// Log files read to complete the index (only those after its last position).
    pub files_read: usize,
    /// `account-query` records found in the log files read (not in the index).
    pub records_read: usize,
    /// Index entries dropped because their log file no longer exists (deleted by a
    /// retention job); the index file was then rewritten without them.
    pub dropped: usize,
}

/// What start-up hands to the in-memory index.
pub(crate) struct Loaded {
    /// Every indexed record, oldest first.
    pub entries: Vec<Entry>,
    /// The file, open for appending.
    pub disk: Disk,
    /// How it went.
    pub start: IndexStart,
}

/// The index file, open for appending.
pub(crate) struct Disk {
    path: PathBuf,
    file: Option<File>,
    key: hmac::Key,
    prev: String,
    /// Sequence number of the newest record the file covers.
    pub covered: u64,
}

/// One line, without its MAC.
enum Line {
    Access(Entry),
    Mark(Tip),
}

impl Line {
    fn tip(&self) -> &Tip {
        match self {
            Line::Access(e) => &e.tip,
            Line::Mark(t) => t,
        }
    }
}

fn tip_text(t: &Tip) -> String {
    let hash = t.hash.get(..16).unwrap_or(&t.hash);
    let p = t.pos;
    format!("{} {} {} {} {hash}", p.file, p.offset, p.len, t.seq)
}

fn body(line: &Line) -> String {
    match line {
        Line::Access(e) => format!("a {} {}", e.person, tip_text(&e.tip)),
        Line::Mark(t) => format!("m {}", tip_text(t)),
    }
}

fn parse(body: &str) -> Result<Line, &'static str> {
    let fields: Vec<&str> = body.split(' ').collect();
    let tip = |f: &[&str]| -> Result<Tip, &'static str> {
        let [file, offset, len, seq, hash] = f else {
            return Err("wrong number of fields");
        };
        let hex16 = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        Ok(Tip {
            pos: Pos {
                file: file.parse().map_err(|_| "bad file number")?,
                offset: offset.parse().map_err(|_| "bad offset")?,
                len: len.parse().map_err(|_| "bad length")?,
            },
            seq: seq.parse().map_err(|_| "bad sequence number")?,
            hash: hex16.then(|| (*hash).to_owned()).ok_or("bad record hash")?,
        })
    };
    match fields.as_slice() {
        ["a", person, rest @ ..] if person.len() == 64 => Ok(Line::Access(Entry {
            person: (*person).to_owned(),
            tip: tip(rest)?,
        })),
        ["m", rest @ ..] => Ok(Line::Mark(tip(rest)?)),
        _ => Err("not an index line"),
    }
}

fn mac(key: &hmac::Key, prev: &str, body: &str) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(prev.as_bytes());
    ctx.update(b"\n");
    ctx.update(body.as_bytes());
    let tag = ctx.sign();
    hex(&tag.as_ref()[..16])
}

impl Disk {
    /// Appends lines for `entries` and, when given, a mark; synced when `sync`. A failed write
    /// stops further writes (the in-memory index stays right; the next start catches up).
    pub(crate) fn append(
        &mut self,
        entries: &[Entry],
        mark: Option<&Tip>,
        sync: bool,
    ) -> std::io::Result<()> {
        let mut text = String::new();
        for e in entries {
            self.covered = self.covered.max(e.tip.seq);
            text.push_str(&self.seal(&Line::Access(e.clone())));
        }
        if let Some(t) = mark {
            self.covered = self.covered.max(t.seq);
            text.push_str(&self.seal(&Line::Mark(t.clone())));
        }
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other("stopped after an earlier failure"));
        };
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
        if let Err(e) = &written {
            self.file = None;
            tracing::warn!(
                file = %self.path.display(),
                error = %e,
                "audit accesses index: write failed; the index file is no longer written until a restart catches it up"
            );
        }
        written
    }

    fn seal(&mut self, line: &Line) -> String {
        let body = body(line);
        let mac = mac(&self.key, &self.prev, &body);
        let out = format!("{body} {mac}\n");
        self.prev = mac;
        out
    }
}

/// Reads, checks and completes the index, or rebuilds it (see the module docs).
pub(crate) fn load(dir: &Path, secret: &hmac::Key, scan: &Scan) -> Result<Loaded, AuditError> {
    let key = hmac::Key::new(
        hmac::HMAC_SHA256,
        hmac::sign(secret, b"guichet accesses index/1").as_ref(),
    );
    let path = dir.join(FILE);
    let read = read_index(&path, &key).and_then(|(lines, prev)| {
        check_tip(dir, lines.last().map(Line::tip), scan)?;
        Ok((lines, prev))
    });
    let (lines, prev) = match read {
        Ok(found) => found,
        Err(reason) => return rebuild(dir, key, scan, reason),
    };
    let from = lines.last().map_or((0, 0), |l| end_of(&l.tip().pos));
    let covered = lines.last().map_or(0, |l| l.tip().seq);
    let (caught, files_read) = catch_up(dir, from, scan)?;
    let mut entries: Vec<Entry> = lines
        .into_iter()
        .filter_map(|l| match l {
            Line::Access(e) => Some(e),
            Line::Mark(_) => None,
        })
        .collect();
    // Log files deleted by a retention job: their entries go, and the file is compacted.
    let present: HashSet<u32> = log_files(dir)?.into_iter().map(|(i, _)| i).collect();
    let before = entries.len();
    entries.retain(|e| present.contains(&e.tip.pos.file));
    let start = IndexStart {
        rebuilt: None,
        files_read,
        records_read: caught.len(),
        dropped: before - entries.len(),
    };
    let disk = if start.dropped > 0 {
        entries.extend(caught);
        write_fresh(dir, key, &entries, scan.tip.as_ref())?
    } else {
        let file = open_append(&path).map_err(|e| AuditError::io(&path, "cannot open", &e))?;
        let mut disk = Disk {
            file: Some(file),
            path,
            key,
            prev,
            covered,
        };
        let mark = scan.tip.as_ref().filter(|t| t.seq > covered);
        // A failure is logged and stops the file; the next start catches up again.
        let _ = disk.append(&caught, mark, false);
        entries.extend(caught);
        disk
    };
    Ok(Loaded {
        entries,
        disk,
        start,
    })
}

/// The lines of the index file and the MAC of the last one; the reason to rebuild when it
/// is missing or does not check.
fn read_index(path: &Path, key: &hmac::Key) -> Result<(Vec<Line>, String), String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("missing".into()),
        Err(e) => return Err(format!("cannot be read ({})", e.kind())),
    };
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let whole = text.rfind('\n').map_or(0, |at| at + 1);
    if whole < text.len() {
        // A line cut by a crash: drop it; the catch-up reads its record again.
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(whole as u64))
            .map_err(|e| format!("its incomplete last line cannot be cut ({})", e.kind()))?;
        tracing::warn!(file = %path.display(), "audit accesses index: cut an incomplete last line");
    }
    let mut prev = START.to_owned();
    let mut lines = Vec::new();
    for (n, line) in text[..whole].lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}", n + 1);
        let (body, stated) = line.rsplit_once(' ').ok_or_else(|| at("no MAC"))?;
        let expected = mac(key, &prev, body);
        if stated != expected {
            return Err(at(
                "its MAC does not match (a line edited, added or removed)",
            ));
        }
        lines.push(parse(body).map_err(at)?);
        prev = expected;
    }
    Ok((lines, prev))
}

/// Checks that the index's last line points at the record it names in this log.
fn check_tip(dir: &Path, tip: Option<&Tip>, scan: &Scan) -> Result<(), String> {
    let Some(tip) = tip else {
        return Ok(());
    };
    let foreign = || "its last line does not match the log (another or a rewritten log)".to_owned();
    if tip.seq > scan.seq {
        return Err("it is ahead of the log".into());
    }
    let path = super::chain::file_name(dir, tip.pos.file);
    let mut buf = vec![0u8; tip.pos.len as usize + 1];
    File::open(&path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(tip.pos.offset))?;
            f.read_exact(&mut buf)
        })
        .map_err(|_| foreign())?;
    let line = std::str::from_utf8(&buf)
        .ok()
        .and_then(|l| l.strip_suffix('\n'))
        .ok_or_else(foreign)?;
    match open_line(line) {
        Ok((record, hash)) if record.seq == tip.seq && hash.starts_with(&tip.hash) => Ok(()),
        _ => Err(foreign()),
    }
}

/// Where reading goes on after a record: its file and the byte after its `\n`.
fn end_of(pos: &Pos) -> (u32, u64) {
    (pos.file, pos.offset + u64::from(pos.len) + 1)
}

/// The `account-query` records after `from` (file, offset) up to the head; the number of
/// files read.
fn catch_up(dir: &Path, from: (u32, u64), scan: &Scan) -> Result<(Vec<Entry>, usize), AuditError> {
    let mut entries = Vec::new();
    let mut files_read = 0;
    for (index, path) in log_files(dir)? {
        if index < from.0 || scan.tip.is_none() {
            continue;
        }
        let start = if index == from.0 { from.1 } else { 0 };
        let mut bytes = Vec::new();
        let mut file = File::open(&path).map_err(|e| AuditError::io(&path, "cannot open", &e))?;
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| AuditError::io(&path, "cannot read", &e))?;
        if index == scan.index {
            bytes.truncate(usize::try_from(scan.size.saturating_sub(start)).unwrap_or(usize::MAX));
        }
        if bytes.is_empty() {
            continue; // the index ends where this file ends
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            AuditError::damaged(&path, "not UTF-8 text; run `guichet audit verify`")
        })?;
        files_read += 1;
        entries.extend(accesses_in(&text, index, start));
    }
    Ok((entries, files_read))
}

/// Writes a new index from every log file (to a temporary file, synced, then renamed).
fn rebuild(dir: &Path, key: hmac::Key, scan: &Scan, reason: String) -> Result<Loaded, AuditError> {
    let fresh = reason == "missing" && scan.tip.is_none();
    if !fresh {
        tracing::warn!(dir = %dir.display(), reason = %reason, "audit accesses index rebuilt from every log file");
    }
    let (entries, files_read) = catch_up(dir, (0, 0), scan)?;
    let disk = write_fresh(dir, key, &entries, scan.tip.as_ref())?;
    Ok(Loaded {
        start: IndexStart {
            rebuilt: (!fresh).then_some(reason),
            files_read,
            records_read: entries.len(),
            dropped: 0,
        },
        entries,
        disk,
    })
}

/// Writes an index of `entries` and a mark of `tip` to a temporary file, syncs it and
/// renames it over `accesses.idx`; the file stays open for appending.
fn write_fresh(
    dir: &Path,
    key: hmac::Key,
    entries: &[Entry],
    tip: Option<&Tip>,
) -> Result<Disk, AuditError> {
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let file = open_append(&tmp).map_err(|e| AuditError::io(&tmp, "cannot create", &e))?;
    let mut disk = Disk {
        path: tmp.clone(),
        file: Some(file),
        key,
        prev: START.to_owned(),
        covered: 0,
    };
    if let Err(e) = disk.append(entries, tip, true) {
        return Err(AuditError::io(&tmp, "cannot write the new index", &e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| AuditError::io(&path, "cannot replace", &e))?;
    let _ = File::open(dir).and_then(|d| d.sync_all());
    disk.path = path;
    Ok(disk)
}
