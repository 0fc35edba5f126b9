//! The adapter module's errors: a file that cannot be used ([`AdapterError`], naming the
//! file) and a definition whose text or field is refused ([`DefError`], naming the field).

use std::path::PathBuf;

use crate::toml_error::TomlError;

/// An adapter file that cannot be used: which file, which field, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("adapter {file}: {message}")]
pub struct AdapterError {
    /// The file (or folder).
    pub file: PathBuf,
    /// What is wrong, naming the field.
    pub message: String,
}

/// What is wrong with one adapter definition: its text, or one of its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefError {
    /// The text is not TOML of the adapter's shape (line, column, what).
    #[error(transparent)]
    Syntax(#[from] TomlError),
    /// A field's value is refused.
    #[error("field {field}: {problem}")]
    Field {
        /// The field, as named in the file.
        field: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// The definition cannot be written back as TOML.
    #[error("cannot render the adapter: {0}")]
    Render(String),
}

impl DefError {
    /// A refused value of `field`.
    pub fn field(field: &'static str, problem: impl Into<String>) -> DefError {
        DefError::Field {
            field,
            problem: problem.into(),
        }
    }
}
