//! Phone numbers in international (E.164) form, as SMS and voice pairing receive them:
//! `"13035551234"`, `"+1 (303) 555-1234"`, and for voice an extension after commas
//! (`"+13035551234,,123#"`: each comma is a two-second pause; spec §2.3).

/// A validated phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// Country calling code, digits only (`1`, `44`, `972`).
    pub country_code: String,
    /// The national number, digits only.
    pub national: String,
    /// Extension dialled after the call connects: commas, digits, `#`, `*`.
    pub extension: Option<String>,
}

/// The two-digit country calling codes (ITU-T E.164 assignments). Codes starting with 1 or
/// 7 have one digit; every other code not listed here has three.
const TWO_DIGIT_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49", "51",
    "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90",
    "91", "92", "93", "94", "95", "98",
];

impl Phone {
    /// Parses a number; `allow_extension` for voice. `None` when it is not a plausible
    /// international number (8–15 digits, no leading zero).
    #[must_use]
    pub fn parse(raw: &str, allow_extension: bool) -> Option<Self> {
        let (number, extension) = match raw.split_once(',') {
            Some((n, ext)) if allow_extension => (n, Some(format!(",{ext}"))),
            Some(_) => return None,
            None => (raw, None),
        };
        if let Some(ext) = &extension
            && (ext.len() > 64
                || !ext
                    .chars()
                    .all(|c| c == ',' || c == '#' || c == '*' || c.is_ascii_digit()))
        {
            return None;
        }
        let mut digits = String::new();
        for (i, c) in number.trim().chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return None,
            }
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return None;
        }
        let cc_len = if digits.starts_with('1') || digits.starts_with('7') {
            1
        } else if TWO_DIGIT_CODES.contains(&&digits[..2]) {
            2
        } else {
            3
        };
        Some(Self {
            country_code: digits[..cc_len].to_string(),
            national: digits[cc_len..].to_string(),
            extension,
        })
    }

    /// `+` and all digits, the form gateways take.
    #[must_use]
    pub fn e164(&self) -> String {
        format!("+{}{}", self.country_code, self.national)
    }

    /// What is stored and dialled: E.164 plus the extension, if any.
    #[must_use]
    pub fn dial_string(&self) -> String {
        format!("{}{}", self.e164(), self.extension.as_deref().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_international_forms() {
        let p = Phone::parse("+1 (303) 555-1234", false).unwrap();
        assert_eq!((p.country_code.as_str(), p.national.as_str()), ("1", "3035551234"));
        assert_eq!(Phone::parse("13035551234", false).unwrap().e164(), "+13035551234");
        assert_eq!(Phone::parse("+442079460000", false).unwrap().country_code, "44");
        assert_eq!(Phone::parse("+972501234567", false).unwrap().country_code, "972");
        let v = Phone::parse("+13035551234,,12#", true).unwrap();
        assert_eq!(v.dial_string(), "+13035551234,,12#");
        assert!(Phone::parse("+13035551234,,12#", false).is_none());
        for bad in ["", "123", "+0123456789", "call me", "+1303555123456789", "12345678a"] {
            assert!(Phone::parse(bad, true).is_none(), "{bad}");
        }
    }
}
