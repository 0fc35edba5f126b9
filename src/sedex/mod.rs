//! The sedex file interface: the folders the gateway shares with a fund's sedex client
//! (`outbox/`, `inbox/`, `receipts/`, `processed/`). Sending writes the data file and
//! then the envelope, each atomically (temporary file, fsync, rename, fsync of the
//! folder), so the client never picks up half a pair; receipts are read and classified
//! ([`SedexStatus`]); incoming pairs are handed over and moved to `processed/` only once
//! the taker confirms it holds them durably. Every step can be re-run after a crash.
//!
//! Blocking file I/O: call the synchronous functions from a blocking context;
//! [`SedexFolder::pick_up`] does so itself. Knows eCH-0090, not the messages' dialects.

mod envelope;
mod receipt;
mod xml;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use envelope::{ENVELOPE_NS, Envelope, date_time, is_message_id};
pub use receipt::{RECEIPT_NS, Receipt, SedexStatus};
pub use xml::XmlError;

/// The largest incoming data file taken (larger ones are refused and left in place).
pub const MAX_DATA_BYTES: u64 = 16 * 1024 * 1024;

/// Why a sedex step failed: which file or folder, and what.
#[derive(Debug, thiserror::Error)]
pub enum SedexError {
    /// A file or folder cannot be read, written, synced or renamed.
    #[error("sedex {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// An envelope or receipt that cannot be read.
    #[error("sedex file {path}: {error}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the element.
        error: XmlError,
    },
    /// A message id that cannot name a file.
    #[error(
        "message id {0:?} cannot name a sedex file (1–100 of A–Z a–z 0–9 - _ ., no leading dot)"
    )]
    MessageId(String),
    /// A file whose content names another message than its file name.
    #[error("sedex file {path}: it names message {found:?}, its file name another")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The message id inside.
        found: String,
    },
    /// An incoming data file over [`MAX_DATA_BYTES`].
    #[error("sedex file {path}: larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SedexError + '_ {
    move |source| SedexError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What [`SedexFolder::send`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// The data file and then the envelope were written now.
    Written,
    /// The envelope was already in `outbox/`: the pair is complete and waits for the
    /// client; nothing was written.
    AlreadyQueued,
}

/// One incoming message: its envelope and its data.
#[derive(Clone, Debug)]
pub struct InboxMessage {
    /// The envelope (sender, message id, the message it answers).
    pub envelope: Envelope,
    /// The data file's bytes (the message itself, e.g. an APG acknowledgement).
    pub data: Vec<u8>,
}

/// What one [`SedexFolder::pick_up`] did.
#[derive(Debug)]
pub struct PickUp<E> {
    /// Message ids taken over and moved to `processed/`.
    pub taken: Vec<String>,
    /// Pairs that cannot be read (left in `inbox/` for an operator).
    pub refused: Vec<SedexError>,
    /// Pairs the taker declined (left in `inbox/` for the next run), with its error.
    pub declined: Vec<(String, E)>,
}

/// The folder of one fund's sedex client.
#[derive(Clone, Debug)]
pub struct SedexFolder {
    root: PathBuf,
}

impl SedexFolder {
    /// The folder at `root`, which must exist; missing subfolders are created.
    pub fn open(root: &Path) -> Result<SedexFolder, SedexError> {
        let meta = std::fs::metadata(root).map_err(io(root))?;
        if !meta.is_dir() {
            let source = std::io::Error::other("not a folder");
            return Err(io(root)(source));
        }
        let folder = SedexFolder {
            root: root.to_owned(),
        };
        for sub in [
            folder.outbox(),
            folder.inbox_dir(),
            folder.receipts_dir(),
            folder.processed(),
        ] {
            std::fs::create_dir_all(&sub).map_err(io(&sub))?;
        }
        Ok(folder)
    }

    /// The shared folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `outbox/`: messages for the client to send.
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// `inbox/`: messages the client received.
    pub fn inbox_dir(&self) -> PathBuf {
        self.root.join("inbox")
    }

    /// `receipts/`: what became of the messages sent.
    pub fn receipts_dir(&self) -> PathBuf {
        self.root.join("receipts")
    }

