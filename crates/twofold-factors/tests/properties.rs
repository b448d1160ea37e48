//! Property tests: the invariants the server relies on, over random inputs.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use twofold_factors::Verification;
use twofold_factors::hotp::{self, Algorithm, Digits, HotpParams};
use twofold_factors::otp_code;
use twofold_factors::otpauth::{self, KeyUri, OtpKind};
use twofold_factors::totp::{self, Period, TotpParams};
use twofold_factors::yubikey::{self, OtpFields, YubiVerification};

fn hotp_params() -> impl Strategy<Value = HotpParams> {
    (
        prop_oneof![Just(Algorithm::Sha1), Just(Algorithm::Sha256), Just(Algorithm::Sha512)],
        prop_oneof![Just(Digits::Six), Just(Digits::Eight)],
    )
        .prop_map(|(algorithm, digits)| HotpParams { algorithm, digits })
}

fn totp_params() -> impl Strategy<Value = TotpParams> {
    (hotp_params(), prop_oneof![Just(Period::Secs30), Just(Period::Secs60)])
        .prop_map(|(hotp, period)| TotpParams { hotp, period })
}

fn secret() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..64)
}

proptest! {
    #[test]
    fn totp_window(
        secret in secret(),
        now in 0u64..(1 << 40),
        params in totp_params(),
        window in 0u64..4,
        offset in -6i64..=6,
    ) {
        let current = totp::step_at(now, params.period);
        let Some(target) = current.checked_add_signed(offset) else { return Ok(()) };
        let code = totp::generate_at_step(&secret, target, params);
        let in_window: Vec<u64> = (current.saturating_sub(window)..=current + window).collect();
        let colliding: Vec<u64> = in_window
            .iter()
            .copied()
            .filter(|&s| s != target && totp::generate_at_step(&secret, s, params) == code)
            .collect();
        let verdict = totp::verify(&secret, &code, now, params, window, None);
        if offset.unsigned_abs() <= window {
            match verdict {
                Verification::Accepted { step_or_counter } => {
                    prop_assert!(in_window.contains(&step_or_counter));
                    if colliding.is_empty() {
                        prop_assert_eq!(step_or_counter, target);
                    }
                }
                other => prop_assert!(false, "expected Accepted, got {:?}", other),
            }
        } else if colliding.is_empty() {
            prop_assert_eq!(verdict, Verification::Rejected);
        }
    }

    #[test]
    fn totp_spent_step_is_replayed(
        secret in secret(),
        now in 0u64..(1 << 40),
        params in totp_params(),
        window in 0u64..4,
        offset in -3i64..=3,
        extra in 0u64..100,
    ) {
        let current = totp::step_at(now, params.period);
        prop_assume!(offset.unsigned_abs() <= window);
        let Some(target) = current.checked_add_signed(offset) else { return Ok(()) };
        let code = totp::generate_at_step(&secret, target, params);
        // Every step of the window is spent: the code can only be a replay.
        let last = current + window + extra;
        prop_assert_eq!(
            totp::verify(&secret, &code, now, params, window, Some(last)),
            Verification::Replayed
        );
        // Spending exactly the target step also makes it a replay, unless a later step collides.
        let verdict = totp::verify(&secret, &code, now, params, window, Some(target));
        let replay_or_accept = matches!(verdict, Verification::Replayed | Verification::Accepted { .. });
        prop_assert!(replay_or_accept);
        if let Verification::Accepted { step_or_counter } = verdict {
            prop_assert!(step_or_counter > target);
        }
    }

    #[test]
    fn hotp_look_ahead(
        secret in secret(),
        counter in 0u64..1_000_000,
        params in hotp_params(),
        behind in 0u64..10,
        look_ahead in 0u64..10,
    ) {
        let code = hotp::generate(&secret, counter, params);
        let next = counter.saturating_sub(behind);
        let verdict = hotp::verify(&secret, &code, next, look_ahead, params);
        if counter - next <= look_ahead {
            match verdict {
                Verification::Accepted { step_or_counter } => {
                    prop_assert!(step_or_counter >= next && step_or_counter <= counter);
                    prop_assert_eq!(hotp::generate(&secret, step_or_counter, params), code.clone());
                }
                other => prop_assert!(false, "expected Accepted, got {:?}", other),
            }
        }
        // Once the counter is consumed, the same code is a replay (barring a collision ahead).
        let again = hotp::verify(&secret, &code, counter + 1, look_ahead, params);
        let replay_or_accept = matches!(again, Verification::Replayed | Verification::Accepted { .. });
        prop_assert!(replay_or_accept);
    }

    #[test]
    fn hotp_resync_finds_the_counter(
        secret in secret(),
        counter in 0u64..1_000_000,
        params in hotp_params(),
        distance in 0u64..200,
    ) {
        let code1 = hotp::generate(&secret, counter, params);
        let code2 = hotp::generate(&secret, counter + 1, params);
        let from = counter.saturating_sub(distance);
        prop_assert_eq!(hotp::resync(&secret, &code1, &code2, from, 200, params), Some(counter + 1));
    }

    #[test]
    fn codes_that_are_not_digits_are_rejected(secret in secret(), code in ".{0,12}", now: u64) {
        let params = TotpParams::default();
        let verdict = totp::verify(&secret, &code, now, params, 2, None);
        if !(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())) {
            prop_assert_eq!(verdict, Verification::Rejected);
        }
        let _ = hotp::verify(&secret, &code, now, 3, params.hotp);
        let _ = hotp::resync(&secret, &code, &code, now, 3, params.hotp);
    }

    #[test]
    fn modhex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let text = yubikey::modhex_encode(&bytes);
        prop_assert_eq!(text.len(), bytes.len() * 2);
        prop_assert!(text.bytes().all(|b| yubikey::MODHEX_ALPHABET.contains(&b)));
        prop_assert_eq!(yubikey::modhex_decode(&text), Some(bytes.clone()));
        prop_assert_eq!(yubikey::modhex_decode(&text.to_ascii_uppercase()), Some(bytes));
    }

    #[test]
    fn yubico_otp_round_trips_and_detects_flips(
        public in proptest::collection::vec(any::<u8>(), 0..=8),
        key: [u8; 16],
        private_id: [u8; 6],
        use_counter: u16,
        session_counter: u8,
        timestamp in 0u32..(1 << 24),
        random: u16,
        flip_at in 0usize..32,
        flip_by in 1usize..16,
    ) {
        let public_id = yubikey::modhex_encode(&public);
        let fields = OtpFields { private_id, use_counter, timestamp, session_counter, random };
        let otp = yubikey::encode_otp(&public_id, &key, &fields).unwrap();
        prop_assert_eq!(otp.len(), public_id.len() + 32);

        let split = yubikey::split_otp(&otp).unwrap();
        prop_assert_eq!(&split.public_id, &public_id);
        prop_assert_eq!(yubikey::decrypt_token(&split.token, &key), Ok(fields));
        prop_assert_eq!(
            yubikey::verify(&otp, &key, &private_id, None),
            YubiVerification::Accepted { use_ctr: use_counter, session_ctr: session_counter }
        );
        prop_assert_eq!(
            yubikey::verify(&otp, &key, &private_id, Some((use_counter, session_counter))),
            YubiVerification::Replayed
        );

        // Replace one token character by a different modhex character.
        let mut bytes = otp.into_bytes();
        let at = public_id.len() + flip_at;
        let pos = yubikey::MODHEX_ALPHABET.iter().position(|&c| c == bytes[at]).unwrap();
        bytes[at] = yubikey::MODHEX_ALPHABET[(pos + flip_by) % 16];
        let flipped = String::from_utf8(bytes).unwrap();
        prop_assert!(matches!(
            yubikey::verify(&flipped, &key, &private_id, None),
            YubiVerification::Rejected(_)
        ));
    }

    #[test]
    fn yubikey_parsers_never_panic(otp in "\\PC{0,60}", key: [u8; 16], private_id: [u8; 6]) {
        let _ = yubikey::modhex_decode(&otp);
        let _ = yubikey::split_otp(&otp);
        let _ = yubikey::verify(&otp, &key, &private_id, Some((1, 1)));
    }

    #[test]
    fn otpauth_round_trips(
        issuer in proptest::option::of("[^:]{1,20}"),
        account in "[^:\\s][^:]{0,30}",
        secret in proptest::collection::vec(any::<u8>(), 1..40),
        params in hotp_params(),
        kind in prop_oneof![
            prop_oneof![Just(Period::Secs30), Just(Period::Secs60)]
                .prop_map(|period| OtpKind::Totp { period }),
            any::<u64>().prop_map(|counter| OtpKind::Hotp { counter }),
        ],
    ) {
        let uri = KeyUri {
            kind,
            issuer,
            account,
            secret,
            algorithm: params.algorithm,
            digits: params.digits,
        };
        let text = uri.to_uri().unwrap();
        prop_assert!(text.is_ascii());
        prop_assert_eq!(KeyUri::parse(&text), Ok(uri));
    }

    #[test]
    fn otpauth_parser_never_panics(text in "\\PC{0,120}") {
        let _ = KeyUri::parse(&text);
        let _ = KeyUri::parse(&format!("otpauth://totp/{text}"));
        let _ = KeyUri::parse(&format!("otpauth://hotp/a?secret=GEZDGNBV&{text}"));
    }

    #[test]
    fn random_otps_have_the_requested_shape(seed: u64, len in 4usize..=10) {
        let mut rng = StdRng::seed_from_u64(seed);
        let code = otp_code::generate_otp(&mut rng, len).unwrap();
        prop_assert_eq!(code.len(), len);
        prop_assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let activation = otp_code::generate_activation_code(&mut rng);
        prop_assert_eq!(activation.len(), 12);
        prop_assert!(activation.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn generated_secrets_decode(seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let b32 = otpauth::generate_secret_base32(&mut rng);
        prop_assert_eq!(b32.len(), 32);
        let grouped = otpauth::format_key_groups(&b32);
        prop_assert_eq!(grouped.len(), 32 + 7);
        prop_assert_eq!(otpauth::decode_secret(&grouped).unwrap().len(), otpauth::DEFAULT_SECRET_LEN);
    }
}

#[test]
fn random_otps_are_roughly_uniform() {
    // 20 000 4-digit codes: every leading digit should appear about 2 000 times.
    let mut rng = StdRng::seed_from_u64(42);
    let mut counts = [0u32; 10];
    for _ in 0..20_000 {
        let code = otp_code::generate_otp(&mut rng, 4).unwrap();
        counts[usize::from(code.as_bytes()[0] - b'0')] += 1;
    }
    for (digit, count) in counts.iter().enumerate() {
        assert!((1_700..2_300).contains(count), "digit {digit}: {count}");
    }
}
