//! Arbitrary strings into the Yubico OTP parsers: they must reject, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_factors::yubikey::{self, OtpFields, YubiVerification};

const KEY: [u8; 16] = *b"0123456789abcdef";
const PRIVATE_ID: [u8; 6] = [1, 2, 3, 4, 5, 6];

fuzz_target!(|otp: &str| {
    let _ = yubikey::modhex_decode(otp);
    if let Ok(split) = yubikey::split_otp(otp) {
        assert!(split.public_id.len() <= yubikey::MAX_PUBLIC_ID_LEN);
        if let Ok(fields) = yubikey::decrypt_token(&split.token, &KEY) {
            // Whatever decrypts with a valid CRC must re-encrypt to the same token.
            let again = yubikey::encode_otp(&split.public_id, &KEY, &fields).expect("valid id");
            assert_eq!(again, otp.to_ascii_lowercase());
        }
    }
    if let YubiVerification::Accepted {
        use_ctr,
        session_ctr,
    } = yubikey::verify(otp, &KEY, &PRIVATE_ID, Some((0, 0)))
    {
        assert!((use_ctr, session_ctr) > (0, 0));
    }
    let _ = yubikey::encode_otp(otp, &KEY, &OtpFields::default());
});
