//! A log-linear latency histogram in the spirit of HdrHistogram: every recorded value is
//! counted (no sampling), in a fixed number of buckets whose width is at most 1/128 of
//! their value, so a quantile is reported within 0.8 % and memory stays bounded (about
//! 30 KiB per histogram) however long the run.

/// Values below `2^SUB_BITS` get a bucket each; above, each power of two is split into
/// `2^(SUB_BITS - 1)` buckets.
const SUB_BITS: u32 = 8;
const HALF: u64 = 1 << (SUB_BITS - 1);
/// Largest value kept exactly in buckets (larger ones land in the last bucket); in
/// microseconds this is over an hour.
const MAX_VALUE: u64 = (1 << 32) - 1;

fn bucket_count() -> usize {
    index_of(MAX_VALUE) + 1
}

fn index_of(value: u64) -> usize {
    let v = value.min(MAX_VALUE);
    let index = if v < (1 << SUB_BITS) {
        v
    } else {
        let magnitude = 63 - u64::from(v.leading_zeros());
        let shift = magnitude - u64::from(SUB_BITS - 1);
        shift * HALF + (v >> shift)
    };
    usize::try_from(index).unwrap_or(usize::MAX)
}

/// The highest value that lands in bucket `index` (what a quantile reports, as
/// HdrHistogram's "highest equivalent value" does).
fn highest_in(index: usize) -> u64 {
    let i = index as u64;
    if i < (1 << SUB_BITS) {
        i
    } else {
        let shift = i / HALF - 1;
        let sub = i - shift * HALF;
        ((sub + 1) << shift) - 1
    }
}

/// Counts of values (microseconds, in this tool).
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; bucket_count()],
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }
}

impl Histogram {
    /// Counts one value.
    pub fn record(&mut self, value: u64) {
        self.counts[index_of(value)] += 1;
        self.total += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += u128::from(value);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The exact largest value (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The exact mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            // Precision loss is irrelevant for a printed mean.
            #[expect(clippy::cast_precision_loss, reason = "a printed mean")]
            let mean = self.sum as f64 / self.total as f64;
            mean
        }
    }

    /// The value at quantile `q` (0..=1): the smallest bucket bound with at least
    /// `ceil(q * count)` values at or below it, capped by the exact maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let q = q.clamp(0.0, 1.0);
        // ceil(q * total) as an integer rank, at least 1.
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a rank between 1 and total"
        )]
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return highest_in(index).min(self.max).max(self.min);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        let mut previous = None;
        for v in (0..100_000u64).chain([1 << 20, (1 << 20) + 1, MAX_VALUE - 1, MAX_VALUE]) {
            let i = index_of(v);
            assert!(highest_in(i) >= v, "value {v} above its bucket's bound");
            if i > 0 {
                assert!(highest_in(i - 1) < v, "value {v} fits an earlier bucket");
            }
            if let Some(p) = previous {
                assert!(i >= p);
            }
            previous = Some(i);
        }
        assert_eq!(index_of(u64::MAX), bucket_count() - 1);
    }

    #[test]
    fn relative_error_is_below_one_percent() {
        for v in [300u64, 1_000, 12_345, 999_999, 50_000_000] {
            let bound = highest_in(index_of(v));
            #[expect(clippy::cast_precision_loss, reason = "test arithmetic")]
            let error = (bound - v) as f64 / v as f64;
            assert!(error < 0.008, "{v}: {bound}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_range() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.max(), 10_000);
        let p50 = h.quantile(0.5);
        assert!((5_000..=5_040).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((9_900..=9_980).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.quantile(0.0), 1);
        assert!((h.mean() - 5_000.5).abs() < 1e-9);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(10);
        b.record(1_000);
        b.record(20);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max(), 1_000);
        assert_eq!(a.quantile(0.5), 20);
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }
}