    /// `processed/`: incoming pairs (and receipts) the gateway has taken over.
    pub fn processed(&self) -> PathBuf {
        self.root.join("processed")
    }

    /// Queues one message: `data_<id>.xml`, then `envl_<id>.xml`, each atomically. An
    /// envelope already in `outbox/` means the pair is queued ([`Sent::AlreadyQueued`]);
    /// a data file without its envelope (a crash between the two) is rewritten. The id is
    /// the envelope's, stable per submission, so a message re-sent after the client took
    /// it is recognisable as the same one.
    pub fn send(&self, data_xml: &[u8], envelope: &Envelope) -> Result<Sent, SedexError> {
        self.send_with(data_xml, envelope, || {})
    }

    /// [`SedexFolder::send`], calling `between` after the data file and before the
    /// envelope (the delivery worker's crash tests stop a process there).
    pub fn send_with(
        &self,
        data_xml: &[u8],
        envelope: &Envelope,
        between: impl FnOnce(),
    ) -> Result<Sent, SedexError> {
        let id = &envelope.message_id;
        if !is_message_id(id) {
            return Err(SedexError::MessageId(id.chars().take(100).collect()));
        }
        let outbox = self.outbox();
        let envl = outbox.join(format!("envl_{id}.xml"));
        if envl.try_exists().map_err(io(&envl))? {
            return Ok(Sent::AlreadyQueued);
        }
        write_atomic(&outbox.join(format!("data_{id}.xml")), data_xml)?;
        between();
        write_atomic(&envl, envelope.render().as_bytes())?;
        Ok(Sent::Written)
    }

    /// The receipt of message `id`, when the client has written one.
    pub fn receipt(&self, id: &str) -> Result<Option<Receipt>, SedexError> {
        if !is_message_id(id) {
            return Err(SedexError::MessageId(id.chars().take(100).collect()));
        }
        let path = self.receipts_dir().join(format!("receipt_{id}.xml"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        read_receipt(&path, &bytes, Some(id)).map(Some)
    }

    /// Every receipt in `receipts/` (unreadable ones as errors naming the file), sorted
    /// by file name.
    pub fn receipts(&self) -> Result<Vec<Result<Receipt, SedexError>>, SedexError> {
        let dir = self.receipts_dir();
        let mut out = Vec::new();
        for (path, id) in list(&dir, "receipt_")? {
            let receipt = std::fs::read(&path)
                .map_err(io(&path))
                .and_then(|b| read_receipt(&path, &b, Some(&id)));
            out.push(receipt);
        }
        Ok(out)
    }

    /// Moves the receipt of `id` to `processed/` (once its outcome is stored).
    pub fn archive_receipt(&self, id: &str) -> Result<(), SedexError> {
        if !is_message_id(id) {
            return Err(SedexError::MessageId(id.chars().take(100).collect()));
        }
        let name = format!("receipt_{id}.xml");
        let from = self.receipts_dir().join(&name);
        match std::fs::rename(&from, self.processed().join(&name)) {
            Ok(()) => sync_dir(&self.processed()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&from)(e)),
        }
    }

    /// Complete pairs in `inbox/` (an envelope without its data file is not complete
    /// yet), sorted by message id; unreadable pairs as errors naming the file. A pair
    /// whose move to `processed/` a crash interrupted is finished here, not handed out
    /// again.
    pub fn inbox(&self) -> Result<Vec<Result<InboxMessage, SedexError>>, SedexError> {
        let dir = self.inbox_dir();
        let mut out = Vec::new();
        for (envl, id) in list(&dir, "envl_")? {
            let data = dir.join(format!("data_{id}.xml"));
            if !data.try_exists().map_err(io(&data))? {
                let moved = self.processed().join(format!("data_{id}.xml"));
                if moved.try_exists().map_err(io(&moved))? {
                    self.move_to_processed(&envl, &format!("envl_{id}.xml"))?;
                }
                continue;
            }
            out.push(read_pair(&envl, &data, &id));
        }
        Ok(out)
    }

    /// Moves the pair of `id` from `inbox/` to `processed/` (data file first, then the
    /// envelope; [`SedexFolder::inbox`] finishes a move a crash interrupted).
    pub fn mark_processed(&self, id: &str) -> Result<(), SedexError> {
        if !is_message_id(id) {
            return Err(SedexError::MessageId(id.chars().take(100).collect()));
        }
        let dir = self.inbox_dir();
        let data = format!("data_{id}.xml");
        let envl = format!("envl_{id}.xml");
        self.move_to_processed(&dir.join(&data), &data)?;
        self.move_to_processed(&dir.join(&envl), &envl)
    }

    fn move_to_processed(&self, from: &Path, name: &str) -> Result<(), SedexError> {
        let processed = self.processed();
        std::fs::rename(from, processed.join(name)).map_err(io(from))?;
        sync_dir(&processed)?;
        sync_dir(&self.inbox_dir())
    }

    /// Hands every complete inbox pair to `take`; a pair moves to `processed/` only once
    /// `take` returns `Ok` (it must hold the message durably by then). A pair `take`
    /// declines stays for the next run; `take` sees a pair again after a crash between
    /// its `Ok` and the move, so it must be idempotent (by message id).
    pub async fn pick_up<F, E>(&self, mut take: F) -> Result<PickUp<E>, SedexError>
    where
        F: AsyncFnMut(&InboxMessage) -> Result<(), E>,
    {
        let folder = self.clone();
        let pairs = blocking(move || folder.inbox()).await?;
        let mut report = PickUp {
            taken: Vec::new(),
            refused: Vec::new(),
            declined: Vec::new(),
        };
        for pair in pairs {
            let message = match pair {
                Ok(m) => m,
                Err(e) => {
                    report.refused.push(e);
                    continue;
                }
            };
            let id = message.envelope.message_id.clone();
            match take(&message).await {
                Ok(()) => {
                    let folder = self.clone();
                    let moved = id.clone();
                    blocking(move || folder.mark_processed(&moved)).await?;
                    report.taken.push(id);
                }
                Err(e) => report.declined.push((id, e)),
            }
        }
        Ok(report)
    }
}

/// Runs file work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SedexError> + Send + 'static,
) -> Result<T, SedexError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SedexError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        })?
}

