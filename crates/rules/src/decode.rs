//! Strict decoding of a rule file's YAML into raw groups and rules that
//! remember where each value was written.
//!
//! `serde_yaml` keeps no positions once a value is deserialised, but it
//! stamps the position of the node being read on an error raised from a
//! visitor. [`ScalarSeed`] reads a scalar's text, then raises such an error
//! on purpose and takes the position from it: the scalar's event is already
//! consumed at that point, so deserialisation goes on as if nothing
//! happened. A mapping's position is its first key's, as in yaml.v3 for
//! block mappings.
//!
//! The maps are walked by hand so that, like Prometheus's strict decoder
//! (yaml.v3 with `KnownFields`), every unknown field and repeated key is
//! reported, not just the first one.

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::{Context, Pos, Problem};

/// Message of the error [`ScalarSeed`] raises to learn a position; never
/// shown.
const PROBE: &str = "argus-rules position probe";

/// A scalar as written and where it starts; a null has empty text and no
/// position of its own (its key's is used).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scalar {
    pub text: String,
    pub pos: Option<Pos>,
    pub null: bool,
}

impl Scalar {
    fn or_at(mut self, key: &Scalar) -> Scalar {
        if self.pos.is_none() {
            self.pos = key.pos;
        }
        self
    }
}

/// A duration field's value: `None` when unset, null or invalid.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DurationField {
    pub value: Option<Duration>,
}

#[derive(Debug, Default)]
pub(crate) struct RawGroup {
    pub pos: Option<Pos>,
    pub name: Scalar,
    pub interval: DurationField,
    pub query_offset: DurationField,
    pub limit: i64,
    pub labels: Vec<(Scalar, Scalar)>,
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Default)]
pub(crate) struct RawRule {
    pub pos: Option<Pos>,
    pub record: Option<Scalar>,
    pub alert: Option<Scalar>,
    pub expr: Option<Scalar>,
    pub for_: DurationField,
    pub keep_firing_for: DurationField,
    pub labels: Vec<(Scalar, Scalar)>,
    pub annotations: Vec<(Scalar, Scalar)>,
}

/// The decoded first document: its groups, and whether more documents
/// followed (Prometheus reads only the first and warns).
#[derive(Debug, Default)]
pub(crate) struct RawFile {
    pub groups: Vec<RawGroup>,
    pub extra_documents: bool,
}

/// Decodes `text`. Field-level problems (unknown or repeated fields, bad
/// durations) are collected in `problems`; a YAML syntax or type error
/// stops decoding and is added last.
pub(crate) fn decode(text: &str, problems: &mut Vec<Problem>) -> RawFile {
    let mut file = RawFile::default();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        if i > 0 {
            file.extra_documents = true;
            break;
        }
        let seed = TopSeed { problems };
        match seed.deserialize(doc) {
            Ok(groups) => file.groups = groups,
            Err(e) => problems.push(yaml_problem(&e)),
        }
    }
    file
}

/// A `serde_yaml` error as a problem at its position, without the
/// position suffix `serde_yaml` appends to its message.
fn yaml_problem(e: &serde_yaml::Error) -> Problem {
    let mut message = e.to_string();
    let pos = e.location().map(|l| Pos {
        line: l.line(),
        column: l.column(),
    });
    if let Some(l) = e.location() {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    Problem::new(pos, message)
}

/// The position `serde_yaml` stamped on a probe error: `... at line L
/// column C`, or none when the node is the first of the document (libyaml
/// marks 0:0 and `serde_yaml` prints no position then).
fn probe_pos(message: &str) -> Pos {
    let parsed = message
        .split_once(PROBE)
        .and_then(|(_, rest)| rest.strip_prefix(" at line "))
        .and_then(|rest| rest.split_once(" column "))
        .and_then(|(l, c)| Some((l.parse().ok()?, c.trim().parse().ok()?)));
    match parsed {
        Some((line, column)) => Pos { line, column },
        None => Pos { line: 1, column: 1 },
    }
}

/// Reads a scalar (or null) with its position.
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        let slot = Cell::new(None);
        match d.deserialize_option(NullOr { slot: &slot }) {
            Ok(()) => Ok(Scalar {
                null: true,
                ..Scalar::default()
            }),
            Err(e) => match slot.take() {
                Some(text) => Ok(Scalar {
                    text,
                    pos: Some(probe_pos(&e.to_string())),
                    null: false,
                }),
                // A real error (e.g. a mapping where a string belongs).
                None => Err(e),
            },
        }
    }
}

