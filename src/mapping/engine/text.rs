//! Text of XML events: the fast path that copies text needing no decoding, and the five
//! predefined entities and character references (no DTD entity is ever expanded).

/// The text of an event when `xml_content()` would return it unchanged: valid UTF-8
/// (always, as the reader reads a `&str`) without any character that XML 1.1 end-of-line
/// normalization rewrites (CR, NEL U+0085, LS U+2028: bytes 0x0D, and the lead bytes
/// 0xC2 / 0xE2 of the latter two, checked conservatively).
pub(crate) fn plain_text<'t>(t: &'t quick_xml::events::BytesText<'_>) -> Option<&'t str> {
    let raw: &[u8] = t;
    if raw.iter().any(|&b| matches!(b, b'\r' | 0xC2 | 0xE2)) {
        return None;
    }
    std::str::from_utf8(raw).ok()
}

use super::super::error::ReferenceError;

/// The character of a predefined entity or a character reference.
pub(crate) fn resolve_reference(
    r: &quick_xml::events::BytesRef<'_>,
) -> Result<char, ReferenceError> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(ReferenceError::InvalidCharacter),
        };
    }
    match r
        .decode()
        .map_err(|e| ReferenceError::Undecodable(e.to_string()))?
        .as_ref()
    {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(ReferenceError::UnknownEntity(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use quick_xml::events::BytesText;

    use super::plain_text;

    #[test]
    fn plain_text_is_what_xml_content_would_give() {
        let samples = [
            "Horlogerie Léman SA",
            "",
            "a\r\nb",
            "a\rb",
            "a\u{85}b",
            "a\r\u{85}b",
            "a\u{2028}b",
            "Indemnités ¡€",
        ];
        for s in samples {
            let t = BytesText::from_escaped(s);
            let expected = t.xml_content().expect("utf-8");
            if let Some(plain) = plain_text(&t) {
                assert_eq!(plain, expected, "{s:?}");
            }
        }
        assert_eq!(
            plain_text(&BytesText::from_escaped("1804.221")),
            Some("1804.221")
        );
        assert_eq!(plain_text(&BytesText::from_escaped("a\r\nb")), None);
        assert_eq!(plain_text(&BytesText::from_escaped("a\u{2028}b")), None);
    }
}
