//! Arbitrary strings into the key-URI parser: errors are fine, panics are bugs, and whatever
//! parses must survive a build -> parse round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_factors::otpauth::{self, KeyUri};

fuzz_target!(|text: &str| {
    let _ = otpauth::decode_secret(text);
    let _ = otpauth::format_key_groups(text);
    if let Ok(uri) = KeyUri::parse(text) {
        // Parsed values may still be unbuildable (e.g. a leading space); when buildable, the
        // built URI must parse back to the same value.
        if let Ok(built) = uri.to_uri() {
            assert_eq!(KeyUri::parse(&built).as_ref(), Ok(&uri), "{built}");
        }
    }
});