struct NullOr<'a> {
    slot: &'a Cell<Option<String>>,
}

impl<'de> Visitor<'de> for NullOr<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(Grab { slot: self.slot })
    }
}

/// Keeps the string, then fails so that the position gets stamped.
struct Grab<'a> {
    slot: &'a Cell<Option<String>>,
}

impl<'de> Visitor<'de> for Grab<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.slot.set(Some(v.to_string()));
        Err(E::custom(PROBE))
    }
}

/// Keys seen in one mapping, to report repeats as yaml.v3 does.
#[derive(Default)]
struct Keys(Vec<(String, Option<Pos>)>);

impl Keys {
    /// False (and a problem) when `key` was already in the mapping.
    fn first(&mut self, key: &Scalar, problems: &mut Vec<Problem>) -> bool {
        if let Some((_, first)) = self.0.iter().find(|(k, _)| *k == key.text) {
            let line = first.map(|p| p.line).unwrap_or(0);
            problems.push(Problem::new(
                key.pos,
                format!(
                    "mapping key {} already defined at line {line}",
                    crate::quote(&key.text)
                ),
            ));
            return false;
        }
        self.0.push((key.text.clone(), key.pos));
        true
    }
}

fn unknown_field(key: &Scalar, ty: &str) -> Problem {
    Problem::new(
        key.pos,
        format!("field {} not found in type rulefmt.{ty}", key.text),
    )
}

fn duration(value: Scalar, problems: &mut Vec<Problem>) -> DurationField {
    // A null is unset, as in Prometheus (its position is its key's);
    // an empty string is an error.
    if value.text.is_empty() {
        if value.null {
            return DurationField::default();
        }
        problems.push(Problem::new(value.pos, "empty duration string".to_string()));
        return DurationField::default();
    }
    match argus_model::duration::parse_duration(&value.text) {
        Ok(d) => DurationField { value: Some(d) },
        Err(e) => {
            problems.push(Problem::new(value.pos, e.to_string()));
            DurationField::default()
        }
    }
}

struct TopSeed<'a> {
    problems: &'a mut Vec<Problem>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Vec<RawGroup>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<RawGroup>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = Vec<RawGroup>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping with `groups`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<RawGroup>, A::Error> {
        let mut keys = Keys::default();
        let mut groups = Vec::new();
        while let Some(key) = map.next_key_seed(ScalarSeed)? {
            if !keys.first(&key, self.problems) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match key.text.as_str() {
                "groups" => {
                    groups = map.next_value_seed(SeqSeed::<Groups>::new(&mut *self.problems))?;
                }
                _ => {
                    self.problems.push(unknown_field(&key, "RuleGroups"));
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(groups)
    }
}

/// A sequence (or null) of the elements `K` reads.
struct SeqSeed<'a, K> {
    problems: &'a mut Vec<Problem>,
    kind: std::marker::PhantomData<K>,
}

impl<'a, K> SeqSeed<'a, K> {
    fn new(problems: &'a mut Vec<Problem>) -> Self {
        SeqSeed {
            problems,
            kind: std::marker::PhantomData,
        }
    }
}

/// How one element of a sequence is read.
trait Element {
    type Out;
    fn read<'de, A: SeqAccess<'de>>(
        problems: &mut Vec<Problem>,
        seq: &mut A,
    ) -> Result<Option<Self::Out>, A::Error>;
}

impl<'de, K: Element> DeserializeSeed<'de> for SeqSeed<'_, K> {
    type Value = Vec<K::Out>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, K: Element> Visitor<'de> for SeqSeed<'_, K> {
    type Value = Vec<K::Out>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = K::read(self.problems, &mut seq)? {
            items.push(item);
        }
        Ok(items)
    }
}

