//! The published test vectors of RFC 4226 (Appendix D) and RFC 6238 (Appendix B), all of them.

use twofold_factors::Verification;
use twofold_factors::hotp::{self, Algorithm, Digits, HotpParams};
use twofold_factors::totp::{self, Period, TotpParams};

const SEED_SHA1: &[u8] = b"12345678901234567890";
const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

#[test]
fn rfc4226_appendix_d() {
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
    ];
    let params = HotpParams::default();
    for (counter, code) in (0u64..).zip(expected) {
        assert_eq!(hotp::generate(SEED_SHA1, counter, params), code, "counter {counter}");
        assert_eq!(
            hotp::verify(SEED_SHA1, code, counter, 0, params),
            Verification::Accepted {
                step_or_counter: counter
            }
        );
        // From the start, with a look-ahead of 9, every vector is found at its own counter.
        assert_eq!(
            hotp::verify(SEED_SHA1, code, 0, 9, params),
            Verification::Accepted {
                step_or_counter: counter
            }
        );
    }
    for (counter, pair) in (0u64..).zip(expected.windows(2)) {
        assert_eq!(
            hotp::resync(SEED_SHA1, pair[0], pair[1], 0, 20, params),
            Some(counter + 1)
        );
    }
}

#[test]
fn rfc6238_appendix_b() {
    // (time, SHA-1, SHA-256, SHA-512), 8 digits, 30-second steps, T0 = 0.
    let table: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];
    let params = |algorithm| TotpParams {
        hotp: HotpParams {
            algorithm,
            digits: Digits::Eight,
        },
        period: Period::Secs30,
    };
    for (time, sha1, sha256, sha512) in table {
        for (seed, algorithm, code) in [
            (SEED_SHA1, Algorithm::Sha1, sha1),
            (SEED_SHA256, Algorithm::Sha256, sha256),
            (SEED_SHA512, Algorithm::Sha512, sha512),
        ] {
            let p = params(algorithm);
            assert_eq!(totp::generate(seed, time, p), code, "{algorithm:?} at {time}");
            let step = totp::step_at(time, p.period);
            assert_eq!(
                totp::verify(seed, code, time, p, 0, None),
                Verification::Accepted { step_or_counter: step }
            );
            assert_eq!(totp::verify(seed, code, time, p, 1, Some(step)), Verification::Replayed);
        }
    }
}

#[test]
fn six_digit_codes_are_the_low_digits_of_eight() {
    // Truncation is `value mod 10^digits`, so a 6-digit code is the tail of the 8-digit one.
    let six = TotpParams::default();
    let eight = TotpParams {
        hotp: HotpParams {
            digits: Digits::Eight,
            ..six.hotp
        },
        ..six
    };
    assert_eq!(totp::generate(SEED_SHA1, 59, six), "287082");
    assert!(totp::generate(SEED_SHA1, 59, eight).ends_with("287082"));
}
