//! Arbitrary response bodies into the validation-protocol checker: only a correctly signed
//! body may ever be accepted, and nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_factors::yubico_protocol;

fuzz_target!(|body: &str| {
    let _ = yubico_protocol::parse_response_fields(body);
    let _ = yubico_protocol::verify_response(
        body,
        b"fuzz-api-key",
        "cccccccccccccccccccccccccccccccccccccccc",
        "0123456789abcdef0123",
    );
});
