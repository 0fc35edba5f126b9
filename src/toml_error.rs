//! Owns where a TOML error lies: the one place that turns a `toml` error (or a spanned
//! value) into a 1-based line and column. Each module keeps its own error type and adds
//! the file; this module never reads files.

use std::fmt;
use std::ops::Range;

use serde::de::DeserializeOwned;

/// A 1-based line and column (in characters) in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the text, and back to the
    /// start of a character).
    pub fn at(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The position where `span` (a byte range, as `toml` reports them) starts.
    pub fn of_span(text: &str, span: &Range<usize>) -> Position {
        Position::at(text, span.start)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A TOML text that does not parse into the expected shape: where, and what `toml` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", position.map(|p| format!("{p}: ")).unwrap_or_default())]
pub struct TomlError {
    /// Where the error lies, when `toml` knows.
    pub position: Option<Position>,
    /// `toml`'s message (one line, without the source excerpt).
    pub message: String,
}

impl TomlError {
    /// The error of `toml` for `text`, with its position.
    pub fn new(text: &str, err: &toml::de::Error) -> TomlError {
        TomlError {
            position: err.span().map(|s| Position::of_span(text, &s)),
            message: err.message().trim_end().to_owned(),
        }
    }

    /// The line, when known.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|p| p.line)
    }
}

/// Parses `text` as `T`; an error says the line, the column and what is wrong.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|e| TomlError::new(text, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        name: String,
        size: u32,
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\nüb = 2\n";
        assert_eq!(Position::at(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::at(text, 6), Position { line: 2, column: 1 });
        // After "üb" (3 bytes, 2 characters).
        assert_eq!(Position::at(text, 9), Position { line: 2, column: 3 });
        // Inside the two bytes of ü: back to its start, never a panic.
        assert_eq!(Position::at(text, 7), Position { line: 2, column: 1 });
        assert_eq!(Position::at(text, 999), Position { line: 3, column: 1 });
        assert_eq!(Position::at("", 5).to_string(), "line 1, column 1");
    }

    #[test]
    fn errors_say_line_column_and_what() {
        let err = parse::<Shape>("name = \"x\"\nsize = \"big\"\n").expect_err("type");
        assert_eq!(err.line(), Some(2));
        assert!(err.to_string().starts_with("line 2, column 8: "), "{err}");
        let err = parse::<Shape>("name = \"x\"\nsize = 1\ncolour = 2\n").expect_err("unknown");
        assert_eq!(err.line(), Some(3));
        assert!(err.to_string().contains("colour"), "{err}");
        assert!(!err.message.contains('\n'), "{err:?}");
        assert!(parse::<Shape>("name = ").is_err());
        assert_eq!(
            parse::<Shape>("name = \"x\"\nsize = 1").map(|s| s.size),
            Ok(1)
        );
    }
}
