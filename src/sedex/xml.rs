//! The small XML of the sedex client's files: an envelope or a receipt is one root
//! element with simple children in one namespace. Read by namespace URI and local name
//! (never by prefix), unknown children skipped whole, no DOCTYPE; written with every
//! value escaped.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// What is wrong with a sedex XML file (the caller adds the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not UTF-8.
    #[error("not UTF-8")]
    Encoding,
    /// Not well-formed, or a DOCTYPE (refused: no entity is ever expanded).
    #[error("malformed XML: {0}")]
    Syntax(String),
    /// The root is another element.
    #[error("root element is {found}, expected {{{uri}}}{local}")]
    WrongRoot {
        /// What the document's root is.
        found: String,
        /// Expected namespace URI.
        uri: &'static str,
        /// Expected local name.
        local: &'static str,
    },
    /// A required element is absent or empty.
    #[error("required element missing at {0}")]
    Missing(String),
    /// A single-valued element occurs twice.
    #[error("element repeated at {0}")]
    Repeated(String),
    /// A value of the wrong shape (says what was expected; never the value).
    #[error("{what} at {path}")]
    Invalid {
        /// The element path.
        path: String,
        /// What was expected.
        what: String,
    },
}

/// The text of each direct child of the root in `uri`, in document order.
pub(crate) fn read_children(
    bytes: &[u8],
    uri: &'static str,
    root: &'static str,
) -> Result<Vec<(String, String)>, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::Encoding)?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    let mut buf = String::new();
    let mut out = Vec::new();
    let mut closed = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        match event {
            Event::Start(start) => {
                let (ns, local) = reader.resolver().resolve_element(start.name());
                let ns: &[u8] = match ns {
                    ResolveResult::Bound(n) => n.into_inner(),
                    ResolveResult::Unbound => b"",
                    ResolveResult::Unknown(_) => {
                        return Err(XmlError::Syntax("undeclared prefix".into()));
                    }
                };
                let local = String::from_utf8_lossy(local.into_inner()).into_owned();
                if depth == 0 {
                    if closed {
                        return Err(XmlError::Syntax("content after the root element".into()));
                    }
                    if ns != uri.as_bytes() || local != root {
                        let found = format!("{{{}}}{local}", String::from_utf8_lossy(ns));
                        return Err(XmlError::WrongRoot {
                            found,
                            uri,
                            local: root,
                        });
                    }
                } else if depth == 1 && ns == uri.as_bytes() {
                    current = Some(local);
                    buf.clear();
                }
                depth += 1;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1
                    && let Some(name) = current.take()
                {
                    out.push((name, buf.trim().to_owned()));
                }
                closed |= depth == 0;
            }
            Event::Text(t) if depth == 2 && current.is_some() => {
                let s = t
                    .xml_content()
                    .map_err(|e| XmlError::Syntax(e.to_string()))?;
                buf.push_str(&s);
            }
            Event::GeneralRef(r) if depth == 2 && current.is_some() => {
                buf.push(predefined(&r)?);
            }
            Event::CData(c) if depth == 2 && current.is_some() => {
                let s = c.decode().map_err(|e| XmlError::Syntax(e.to_string()))?;
                buf.push_str(&s);
            }
            Event::DocType(_) => {
                return Err(XmlError::Syntax(
                    "DOCTYPE refused (no entity expansion)".into(),
                ));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !closed {
        return Err(XmlError::Syntax(
            "the document ends before its root is closed".into(),
        ));
    }
    Ok(out)
}

/// The character of a predefined entity or a character reference.
fn predefined(r: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    if r.is_char_ref() {
        return r
            .resolve_char_ref()
            .ok()
            .flatten()
            .ok_or_else(|| XmlError::Syntax("invalid character reference".into()));
    }
    let name = r.decode().map_err(|e| XmlError::Syntax(e.to_string()))?;
    match name.as_ref() {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(XmlError::Syntax(
            "unknown entity (no DTD entities are ever expanded)".into(),
        )),
    }
}

/// The children read by [`read_children`], looked up by name.
pub(crate) struct Fields {
    root: &'static str,
    children: Vec<(String, String)>,
}

impl Fields {
    pub(crate) fn new(root: &'static str, children: Vec<(String, String)>) -> Fields {
        Fields { root, children }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        format!("/{}/{name}", self.root)
    }

    /// The value of a single-valued child, when present and not empty.
    pub(crate) fn optional(&self, name: &str) -> Result<Option<&str>, XmlError> {
        let mut values = self.children.iter().filter(|(n, _)| n == name);
        let first = values.next();
        if values.next().is_some() {
            return Err(XmlError::Repeated(self.path(name)));
        }
        Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
    }

    /// The value of a required single-valued child.
    pub(crate) fn required(&self, name: &str) -> Result<&str, XmlError> {
        self.optional(name)?
            .ok_or_else(|| XmlError::Missing(self.path(name)))
    }

    /// Every value of a repeatable child.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.children
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A required child parsed as a number.
    pub(crate) fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, XmlError> {
        let v = self.required(name)?;
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.invalid(name, "not a whole number"));
        }
        v.parse()
            .map_err(|_| self.invalid(name, "number out of range"))
    }

    pub(crate) fn invalid(&self, name: &str, what: &str) -> XmlError {
        XmlError::Invalid {
            path: self.path(name),
            what: what.to_owned(),
        }
    }
}

/// Appends `<prefix:name>value</prefix:name>` with the value escaped.
pub(crate) fn element(out: &mut String, prefix: &str, name: &str, value: &str) {
    out.push_str("  <");
    out.push_str(prefix);
    out.push(':');
    out.push_str(name);
    out.push('>');
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out.push_str("</");
    out.push_str(prefix);
    out.push(':');
    out.push_str(name);
    out.push_str(">\n");
}
