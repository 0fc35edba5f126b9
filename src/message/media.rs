//! The media type of an attachment, read from its first bytes (never from its name or
//! declared type): PDF, PNG and JPEG are accepted, anything else is refused.

/// An accepted attachment type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/pdf`: starts with `%PDF-`.
    Pdf,
    /// `image/png`: the eight-byte PNG signature.
    Png,
    /// `image/jpeg`: `FF D8 FF`.
    Jpeg,
}

impl MediaType {
    /// The type of `bytes` by their signature; `None` for anything else.
    pub fn detect(bytes: &[u8]) -> Option<MediaType> {
        if bytes.starts_with(b"%PDF-") {
            Some(MediaType::Pdf)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(MediaType::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(MediaType::Jpeg)
        } else {
            None
        }
    }

    /// The media type's name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Pdf => "application/pdf",
            MediaType::Png => "image/png",
            MediaType::Jpeg => "image/jpeg",
        }
    }

    /// The type named `s` (as stored).
    pub fn parse(s: &str) -> Option<MediaType> {
        [MediaType::Pdf, MediaType::Png, MediaType::Jpeg]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_not_the_name() {
        assert_eq!(MediaType::detect(b"%PDF-1.7\n"), Some(MediaType::Pdf));
        assert_eq!(
            MediaType::detect(b"\x89PNG\r\n\x1a\n\0\0"),
            Some(MediaType::Png)
        );
        assert_eq!(
            MediaType::detect(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(MediaType::Jpeg)
        );
        // An executable, a PDF signature not at the start, and nothing at all.
        assert_eq!(MediaType::detect(b"MZ\x90\0%PDF-"), None);
        assert_eq!(MediaType::detect(b"\x7fELF"), None);
        assert_eq!(MediaType::detect(b""), None);
        assert_eq!(MediaType::parse("image/png"), Some(MediaType::Png));
    }
}
