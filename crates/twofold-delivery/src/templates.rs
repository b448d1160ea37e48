//! Message texts. Each text may use `{code}` and `{org}`; every text left out of the
//! configuration falls back to the default scope's, then to the built-in one, so an
//! operator changes only the sentence they care about.

use serde::Deserialize;
use twofold_core::delivery::{Channel, OutboundMessage, Purpose};

/// Texts for both purposes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Templates {
    /// Codes that confirm a phone number or address being paired.
    pub pairing: PurposeTemplates,
    /// Codes that sign a person in.
    pub authentication: PurposeTemplates,
}

/// Texts for one purpose, per channel. `None` means "inherit".
///
/// In `voice_body`, `{code}` is read digit by digit: it expands to the characters of
/// the code separated by `. ` so that a text-to-speech engine pauses between them
/// instead of reading "one hundred twenty-three thousand…".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurposeTemplates {
    /// Email subject line.
    pub email_subject: Option<String>,
    /// Email body (plain text).
    pub email_body: Option<String>,
    /// SMS text. Keep it short: one SMS segment is 160 GSM characters.
    pub sms_body: Option<String>,
    /// What a voice call says.
    pub voice_body: Option<String>,
}

/// A message's rendered text.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject (email only).
    pub subject: Option<String>,
    /// The body.
    pub body: String,
}

// Debug is by hand: the body holds the code.
impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .field("body", &"<redacted>")
            .finish()
    }
}

const PAIRING: [&str; 4] = [
    "Your {org} verification code",
    "Your {org} verification code is {code}.\n\nEnter it to confirm this email address. \
     If you did not ask for it, you can ignore this message.\n",
    "Your {org} verification code is {code}",
    "Your {org} verification code is {code}.",
];

const AUTHENTICATION: [&str; 4] = [
    "Your {org} sign-in code",
    "Your {org} sign-in code is {code}.\n\nIf you did not try to sign in, someone may know \
     your password: change it and tell your administrator.\n",
    "Your {org} sign-in code is {code}",
    "Your {org} sign-in code is {code}.",
];

impl Templates {
    /// These templates with every unset text taken from `base`.
    #[must_use]
    pub fn or(&self, base: &Templates) -> Templates {
        Templates {
            pairing: self.pairing.or(&base.pairing),
            authentication: self.authentication.or(&base.authentication),
        }
    }

    /// Renders the subject and body of `message` for its channel and purpose.
    #[must_use]
    pub fn render(&self, message: &OutboundMessage) -> Rendered {
        let (set, builtin) = match message.purpose {
            Purpose::Pairing => (&self.pairing, &PAIRING),
            Purpose::Authentication => (&self.authentication, &AUTHENTICATION),
        };
        let pick = |value: &Option<String>, index: usize| value.clone().unwrap_or_else(|| builtin[index].to_owned());
        let org = message.org_name.as_str();
        match message.channel {
            Channel::Email => Rendered {
                subject: Some(fill(&pick(&set.email_subject, 0), org, &message.otp)),
                body: fill(&pick(&set.email_body, 1), org, &message.otp),
            },
            Channel::Sms => Rendered {
                subject: None,
                body: fill(&pick(&set.sms_body, 2), org, &message.otp),
            },
            Channel::Voice => Rendered {
                subject: None,
                body: fill(&pick(&set.voice_body, 3), org, &spell_out(&message.otp)),
            },
        }
    }
}

impl PurposeTemplates {
    fn or(&self, base: &PurposeTemplates) -> PurposeTemplates {
        PurposeTemplates {
            email_subject: self.email_subject.clone().or_else(|| base.email_subject.clone()),
            email_body: self.email_body.clone().or_else(|| base.email_body.clone()),
            sms_body: self.sms_body.clone().or_else(|| base.sms_body.clone()),
            voice_body: self.voice_body.clone().or_else(|| base.voice_body.clone()),
        }
    }
}

/// Replaces `{org}` and `{code}` in one pass, so an organization name that happens to
/// contain `{code}` is not expanded a second time.
fn fill(template: &str, org: &str, code: &str) -> String {
    let mut out = String::with_capacity(template.len() + org.len() + code.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix("{code}") {
            out.push_str(code);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{org}") {
            out.push_str(org);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// `"123456"` → `"1. 2. 3. 4. 5. 6"`: one character at a time, with a sentence break
/// between them, which speech engines render as a pause.
#[must_use]
pub fn spell_out(code: &str) -> String {
    code.chars().map(String::from).collect::<Vec<_>>().join(". ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: Channel, purpose: Purpose) -> OutboundMessage {
        OutboundMessage {
            id: "m1".into(),
            org_alias: "acme".into(),
            org_name: "Acme {code}".into(),
            channel,
            to: "x".into(),
            purpose,
            otp: "123456".into(),
            created_ms: 0,
        }
    }

    #[test]
    fn built_in_texts_carry_code_and_org() {
        let t = Templates::default();
        let sms = t.render(&message(Channel::Sms, Purpose::Authentication));
        assert_eq!(sms.body, "Your Acme {code} sign-in code is 123456");
        assert_eq!(sms.subject, None);
        let email = t.render(&message(Channel::Email, Purpose::Pairing));
        assert_eq!(email.subject.as_deref(), Some("Your Acme {code} verification code"));
        assert!(email.body.contains("is 123456."));
        let voice = t.render(&message(Channel::Voice, Purpose::Authentication));
        assert_eq!(voice.body, "Your Acme {code} sign-in code is 1. 2. 3. 4. 5. 6.");
    }

    #[test]
    fn overrides_inherit_field_by_field() {
        let base = Templates {
            authentication: PurposeTemplates {
                sms_body: Some("base {code}".into()),
                email_subject: Some("base subject".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let org = Templates {
            authentication: PurposeTemplates {
                sms_body: Some("{org}: {code} {unknown} {".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let merged = org.or(&base);
        let sms = merged.render(&message(Channel::Sms, Purpose::Authentication));
        assert_eq!(sms.body, "Acme {code}: 123456 {unknown} {");
        let email = merged.render(&message(Channel::Email, Purpose::Authentication));
        assert_eq!(email.subject.as_deref(), Some("base subject"));
    }

    #[test]
    fn rendered_debug_hides_the_body() {
        let r = Templates::default().render(&message(Channel::Sms, Purpose::Pairing));
        assert!(!format!("{r:?}").contains("123456"));
    }
}
