//! The single writer of the log: batches of records written in order, synced once, rotated
//! by size, checkpointed every N records.
//!
//! Invariant: a failed write leaves no bytes behind — the file is cut back to the end of the
//! last whole record before anything else is appended. When that cut (or a sync) fails, the
//! writer stops: every later record is refused until a restart recovers the file.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::chain::{Pos, Scan, base_name, file_name, now, open_append, seal};
use super::checkpoint::{Book, Checkpoint};
use super::index::{Entry, Index, Tip};
use super::{AuditError, Event, Head, Kind, Options, Record};

/// A failure to inject into the writer (tests of the failure paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writes work.
    None,
    /// Every write fails, as on a full or read-only disk, until `Fault::None`.
    Refuse,
    /// The next write puts half a line on disk and then fails, as an I/O error mid-write.
    Torn,
}

pub(crate) struct Writer {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    size: u64,
    index: u32,
    head_file: String,
    seq: u64,
    prev: String,
    options: Options,
    book: Book,
    tip: Option<Tip>,
    fault: Fault,
    stopped: bool,
}

impl Writer {
    pub(crate) fn open(dir: &Path, scan: Scan, options: Options) -> Result<Writer, AuditError> {
        let path = file_name(dir, scan.index);
        let file = open_append(&path).map_err(|e| AuditError::io(&path, "cannot open", &e))?;
        let head = Head {
            file: scan.head_file.clone(),
            seq: scan.seq,
            hash: scan.prev.clone(),
        };
        let book = Book::open(dir, options.signer.clone(), &head)?;
        Ok(Writer {
            dir: dir.to_owned(),
            file,
            path,
            size: scan.size,
            index: scan.index,
            head_file: scan.head_file,
            seq: scan.seq,
            prev: scan.prev,
            options,
            book,
            tip: scan.tip,
            fault: Fault::None,
            stopped: false,
        })
    }

    pub(crate) fn inject(&mut self, fault: Fault) {
        self.fault = fault;
    }

    pub(crate) fn head(&self) -> Head {
        Head {
            file: self.head_file.clone(),
            seq: self.seq,
            hash: self.prev.clone(),
        }
    }

    pub(crate) fn last_checkpoint(&self) -> Option<Checkpoint> {
        self.book.last()
    }

    /// Where the newest record lies.
    pub(crate) fn tip(&self) -> Option<&Tip> {
        self.tip.as_ref()
    }

    pub(crate) fn public_key(&self) -> Option<String> {
        self.book.public_key()
    }

    pub(crate) fn checkpoint_now(&mut self) -> Result<Option<Checkpoint>, AuditError> {
        let head = self.head();
        self.book
            .sign(&head, self.options.replica.as_deref(), self.options.fsync)
    }

    /// Writes records in order, then syncs once. A failure fails that record and every
    /// later one; a failed sync fails them all and stops the writer (the kernel may have
    /// dropped the pages: what is on disk is unknown until a restart reads it back).
    pub(crate) fn write_batch(
        &mut self,
        events: Vec<Event>,
        index: &Index,
    ) -> Vec<Result<u64, AuditError>> {
        let mut results = Vec::with_capacity(events.len());
        let mut indexed = Vec::new();
        let mut failed: Option<AuditError> = None;
        for event in events {
            if self.stopped {
                failed.get_or_insert_with(|| AuditError::Stopped(self.path.clone()));
            }
            if let Some(e) = &failed {
                results.push(Err(e.clone()));
                continue;
            }
            match self.write_one(event) {
                Ok((seq, entry)) => {
                    indexed.extend(entry);
                    results.push(Ok(seq));
                }
                Err(e) => {
                    failed = Some(e.clone());
                    results.push(Err(e));
                }
            }
        }
        if self.options.fsync
            && results.iter().any(Result::is_ok)
            && let Err(e) = self.file.sync_data()
        {
            self.stopped = true;
            let e = AuditError::io(&self.path, "cannot sync", &e);
            tracing::error!(error = %e, "audit log stopped");
            return results.into_iter().map(|_| Err(e.clone())).collect();
        }
        index.add(indexed, self.tip.as_ref(), self.options.checkpoint_every);
        if self.seq >= self.book.last_seq() + self.options.checkpoint_every
            && let Err(e) = self.checkpoint_now()
        {
            // The records are safe; the checkpoint is retried after the next batch.
            tracing::error!(error = %e, "audit checkpoint not written");
        }
        results
    }

    /// One record; on success its sequence number and, for an account query, what the
    /// accesses index must learn.
    fn write_one(&mut self, event: Event) -> Result<(u64, Option<Entry>), AuditError> {
        if self.size >= self.options.max_file_bytes {
            self.rotate()?;
        }
        let record = Record {
            seq: self.seq + 1,
            time: now(),
            replica: self.options.replica.clone(),
            event,
            prev: self.prev.clone(),
        };
        let (line, hash) = seal(&record)?;
        if let Err(e) = self.put(line.as_bytes()) {
            self.undo_partial();
            return Err(AuditError::io(&self.path, "cannot write", &e));
        }
        let tip = Tip {
            pos: Pos {
                file: self.index,
                offset: self.size,
                len: u32::try_from(line.len() - 1).unwrap_or(u32::MAX),
            },
            seq: record.seq,
            hash: hash.clone(),
        };
        let entry = match (record.event.kind, record.event.person) {
            (Kind::AccountQuery, Some(person)) => Some(Entry {
                person,
                tip: tip.clone(),
            }),
            _ => None,
        };
        self.size += line.len() as u64;
        self.seq = record.seq;
        self.prev = hash;
        self.head_file = base_name(&self.path);
        self.tip = Some(tip);
        Ok((record.seq, entry))
    }

    /// Writes a line, or fails as the injected fault says.
    fn put(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self.fault {
            Fault::None => self.file.write_all(line),
            Fault::Refuse => Err(std::io::Error::other("injected write failure")),
            Fault::Torn => {
                self.fault = Fault::None;
                self.file.write_all(&line[..line.len() / 2])?;
                Err(std::io::Error::other(
                    "injected failure after a partial write",
                ))
            }
        }
    }

    /// Cuts the file back to the end of the last whole record; stops the writer if that
    /// cannot be done.
    fn undo_partial(&mut self) {
        let cut = self.file.set_len(self.size).and_then(|()| {
            let on_disk = self.file.metadata()?.len();
            if on_disk == self.size {
                Ok(())
            } else {
                Err(std::io::Error::other("the file did not shrink"))
            }
        });
        if let Err(e) = cut {
            self.stopped = true;
            tracing::error!(
                file = %self.path.display(),
                error = %e,
                "audit log stopped: a failed write left bytes that cannot be removed"
            );
        }
    }

    fn rotate(&mut self) -> Result<(), AuditError> {
        if self.options.fsync {
            self.file
                .sync_data()
                .map_err(|e| AuditError::io(&self.path, "cannot sync", &e))?;
        }
        let index = self.index + 1;
        let path = file_name(&self.dir, index);
        let file = open_append(&path).map_err(|e| AuditError::io(&path, "cannot create", &e))?;
        if self.options.fsync {
            // The new file's name must survive a crash as well as its records.
            let _ = File::open(&self.dir).and_then(|d| d.sync_all());
        }
        self.file = file;
        self.path = path;
        self.index = index;
        self.size = 0;
        Ok(())
    }
}
