//! The context of one file being compiled: its path and text (for the error positions)
//! and its namespace prefixes, which qualify the element and attribute names of paths.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use crate::mapping::error::MappingError;
use crate::toml_error::Position;

/// The file being compiled and its namespace prefixes (also used by the submission
/// dialects' compiler).
pub(in crate::mapping) struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    namespaces: BTreeMap<String, String>,
}

impl<'a> Ctx<'a> {
    /// The context of `file` with its `[namespaces]` table, each prefix with a URI.
    pub(in crate::mapping) fn new(
        file: &'a Path,
        text: &'a str,
        raw: &BTreeMap<String, Spanned<String>>,
    ) -> Result<Ctx<'a>, MappingError> {
        let mut ctx = Ctx {
            file,
            text,
            namespaces: BTreeMap::new(),
        };
        for (prefix, uri) in raw {
            if prefix.is_empty() || uri.get_ref().trim().is_empty() {
                return ctx.err(
                    uri.span(),
                    format!("namespace prefix {prefix:?} needs a non-empty URI"),
                );
            }
            ctx.namespaces.insert(prefix.clone(), uri.get_ref().clone());
        }
        Ok(ctx)
    }

    /// The file's `dialect`: lowercase letters, digits and `-`.
    pub(in crate::mapping) fn dialect(
        &self,
        dialect: &Spanned<String>,
    ) -> Result<String, MappingError> {
        let name = dialect.get_ref().clone();
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return self.err(
                dialect.span(),
                format!("dialect {name:?}: use lowercase letters, digits and '-'"),
            );
        }
        Ok(name)
    }

    pub(in crate::mapping) fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, MappingError> {
        Err(MappingError::at(
            self.file,
            Some(Position::of_span(self.text, &span)),
            message,
        ))
    }

    /// `a:b/c:d` → steps of (uri, local, display).
    pub(super) fn steps(
        &self,
        path: &Spanned<String>,
    ) -> Result<Vec<(String, String, String)>, MappingError> {
        self.steps_of(path.get_ref(), path)
    }

    /// The steps of `raw`, a part of `path` (which names the position in errors).
    pub(super) fn steps_of(
        &self,
        raw: &str,
        path: &Spanned<String>,
    ) -> Result<Vec<(String, String, String)>, MappingError> {
        if raw.trim().is_empty() {
            return self.err(path.span(), "empty element path");
        }
        raw.split('/')
            .map(|step| {
                let (uri, local) = self.name(step, path)?;
                Ok((uri, local.to_owned(), step.to_owned()))
            })
            .collect()
    }

    /// `prefix:local` or `local` → (namespace URI, local name). An unprefixed name has no
    /// namespace (as an unprefixed attribute never has).
    pub(super) fn name<'s>(
        &self,
        step: &'s str,
        path: &Spanned<String>,
    ) -> Result<(String, &'s str), MappingError> {
        self.qualified(step, path, "an element or attribute name")
    }

    /// `prefix:local` or `local` → (namespace URI, local name); an error names `step` in
    /// `path` as not `what` (`an element name`…).
    pub(in crate::mapping) fn qualified<'s>(
        &self,
        step: &'s str,
        path: &Spanned<String>,
        what: &str,
    ) -> Result<(String, &'s str), MappingError> {
        let raw = path.get_ref();
        let (uri, local) = match step.split_once(':') {
            Some((prefix, local)) => match self.namespaces.get(prefix) {
                Some(uri) => (uri.clone(), local),
                None => {
                    return self.err(
                        path.span(),
                        format!("prefix {prefix:?} of {raw:?} is not declared in [namespaces]"),
                    );
                }
            },
            None => (String::new(), step),
        };
        let ok = !local.is_empty()
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            return self.err(path.span(), format!("{step:?} in {raw:?} is not {what}"));
        }
        Ok((uri, local))
    }
}
