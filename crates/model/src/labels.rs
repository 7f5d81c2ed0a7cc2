//! Sorted label sets stored in one shared buffer.
//!
//! A [`Labels`] keeps every name/value pair length-prefixed in a single
//! `Arc<[u8]>`: cloning is a reference-count bump, hashing and equality work
//! on the bytes, and a series costs one allocation however many labels it has.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::varint;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One borrowed name/value pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// An immutable, sorted set of labels with unique names and non-empty values.
#[derive(Clone)]
pub struct Labels {
    buf: Arc<[u8]>,
}

impl Default for Labels {
    fn default() -> Self {
        Labels::empty()
    }
}

/// Lengths in the buffer are uvarints.
#[inline]
fn put_len(buf: &mut Vec<u8>, n: usize) {
    varint::put_uvarint(buf, n as u64);
}

/// The length at `pos`, moving past it; `None` if the buffer is malformed.
#[inline]
fn get_len(buf: &[u8], pos: &mut usize) -> Option<usize> {
    let (n, len) = varint::get_uvarint(buf.get(*pos..)?)?;
    *pos += len;
    usize::try_from(n).ok()
}

impl Labels {
    pub fn empty() -> Labels {
        static EMPTY: std::sync::OnceLock<Arc<[u8]>> = std::sync::OnceLock::new();
        Labels {
            buf: EMPTY.get_or_init(|| Arc::from(Vec::new())).clone(),
        }
    }

    /// Builds a label set from pairs in any order. Pairs with an empty value
    /// are dropped (Prometheus treats them as absent); for a repeated name the
    /// last pair wins.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Labels {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// Builds a label set from pairs already sorted by name with unique names.
    /// Returns `None` if they are not.
    pub fn from_sorted<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Labels> {
        let mut buf = Vec::new();
        let mut prev: Option<&str> = None;
        for (n, v) in pairs {
            if let Some(p) = prev
                && p >= n
            {
                return None;
            }
            prev = Some(n);
            if v.is_empty() {
                continue;
            }
            put_len(&mut buf, n.len());
            buf.extend_from_slice(n.as_bytes());
            put_len(&mut buf, v.len());
            buf.extend_from_slice(v.as_bytes());
        }
        Some(Labels { buf: buf.into() })
    }

    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter {
            buf: &self.buf,
            pos: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// The value of `name`, or "" when absent, as matchers see it.
    pub fn get_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// A stable 64-bit hash of the label set (xxh3 of the encoded bytes).
    pub fn stable_hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.buf)
    }

    /// The encoded bytes; stable across processes, used by the WAL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Decodes bytes produced by [`Labels::as_bytes`], checking their shape.
    pub fn from_bytes(bytes: &[u8]) -> Option<Labels> {
        let mut pos = 0;
        let mut prev: Option<&[u8]> = None;
        // All ASCII (short lengths included) is the common case: then every
        // string in it is UTF-8 without checking them one by one.
        let ascii = bytes.is_ascii();
        let read = |pos: &mut usize| -> Option<&[u8]> {
            let n = get_len(bytes, pos)?;
            let s = bytes.get(*pos..pos.checked_add(n)?)?;
            *pos += n;
            if !ascii {
                std::str::from_utf8(s).ok()?;
            }
            Some(s)
        };
        while pos < bytes.len() {
            let name = read(&mut pos)?;
            let value = read(&mut pos)?;
            if value.is_empty() || prev.is_some_and(|p| p >= name) {
                return None;
            }
            prev = Some(name);
        }
        Some(Labels {
            buf: Arc::from(bytes),
        })
    }

    /// Approximate heap bytes held by this label set.
    pub fn heap_bytes(&self) -> usize {
        self.buf.len() + 16
    }

    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            pairs: self
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
        }
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        let mut b = self.builder();
        b.del(METRIC_NAME);
        b.build()
    }
}

pub struct LabelsIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> LabelsIter<'a> {
    /// The next name and value as bytes.
    #[inline]
    fn next_raw(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        if self.pos >= self.buf.len() {
            return None;
        }
        // The buffer is well formed (see below); a malformed one would end
        // the iteration rather than panic.
        let n = get_len(self.buf, &mut self.pos)?;
        let name = self.buf.get(self.pos..self.pos + n)?;
        self.pos += n;
        let n = get_len(self.buf, &mut self.pos)?;
        let value = self.buf.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some((name, value))
    }
}

/// A string of a label buffer.
#[inline]
#[allow(unsafe_code)]
fn label_str(bytes: &[u8]) -> &str {
    // SAFETY: a `Labels` buffer is private and only ever built from `&str`
    // pairs (`from_sorted`, the builder) or checked to be UTF-8 string by
    // string (`from_bytes`), and its strings are sliced at the same
    // boundaries they were written at. Validating again on every read cost
    // a fifth of a querier's label comparisons.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = Label<'a>;

    #[inline]
    fn next(&mut self) -> Option<Label<'a>> {
        let (name, value) = self.next_raw()?;
        Some(Label {
            name: label_str(name),
            value: label_str(value),
        })
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = LabelsIter<'a>;
    fn into_iter(self) -> LabelsIter<'a> {
        self.iter()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        self.buf == other.buf
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.stable_hash());
    }
}

