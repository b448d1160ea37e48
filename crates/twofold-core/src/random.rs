//! Randomness as a port: the operating system's generator in production, a seeded one in
//! tests so that ids and codes are reproducible.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng, TryRngCore};

/// A source of random bytes. Everything secret (keys, codes, ids) comes from here.
pub trait Random: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A uniformly random integer in `0..bound` (rejection sampling, no modulo bias).
    fn below(&self, bound: u64) -> u64 {
        assert!(bound > 0, "bound must be positive");
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let mut b = [0u8; 8];
            self.fill(&mut b);
            let v = u64::from_le_bytes(b);
            if v < zone {
                return v % bound;
            }
        }
    }

    /// `len` uniformly random decimal digits.
    fn digits(&self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b'0' + u8::try_from(self.below(10)).unwrap_or(0)))
            .collect()
    }
}

/// The operating system's cryptographic generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng
            .try_fill_bytes(buf)
            .expect("the operating system's random generator failed");
    }
}

/// A deterministic generator for tests.
#[derive(Debug)]
pub struct SeededRandom(Mutex<StdRng>);

impl SeededRandom {
    /// A generator seeded with `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fill_bytes(buf);
    }
}