/// `(path, id)` of the files `<prefix><id>.xml` in `dir`, sorted by id.
fn list(dir: &Path, prefix: &str) -> Result<Vec<(PathBuf, String)>, SedexError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(".xml"))
        else {
            continue;
        };
        if is_message_id(id) {
            out.push((entry.path(), id.to_owned()));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn read_receipt(path: &Path, bytes: &[u8], id: Option<&str>) -> Result<Receipt, SedexError> {
    let receipt = Receipt::parse(bytes).map_err(|error| SedexError::File {
        path: path.to_owned(),
        error,
    })?;
    if id.is_some_and(|id| id != receipt.message_id) {
        return Err(SedexError::Mismatch {
            path: path.to_owned(),
            found: receipt.message_id,
        });
    }
    Ok(receipt)
}

fn read_pair(envl: &Path, data: &Path, id: &str) -> Result<InboxMessage, SedexError> {
    let bytes = std::fs::read(envl).map_err(io(envl))?;
    let envelope = Envelope::parse(&bytes).map_err(|error| SedexError::File {
        path: envl.to_owned(),
        error,
    })?;
    if envelope.message_id != id {
        return Err(SedexError::Mismatch {
            path: envl.to_owned(),
            found: envelope.message_id,
        });
    }
    let len = std::fs::metadata(data).map_err(io(data))?.len();
    if len > MAX_DATA_BYTES {
        return Err(SedexError::TooLarge {
            path: data.to_owned(),
            limit: MAX_DATA_BYTES,
        });
    }
    let data = std::fs::read(data).map_err(io(data))?;
    Ok(InboxMessage { envelope, data })
}

/// Writes `path` atomically: a hidden temporary file in the same folder (never a name
/// the client picks up), fsync, rename, fsync of the folder.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SedexError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temp).map_err(io(&temp))?;
    file.write_all(bytes).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io(path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), SedexError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}