/// Reads a fixed set of fields from a mapping: `field` handles one key
/// and returns false for an unknown one.
macro_rules! struct_seed {
    ($seed:ident, $kind:ident, $out:ty, $ty_name:literal, |$s:ident, $map:ident, $key:ident, $out_var:ident| $body:block) => {
        struct $seed<'a> {
            problems: &'a mut Vec<Problem>,
        }

        /// Marks a sequence of these mappings.
        struct $kind;

        impl Element for $kind {
            type Out = $out;
            fn read<'de, A: SeqAccess<'de>>(
                problems: &mut Vec<Problem>,
                seq: &mut A,
            ) -> Result<Option<$out>, A::Error> {
                seq.next_element_seed($seed { problems })
            }
        }

        impl<'de> DeserializeSeed<'de> for $seed<'_> {
            type Value = $out;
            fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<$out, D::Error> {
                d.deserialize_map(self)
            }
        }

        impl<'de> Visitor<'de> for $seed<'_> {
            type Value = $out;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(concat!("a mapping (rulefmt.", $ty_name, ")"))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<$out, A::Error> {
                let $s = self;
                let mut $out_var = <$out>::default();
                let mut keys = Keys::default();
                while let Some($key) = $map.next_key_seed(ScalarSeed)? {
                    if $out_var.pos.is_none() {
                        $out_var.pos = $key.pos;
                    }
                    if !keys.first(&$key, $s.problems) {
                        $map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    let known: bool = $body;
                    if !known {
                        $s.problems.push(unknown_field(&$key, $ty_name));
                        $map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok($out_var)
            }
        }
    };
}

struct_seed!(
    GroupSeed,
    Groups,
    RawGroup,
    "RuleGroup",
    |s, map, key, g| {
        match key.text.as_str() {
            "name" => {
                g.name = map.next_value_seed(ScalarSeed)?.or_at(&key);
                true
            }
            "interval" => {
                let v = map.next_value_seed(ScalarSeed)?.or_at(&key);
                g.interval = duration(v, s.problems);
                true
            }
            "query_offset" => {
                let v = map.next_value_seed(ScalarSeed)?.or_at(&key);
                g.query_offset = duration(v, s.problems);
                true
            }
            "limit" => {
                g.limit = map.next_value::<Option<i64>>()?.unwrap_or(0);
                true
            }
            "labels" => {
                g.labels = map.next_value_seed(StringMapSeed {
                    problems: &mut *s.problems,
                })?;
                true
            }
            "rules" => {
                g.rules = map.next_value_seed(SeqSeed::<Rules>::new(&mut *s.problems))?;
                true
            }
            _ => false,
        }
    }
);

struct_seed!(RuleSeed, Rules, RawRule, "Rule", |s, map, key, r| {
    match key.text.as_str() {
        "record" => {
            r.record = Some(map.next_value_seed(ScalarSeed)?.or_at(&key));
            true
        }
        "alert" => {
            r.alert = Some(map.next_value_seed(ScalarSeed)?.or_at(&key));
            true
        }
        "expr" => {
            r.expr = Some(map.next_value_seed(ScalarSeed)?.or_at(&key));
            true
        }
        "for" => {
            let v = map.next_value_seed(ScalarSeed)?.or_at(&key);
            r.for_ = duration(v, s.problems);
            true
        }
        "keep_firing_for" => {
            let v = map.next_value_seed(ScalarSeed)?.or_at(&key);
            r.keep_firing_for = duration(v, s.problems);
            true
        }
        "labels" => {
            r.labels = map.next_value_seed(StringMapSeed {
                problems: &mut *s.problems,
            })?;
            true
        }
        "annotations" => {
            r.annotations = map.next_value_seed(StringMapSeed {
                problems: &mut *s.problems,
            })?;
            true
        }
        _ => false,
    }
});

/// `labels` and `annotations`: a mapping (or null) of strings, in file
/// order.
struct StringMapSeed<'a> {
    problems: &'a mut Vec<Problem>,
}

impl<'de> DeserializeSeed<'de> for StringMapSeed<'_> {
    type Value = Vec<(Scalar, Scalar)>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for StringMapSeed<'_> {
    type Value = Vec<(Scalar, Scalar)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = Keys::default();
        let mut out = Vec::new();
        while let Some(key) = map.next_key_seed(ScalarSeed)? {
            if !keys.first(&key, self.problems) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value_seed(ScalarSeed)?.or_at(&key);
            out.push((key, value));
        }
        Ok(out)
    }
}

impl Problem {
    pub(crate) fn new(pos: Option<Pos>, message: String) -> Problem {
        Problem {
            pos,
            alt_pos: None,
            context: Context::None,
            message,
        }
    }
}
