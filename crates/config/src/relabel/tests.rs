use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn rule(action: RelabelAction) -> RelabelConfig {
    RelabelConfig {
        action,
        ..RelabelConfig::default()
    }
}

fn with(
    mut cfg: RelabelConfig,
    sources: &[&str],
    regex: &str,
    target: &str,
    replacement: &str,
) -> RelabelConfig {
    cfg.source_labels = sources.iter().map(|s| s.to_string()).collect();
    cfg.regex = Regex::new(regex).unwrap_or_else(|e| panic!("{e}"));
    cfg.target_label = target.to_string();
    cfg.replacement = replacement.to_string();
    cfg
}

fn replace(sources: &[&str], regex: &str, target: &str, replacement: &str) -> RelabelConfig {
    with(
        rule(RelabelAction::Replace),
        sources,
        regex,
        target,
        replacement,
    )
}

fn run(input: &[(&str, &str)], rules: &[RelabelConfig]) -> Option<Vec<(String, String)>> {
    relabel(&labels(input), rules).map(|l| {
        l.iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect()
    })
}

fn pairs(p: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    Some(
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn replace_with_group_references() {
    let input = [("a", "foo"), ("b", "bar"), ("c", "baz")];
    let r = replace(&["a"], "f(.*)", "d", "ch${1}-ch${1}");
    assert_eq!(
        run(&input, &[r]),
        pairs(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")])
    );
    // Joined sources, then a rule that reads the label the first one wrote.
    let rules = [
        replace(&["a", "b"], "f(.*);(.*)r", "a", "b${1}${2}m"),
        replace(&["c", "a"], "(b).*b(.*)ba(.*)", "d", "$1$2$2$3"),
    ];
    assert_eq!(
        run(&input, &rules),
        pairs(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")])
    );
    // Anchored: a partial match is no match, so nothing changes.
    let r = replace(&["a"], "oo", "d", "x");
    assert_eq!(run(&[("a", "foo")], &[r]), pairs(&[("a", "foo")]));
    let r = replace(&["a"], ".*(b).*", "d", "$1");
    assert_eq!(
        run(&[("a", "abc")], &[r]),
        pairs(&[("a", "abc"), ("d", "b")])
    );
}

#[test]
fn replace_expands_like_go() {
    let input = [("a", "some-name-value")];
    // `$1x` names group "1x", which does not exist: empty.
    let r = replace(&["a"], "some-([^-]+)-([^,]+)", "b", "$1x");
    assert_eq!(run(&input, &[r]), pairs(&[("a", "some-name-value")]));
    let r = replace(&["a"], "some-([^-]+)-([^,]+)", "b", "${1}x$$");
    assert_eq!(
        run(&input, &[r]),
        pairs(&[("a", "some-name-value"), ("b", "namex$")])
    );
    // Named groups, and a malformed reference kept literally.
    let r = replace(&["a"], "some-(?P<n>[^-]+)-(?<v>.+)", "b", "$n=${v} $ {x");
    assert_eq!(
        run(&input, &[r]),
        pairs(&[("a", "some-name-value"), ("b", "name=value $ {x")])
    );
    // The target label itself can be expanded.
    let r = replace(&["a"], "some-([^-]+)-(.+)", "${1}", "${2}");
    assert_eq!(
        run(&input, &[r]),
        pairs(&[("a", "some-name-value"), ("name", "value")])
    );
    // An expanded target that is not a label name skips the rule.
    let r = replace(&["a"], "some-([^-]+)-(.+)", "${3}", "x");
    assert_eq!(run(&input, &[r]), pairs(&[("a", "some-name-value")]));
    // The default regex matches the empty value of a missing label.
    let r = replace(&["missing"], DEFAULT_REGEX, "c", "static");
    assert_eq!(
        run(&input, &[r]),
        pairs(&[("a", "some-name-value"), ("c", "static")])
    );
}

#[test]
fn replace_with_empty_result_deletes_label() {
    let r = replace(&["a"], "f(.*)", "b", "$2");
    assert_eq!(
        run(&[("a", "foo"), ("b", "x")], &[r]),
        pairs(&[("a", "foo")])
    );
    let r = replace(&[], DEFAULT_REGEX, "a", "");
    assert_eq!(run(&[("a", "foo")], &[r]), pairs(&[]));
}

#[test]
fn keep_and_drop() {
    let drop = with(rule(RelabelAction::Drop), &["a"], ".*o.*", "", "$1");
    assert_eq!(
        run(&[("a", "foo"), ("b", "bar")], std::slice::from_ref(&drop)),
        None
    );
    assert_eq!(run(&[("a", "bar")], &[drop]), pairs(&[("a", "bar")]));
    let keep = with(rule(RelabelAction::Keep), &["a"], "f.*", "", "$1");
    assert_eq!(
        run(&[("a", "foo")], std::slice::from_ref(&keep)),
        pairs(&[("a", "foo")])
    );
    assert_eq!(run(&[("a", "xfoo")], std::slice::from_ref(&keep)), None);
    // A missing label is the empty string.
    assert_eq!(run(&[("b", "x")], &[keep]), None);
    let keep_empty = with(rule(RelabelAction::Keep), &["a"], "", "", "$1");
    assert_eq!(run(&[("b", "x")], &[keep_empty]), pairs(&[("b", "x")]));
    // A drop stops processing: later rules do not run.
    let rules = [
        with(rule(RelabelAction::Drop), &["a"], "foo", "", "$1"),
        replace(&["a"], "(.*)", "z", "never"),
    ];
    assert_eq!(run(&[("a", "foo")], &rules), None);
}

#[test]
fn keepequal_and_dropequal() {
    let keq = with(
        rule(RelabelAction::KeepEqual),
        &["a"],
        DEFAULT_REGEX,
        "b",
        "$1",
    );
    let deq = with(
        rule(RelabelAction::DropEqual),
        &["a"],
        DEFAULT_REGEX,
        "b",
        "$1",
    );
    let same = [("a", "x"), ("b", "x")];
    let differ = [("a", "x"), ("b", "y")];
    assert_eq!(run(&same, std::slice::from_ref(&keq)), pairs(&same));
    assert_eq!(run(&differ, std::slice::from_ref(&keq)), None);
    assert_eq!(run(&same, std::slice::from_ref(&deq)), None);
    assert_eq!(run(&differ, &[deq]), pairs(&differ));
    // Both missing compare equal ("" == "").
    assert_eq!(run(&[("c", "1")], &[keq]), pairs(&[("c", "1")]));
}

#[test]
fn hashmod_matches_prometheus() {
    let mut r = with(
        rule(RelabelAction::HashMod),
        &["c"],
        DEFAULT_REGEX,
        "d",
        "$1",
    );
    r.modulus = 1000;
    // Prometheus's relabel_test.go expects 976 for "baz" modulo 1000.
    assert_eq!(
        run(&[("c", "baz")], &[r.clone()]),
        pairs(&[("c", "baz"), ("d", "976")])
    );
    // md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; last 8 bytes big-endian.
    let want = 0xedef_654f_ccc4_a4d8u64 % 7;
    r.modulus = 7;
    assert_eq!(
        run(&[("c", "foo")], &[r]),
        pairs(&[("c", "foo"), ("d", &want.to_string())])
    );
}

#[test]
fn labelmap() {
    let input = [("a", "foo"), ("b", "bar"), ("c", "baz")];
    let r = with(rule(RelabelAction::LabelMap), &[], "a", "", "foo");
    assert_eq!(
        run(&input, &[r]),
        pairs(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("foo", "foo")])
    );
    let r = with(rule(RelabelAction::LabelMap), &[], "(b.*)", "", "${1}_copy");
    assert_eq!(
        run(&[("b", "1"), ("bb", "2")], &[r]),
        pairs(&[("b", "1"), ("b_copy", "1"), ("bb", "2"), ("bb_copy", "2")])
    );
    let r = with(
        rule(RelabelAction::LabelMap),
        &[],
        "__meta_(my.*)",
        "",
        "$1",
    );
    assert_eq!(
        run(&[("__meta_my_bar", "aaa"), ("__meta_other", "x")], &[r]),
        pairs(&[
            ("__meta_my_bar", "aaa"),
            ("__meta_other", "x"),
            ("my_bar", "aaa")
        ])
    );
}

#[test]
fn labeldrop_and_labelkeep() {
    let input = [("a", "foo"), ("b", "bar"), ("c", "baz")];
    let drop = with(rule(RelabelAction::LabelDrop), &[], "(b|c)", "", "$1");
    assert_eq!(run(&input, &[drop]), pairs(&[("a", "foo")]));
    let keep = with(rule(RelabelAction::LabelKeep), &[], "(b|c)", "", "$1");
    assert_eq!(run(&input, &[keep]), pairs(&[("b", "bar"), ("c", "baz")]));
    let keep_none = with(rule(RelabelAction::LabelKeep), &[], "zzz", "", "$1");
    assert_eq!(run(&input, &[keep_none]), pairs(&[]));
}

#[test]
fn lowercase_and_uppercase() {
    let lower = with(
        rule(RelabelAction::Lowercase),
        &["foo"],
        DEFAULT_REGEX,
        "foo_lower",
        "$1",
    );
    let upper = with(
        rule(RelabelAction::Uppercase),
        &["foo"],
        DEFAULT_REGEX,
        "foo_upper",
        "$1",
    );
    assert_eq!(
        run(&[("foo", "bAr123Foo")], &[lower.clone(), upper.clone()]),
        pairs(&[
            ("foo", "bAr123Foo"),
            ("foo_lower", "bar123foo"),
            ("foo_upper", "BAR123FOO")
        ])
    );
    // Go maps each character to one character.
    assert_eq!(
        run(&[("foo", "ΣΑΣ İ")], &[lower]),
        pairs(&[("foo", "ΣΑΣ İ"), ("foo_lower", "σασ i")])
    );
    assert_eq!(
        run(&[("foo", "straße")], &[upper]),
        pairs(&[("foo", "straße"), ("foo_upper", "STRAßE")])
    );
}

#[test]
fn unchanged_labels_share_the_buffer() {
    let input = labels(&[("__name__", "up"), ("job", "a")]);
    let rules = [
        with(rule(RelabelAction::Keep), &["job"], "a", "", "$1"),
        replace(&["job"], "(.*)", "job", "$1"),
        with(rule(RelabelAction::LabelDrop), &[], "nothing", "", "$1"),
    ];
    let out = relabel(&input, &rules).unwrap_or_else(|| panic!("dropped"));
    assert_eq!(out, input);
    assert_eq!(out.as_bytes().as_ptr(), input.as_bytes().as_ptr());
    assert_eq!(relabel(&input, &[]), Some(input));
}

#[test]
fn actions_and_names() {
    for a in RelabelAction::ALL {
        assert_eq!(RelabelAction::parse(a.as_str()), Some(a));
    }
    assert_eq!(
        RelabelAction::parse("HashMod"),
        Some(RelabelAction::HashMod)
    );
    assert_eq!(RelabelAction::parse("keep_equal"), None);
    assert!(is_valid_label_name("a.b", false));
    assert!(!is_valid_label_name("a.b", true));
    assert!(is_valid_label_name("_a1", true));
    assert!(!is_valid_label_name("1a", true));
    assert!(!is_valid_label_name("", false));
    let e = Regex::new("a(b")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.starts_with("invalid regex \"a(b\": "), "{e}");
    assert!(!e.contains('\n'), "{e}");
}
