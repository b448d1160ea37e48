//! Twilio's REST API (or any service speaking it): SMS through the Messages resource,
//! voice through the Calls resource with inline TwiML.
//!
//! - SMS: `POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`, form `To`, `From`,
//!   `Body`.
//! - Voice: `POST …/Calls.json`, form `To`, `From`, `Twiml` (the text said twice, the code
//!   digit by digit) and, when the number carries `,`-separated extension digits,
//!   `SendDigits` with each `,` turned into `w` (Twilio's half-second wait).
//!
//! Both use HTTP basic authentication with the account SID and auth token.

use async_trait::async_trait;
use twofold_core::delivery::{Channel, DeliveryError, MessageSender, OutboundMessage};

use crate::config::{ConfigError, Secret, TwilioConfig, check_timeout, check_url};
use crate::http;
use crate::templates::Templates;

/// Sends SMS and voice calls through Twilio.
#[derive(Debug, Clone)]
pub struct TwilioSender {
    messages_url: reqwest::Url,
    calls_url: reqwest::Url,
    account_sid: String,
    auth_token: Secret,
    from: String,
    client: reqwest::Client,
    templates: Templates,
}

impl TwilioSender {
    /// A sender for `config`, rendering texts with `templates`.
    ///
    /// # Errors
    /// An invalid base URL, account SID or timeout.
    pub fn new(config: &TwilioConfig, templates: Templates) -> Result<Self, ConfigError> {
        let scope = "twilio";
        let base = check_url(scope, &config.base_url)?;
        let timeout = check_timeout(scope, config.timeout_secs)?;
        let sid = &config.account_sid;
        if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::new(
                scope,
                "account_sid must be non-empty and alphanumeric",
            ));
        }
        if config.from.is_empty() {
            return Err(ConfigError::new(scope, "from must not be empty"));
        }
        let root = base.as_str().trim_end_matches('/');
        let resource = |name: &str| check_url(scope, &format!("{root}/2010-04-01/Accounts/{sid}/{name}.json"));
        Ok(TwilioSender {
            messages_url: resource("Messages")?,
            calls_url: resource("Calls")?,
            account_sid: sid.clone(),
            auth_token: config.auth_token.clone(),
            from: config.from.clone(),
            client: http::client(timeout).map_err(|e| ConfigError::new(scope, e))?,
            templates,
        })
    }

    async fn post(&self, url: &reqwest::Url, form: &[(&str, &str)], otp: &str) -> Result<(), DeliveryError> {
        let response = self
            .client
            .post(url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(form)
            .send()
            .await
            .map_err(|e| http::request_error(e, "twilio"))?;
        let status = response.status();
        let verdict = http::check_status(status, "twilio");
        if verdict.is_ok() {
            return Ok(());
        }
        // Twilio explains refusals as {"code": 21211, "message": "…"}; keep that for the
        // operator, without any echo of the code.
        let detail = response
            .bytes()
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .map(|v| {
                let code = v.get("code").map(ToString::to_string).unwrap_or_default();
                let message = v.get("message").and_then(|m| m.as_str()).unwrap_or_default();
                let message: String = message.chars().take(200).collect();
                let message = if otp.is_empty() {
                    message
                } else {
                    message.replace(otp, "<redacted>")
                };
                format!(" (error {code}: {message})")
            })
            .unwrap_or_default();
        match verdict {
            Err(DeliveryError::Transient(m)) => Err(DeliveryError::Transient(m + &detail)),
            Err(DeliveryError::Permanent(m)) => Err(DeliveryError::Permanent(m + &detail)),
            Ok(()) => Ok(()),
        }
    }
}

/// Splits `+15551234567,,42` into the number and the digits to dial once answered
/// (`ww42`): each `,` (a pause in dial strings) becomes `w` (wait half a second).
pub(crate) fn split_extension(to: &str) -> Result<(&str, Option<String>), DeliveryError> {
    let Some(at) = to.find(',') else {
        return Ok((to, None));
    };
    let (number, rest) = to.split_at(at);
    if !rest
        .chars()
        .all(|c| c == ',' || c.is_ascii_digit() || c == '#' || c == '*')
    {
        return Err(DeliveryError::Permanent(
            "extension digits may only hold 0-9, *, # and , pauses".to_owned(),
        ));
    }
    let digits = rest.replace(',', "w");
    Ok((number, Some(digits)))
}

/// TwiML that says `text` twice with a pause between: a person who picks up late or
/// mishears still gets the code.
pub(crate) fn twiml(text: &str) -> String {
    let said = xml_escape(text);
    format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>")
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[async_trait]
impl MessageSender for TwilioSender {
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        let text = self.templates.render(message).body;
        let (number, digits) = split_extension(&message.to)?;
        match message.channel {
            Channel::Sms => {
                let form = [("To", number), ("From", self.from.as_str()), ("Body", text.as_str())];
                self.post(&self.messages_url, &form, &message.otp).await
            }
            Channel::Voice => {
                let twiml = twiml(&text);
                let mut form = vec![("To", number), ("From", self.from.as_str()), ("Twiml", twiml.as_str())];
                if let Some(digits) = &digits {
                    form.push(("SendDigits", digits.as_str()));
                }
                self.post(&self.calls_url, &form, &message.otp).await
            }
            Channel::Email => Err(DeliveryError::Permanent("twilio cannot send email".to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_become_send_digits() {
        assert_eq!(split_extension("+15551234567").unwrap(), ("+15551234567", None));
        assert_eq!(
            split_extension("+15551234567,,42#").unwrap(),
            ("+15551234567", Some("ww42#".to_owned()))
        );
        assert!(split_extension("+1555,x").is_err());
    }

    #[test]
    fn twiml_escapes_and_repeats() {
        assert_eq!(
            twiml("A&B <1. 2>"),
            "<Response><Say>A&amp;B &lt;1. 2&gt;</Say><Pause length=\"1\"/><Say>A&amp;B &lt;1. 2&gt;</Say></Response>"
        );
    }
}