impl Ord for Labels {
    /// Label-wise order, as Prometheus's `labels.Compare`: by name, then by
    /// value, pair after pair; a prefix sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        // Merging replicas compares equal sets most of the time.
        if Arc::ptr_eq(&self.buf, &other.buf) || self.buf == other.buf {
            return Ordering::Equal;
        }
        // Bytes order as UTF-8 strings do.
        let mut a = self.iter();
        let mut b = other.iter();
        loop {
            match (a.next_raw(), b.next_raw()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let o = x.0.cmp(y.0).then_with(|| x.1.cmp(y.1));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
            }
        }
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Formats as Prometheus does: `name{a="b", c="d"}`, with Go-style escaping.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(n) = name {
            f.write_str(n)?;
        }
        let mut first = true;
        let mut any = false;
        for l in self.iter().filter(|l| l.name != METRIC_NAME) {
            if first {
                f.write_str("{")?;
                first = false;
            } else {
                f.write_str(", ")?;
            }
            any = true;
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        if any {
            f.write_str("}")?;
        } else if name.is_none() {
            f.write_str("{}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for l in self.iter() {
            m.serialize_entry(l.name, l.value)?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        let mut b = LabelsBuilder::new();
        for (k, v) in &m {
            b.set(k, v);
        }
        Ok(b.build())
    }
}

/// Collects label pairs, then sorts them into a [`Labels`].
#[derive(Debug, Default, Clone)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if let Some(p) = self.pairs.iter_mut().find(|p| p.0 == name) {
            p.1.clear();
            p.1.push_str(value);
        } else {
            self.pairs.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.pairs.retain(|p| p.0 != name);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|p| p.0 == name)
            .map(|p| p.1.as_str())
    }

    pub fn build(&self) -> Labels {
        let mut sorted: Vec<&(String, String)> =
            self.pairs.iter().filter(|p| !p.1.is_empty()).collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut buf = Vec::with_capacity(sorted.iter().map(|p| p.0.len() + p.1.len() + 2).sum());
        for (n, v) in sorted {
            put_len(&mut buf, n.len());
            buf.extend_from_slice(n.as_bytes());
            put_len(&mut buf, v.len());
            buf.extend_from_slice(v.as_bytes());
        }
        Labels { buf: buf.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs(&[("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        let v: Vec<_> = l.iter().map(|l| (l.name, l.value)).collect();
        assert_eq!(v, vec![("a", "3"), ("b", "2")]);
        assert_eq!(l.get("c"), None);
        assert_eq!(l.get_or_empty("c"), "");
    }

    #[test]
    fn order_is_label_wise() {
        let a = Labels::from_pairs(&[("a", "1")]);
        let ab = Labels::from_pairs(&[("ab", "0")]);
        assert!(a < ab);
        let a2 = Labels::from_pairs(&[("a", "1"), ("b", "1")]);
        assert!(a < a2);
        let x = Labels::from_pairs(&[("a", "10")]);
        let y = Labels::from_pairs(&[("a", "9")]);
        assert!(x < y);
    }

    #[test]
    fn display_like_prometheus() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a\"b"), ("i", "x")]);
        assert_eq!(l.to_string(), r#"up{i="x", job="a\"b"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
        assert_eq!(Labels::from_pairs(&[("__name__", "up")]).to_string(), "up");
    }

    #[test]
    fn bytes_round_trip_and_reject_garbage() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "j")]);
        assert_eq!(Labels::from_bytes(l.as_bytes()), Some(l.clone()));
        assert_eq!(Labels::from_bytes(&[5, b'a']), None);
        assert_eq!(Labels::from_sorted([("b", "1"), ("a", "1")]), None);
        // Not ASCII: UTF-8 is checked string by string, long values too.
        let long = "é".repeat(100);
        let l = Labels::from_pairs(&[("job", "ü"), ("x", long.as_str())]);
        assert_eq!(Labels::from_bytes(l.as_bytes()), Some(l.clone()));
        assert_eq!(l.get("x"), Some(long.as_str()));
        assert_eq!(Labels::from_bytes(&[1, b'a', 2, 0xc3, 0x28]), None);
        assert_eq!(Labels::from_bytes(&[1, 0xff, 1, b'a']), None);
    }

    #[test]
    fn order_is_label_wise_with_equal_and_prefix_sets() {
        let a = Labels::from_pairs(&[("a", "1"), ("b", "2")]);
        let b = Labels::from_pairs(&[("a", "10")]);
        let c = Labels::from_pairs(&[("a", "1")]);
        let d = Labels::from_pairs(&[("aa", "0")]);
        // Byte order of the encoding would put "a"="10" (longer) after.
        assert!(a < b);
        assert!(c < a);
        assert!(a < d);
        assert_eq!(a.cmp(&a.clone()), std::cmp::Ordering::Equal);
        assert_eq!(
            a.cmp(&Labels::from_pairs(&[("b", "2"), ("a", "1")])),
            std::cmp::Ordering::Equal
        );
    }

    #[test]
    fn serde_as_map() {
        let l = Labels::from_pairs(&[("b", "2"), ("a", "1")]);
        let s = serde_json::to_string(&l).unwrap_or_default();
        assert_eq!(s, r#"{"a":"1","b":"2"}"#);
        let back: Labels = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(back, l);
    }
}
