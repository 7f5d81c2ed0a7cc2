//! The step-aligned working representation: every instant-vector
//! expression evaluates to series holding one slot per evaluation step.

use argus_model::labels::Labels;

/// Marks a step without a value. A quiet NaN with a payload no arithmetic
/// produces from our inputs: values read from storage with these bits are
/// canonicalised on load (see [`sanitize`]).
pub(crate) const ABSENT_BITS: u64 = 0x7ff8_0000_a5a5_0001;

#[inline]
pub(crate) fn absent() -> f64 {
    f64::from_bits(ABSENT_BITS)
}

#[inline]
pub(crate) fn is_present(v: f64) -> bool {
    v.to_bits() != ABSENT_BITS
}

/// A value read from storage, never mistaken for an absent slot.
#[inline]
pub(crate) fn sanitize(v: f64) -> f64 {
    if v.to_bits() == ABSENT_BITS {
        f64::NAN
    } else {
        v
    }
}

/// Evaluation steps: `start, start+step, ..., end` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Grid {
    pub fn len(&self) -> usize {
        ((self.end - self.start) / self.step) as usize + 1
    }

    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.time(i))
    }

    pub fn is_instant(&self) -> bool {
        self.start == self.end
    }
}

/// The cost of `n` per-step slots, in samples.
pub(crate) fn slots_cost(n: usize) -> usize {
    n.div_ceil(2)
}

/// One series of an instant-vector expression across the grid.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub labels: Labels,
    /// `__name__` is to be dropped at the end of evaluation (delayed name
    /// removal); without that feature it is dropped at once instead.
    pub drop_name: bool,
    /// One slot per step; [`absent()`] where the series has no value.
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(labels: Labels, steps: usize) -> Series {
        Series {
            labels,
            drop_name: false,
            values: vec![absent(); steps],
        }
    }

    /// What holding the series costs against `--query.max-samples`: its
    /// points, but at least half its slots (a slot is 8 bytes, a
    /// Prometheus point 16), so the limit bounds the memory of the dense
    /// representation too.
    pub fn cost(&self) -> usize {
        self.present_count().max(slots_cost(self.values.len()))
    }

    pub fn present_count(&self) -> usize {
        self.values.iter().filter(|v| is_present(**v)).count()
    }

    pub fn is_empty(&self) -> bool {
        !self.values.iter().any(|v| is_present(*v))
    }
}

/// Labels describing the metric itself, dropped with the name when an
/// operation changes what the value means (`__type__` and `__unit__` come
/// from Prometheus's type-and-unit labels feature).
const METRIC_LABELS: [&str; 3] = ["__name__", "__type__", "__unit__"];

pub(crate) fn has_metric_labels(l: &Labels) -> bool {
    METRIC_LABELS.iter().any(|n| l.get(n).is_some())
}

/// `l` without the name, type and unit labels.
pub(crate) fn drop_metric_labels(l: &Labels) -> Labels {
    if !has_metric_labels(l) {
        return l.clone();
    }
    let mut b = l.builder();
    for n in METRIC_LABELS {
        b.del(n);
    }
    b.build()
}
