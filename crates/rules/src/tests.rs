use super::*;

fn errors_with(text: &str, names: NameValidation) -> Vec<String> {
    match parse_rule_file_with("rules.yml", text.as_bytes(), names) {
        Ok(f) => panic!("expected errors, got {f:?}"),
        Err(e) => {
            assert_eq!(e.file, "rules.yml");
            assert!(!e.errors.is_empty());
            e.errors.iter().map(|e| e.to_string()).collect()
        }
    }
}

fn errors(text: &str) -> Vec<String> {
    errors_with(text, NameValidation::Utf8)
}

fn ok(text: &str) -> RuleFile {
    parse_rule_file("rules.yml", text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

const GOOD: &str = r#"# Recording and alerting rules.
groups:
  - name: node
    interval: 30s
    query_offset: 1m
    limit: 10
    labels:
      team: infra
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          source: recorded
      - alert: InstanceDown
        expr: |
          up == 0
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: "{{ if gt $value 1.0 }}page{{ else }}ticket{{ end }}"
        annotations:
          summary: 'Instance {{ $labels.instance }} down'
          description: >-
            {{ $labels.job }} has been down for more than 5 minutes
            ({{ $value | humanize }}; {{ printf "%.2f" $value }}).
          runbook: "{{ template \"x\" . }}{{/* a comment */}}{{- range $i, $e := .Alerts -}}{{ $e }}{{ end }}"
  - name: empty
  - name: "utf8 group é"
    rules:
      - record: "metric.with.dots"
        expr: vector(1)
"#;

#[test]
fn good_file_is_typed() {
    let f = ok(GOOD);
    assert_eq!(f.path, "rules.yml");
    assert!(!f.extra_documents);
    assert_eq!(f.groups.len(), 3);
    let g = &f.groups[0];
    assert_eq!(g.name, "node");
    assert_eq!(g.interval, Some(Duration::from_secs(30)));
    assert_eq!(g.query_offset, Some(Duration::from_secs(60)));
    assert_eq!(g.limit, 10);
    assert_eq!(g.labels.get("team").map(String::as_str), Some("infra"));
    assert_eq!(g.rules.len(), 2);
    assert_eq!(
        g.rules[0].kind,
        RuleKind::Recording {
            record: "job:up:sum".into()
        }
    );
    assert_eq!(g.rules[0].expr, "sum by (job) (up)");
    assert_eq!(g.rules[0].labels.len(), 1);
    match &g.rules[1].kind {
        RuleKind::Alerting {
            alert,
            for_,
            keep_firing_for,
            annotations,
        } => {
            assert_eq!(alert, "InstanceDown");
            assert_eq!(*for_, Duration::from_secs(300));
            assert_eq!(*keep_firing_for, Duration::from_secs(60));
            assert_eq!(annotations.len(), 3);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.rules[1].expr, "up == 0\n");
    let empty = &f.groups[1];
    assert_eq!(
        (empty.interval, empty.query_offset, empty.limit),
        (None, None, 0)
    );
    assert!(empty.rules.is_empty());
    assert_eq!(f.groups[2].name, "utf8 group é");
}

#[test]
fn empty_files_have_no_groups() {
    for text in [
        "",
        "# only a comment\n",
        "groups:\n",
        "groups: []\n",
        "---\n",
    ] {
        assert!(ok(text).groups.is_empty(), "{text:?}");
    }
    // `interval: 0` is the global interval, as unset.
    let f = ok("groups:\n  - name: g\n    interval: 0\n    query_offset: 0s\n");
    assert_eq!(f.groups[0].interval, None);
    assert_eq!(f.groups[0].query_offset, Some(Duration::ZERO));
}

#[test]
fn unknown_fields_are_all_reported_with_positions() {
    let text = "groups:
  - name: g
    intervall: 1m
    rules:
      - record: a
        expr: up
        annotation: x
foo: 1
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 3:5: field intervall not found in type rulefmt.RuleGroup",
            "rules.yml: 7:9: field annotation not found in type rulefmt.Rule",
            "rules.yml: 8:1: field foo not found in type rulefmt.RuleGroups",
        ]
    );
}

#[test]
fn repeated_keys_are_errors() {
    let text = "groups:
  - name: g
    rules:
      - record: a
        expr: up
        expr: down
        labels: {x: '1', x: '2'}
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 6:9: mapping key \"expr\" already defined at line 5",
            "rules.yml: 7:26: mapping key \"x\" already defined at line 7",
        ]
    );
}

#[test]
fn duplicate_and_empty_group_names() {
    let text = "groups:
  - name: a
  - name: b
  - name: a
  - name: ''
  - interval: 1m
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 4:5: groupname: \"a\" is repeated in the same file",
            "rules.yml: 5:5: Groupname must not be empty",
            "rules.yml: 6:5: Groupname must not be empty",
            "rules.yml: 6:5: groupname: \"\" is repeated in the same file",
        ]
    );
    // The same name in two files is fine (the key is file and name).
    ok("groups: [{name: a}]");
}

#[test]
fn record_and_alert_exactly_one() {
    let text = "groups:
  - name: g
    rules:
      - record: r
        alert: A
        expr: up
      - expr: up
      - record: ''
        alert: ''
        expr: up
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 4:17: 5:16: group \"g\", rule 1, \"A\": only one of 'record' and 'alert' must be set",
            "rules.yml: 7:9: group \"g\", rule 2, \"\": one of 'record' or 'alert' must be set",
            "rules.yml: 8:17: 9:16: group \"g\", rule 3, \"\": one of 'record' or 'alert' must be set",
        ]
    );
}

#[test]
fn bad_expression_names_file_group_rule_and_position() {
    let text = "groups:
  - name: g
    rules:
      - record: ok
        expr: up
      - alert: HighLoad
        expr: sum(rate(x[5m])
";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "rules.yml: 7:15: group \"g\", rule 2, \"HighLoad\": could not parse expression: 1:"
        ),
        "{errs:?}"
    );
    assert!(errs[0].contains("parse error"), "{errs:?}");

    // A block scalar: the position is the indicator's.
    let text = "groups:
  - name: g
    rules:
      - record: r
        expr: |
          foo +
";
    let errs = errors(text);
    assert!(
        errs[0].starts_with(
            "rules.yml: 5:15: group \"g\", rule 1, \"r\": could not parse expression:"
        ),
        "{errs:?}"
    );
    // Past the engine's nesting limit, as for a query.
    let deep = format!(
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: '{}1{}'\n",
        "(".repeat(3000),
        ")".repeat(3000)
    );
    let errs = errors(&deep);
    assert!(
        errs[0].starts_with(
            "rules.yml: 5:15: group \"g\", rule 1, \"r\": could not parse expression:"
        ),
        "{errs:?}"
    );
}

#[test]
fn missing_expression() {
    let text = "groups:
  - name: g
    rules:
      - record: r
      - record: s
        expr:
      - record: t
        expr: ''
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 4:9: group \"g\", rule 1, \"r\": field 'expr' must be set in rule",
            "rules.yml: 6:9: group \"g\", rule 2, \"s\": field 'expr' must be set in rule",
            "rules.yml: 8:15: group \"g\", rule 3, \"t\": field 'expr' must be set in rule",
        ]
    );
}

#[test]
fn recording_rule_fields_and_names() {
    let text = "groups:
  - name: g
    rules:
      - record: 'job:x{a=\"b\"}'
        expr: up
        for: 1m
        keep_firing_for: 2m
        annotations:
          a: b
      - record: r
        expr: up
        for: 0s
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 4:17: group \"g\", rule 1, \"job:x{a=\\\"b\\\"}\": invalid field 'annotations' in recording rule",
            "rules.yml: 4:17: group \"g\", rule 1, \"job:x{a=\\\"b\\\"}\": invalid field 'for' in recording rule",
            "rules.yml: 4:17: group \"g\", rule 1, \"job:x{a=\\\"b\\\"}\": invalid field 'keep_firing_for' in recording rule",
            "rules.yml: 4:17: group \"g\", rule 1, \"job:x{a=\\\"b\\\"}\": braces present in the recording rule name; should it be in expr?: job:x{a=\"b\"}",
        ]
    );
    // Legacy names: only [a-zA-Z_:][a-zA-Z0-9_:]*.
    let text = "groups:
  - name: g
    rules:
      - record: my.metric
        expr: up
      - record: 1abc
        expr: up
      - record: ok:name_1
        expr: up
";
    assert_eq!(
        errors_with(text, NameValidation::Legacy),
        [
            "rules.yml: 4:17: group \"g\", rule 1, \"my.metric\": invalid recording rule name: my.metric",
            "rules.yml: 6:17: group \"g\", rule 2, \"1abc\": invalid recording rule name: 1abc",
        ]
    );
    assert!(parse_rule_file("rules.yml", text.as_bytes()).is_ok());
}

#[test]
fn label_and_annotation_names() {
    let text = "groups:
  - name: g
    labels:
      __name__: x
      ok: y
    rules:
      - alert: A
        expr: up
        labels:
          __name__: x
          'bad-name': y
        annotations:
          'bad-name': z
          __name__: ok
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 4:7: group \"g\": invalid label name: __name__",
            "rules.yml: 10:11: group \"g\", rule 1, \"A\": invalid label name: __name__",
        ]
    );
    assert_eq!(
        errors_with(text, NameValidation::Legacy),
        [
            "rules.yml: 4:7: group \"g\": invalid label name: __name__",
            "rules.yml: 10:11: group \"g\", rule 1, \"A\": invalid label name: __name__",
            "rules.yml: 11:11: group \"g\", rule 1, \"A\": invalid label name: bad-name",
            "rules.yml: 13:11: group \"g\", rule 1, \"A\": invalid annotation name: bad-name",
        ]
    );
}

#[test]
fn alert_templates_are_checked() {
    let bad = [
        ("'{{ .Labels.x'", "unclosed action"),
        (
            "'{{ humanise $value }}'",
            "function \"humanise\" not defined",
        ),
        ("'{{ $lables.x }}'", "undefined variable \"$lables\""),
        ("'{{ if $value }}x'", "unexpected EOF"),
        ("'x{{ end }}'", "unexpected {{end}}"),
        ("'{{ else }}'", "unexpected {{else}}"),
        ("'{{}}'", "missing value for command"),
        ("'{{ \"abc }}'", "unterminated quoted string"),
        ("'{{ (len $labels }}'", "unclosed left paren"),
        ("'{{ len $labels) }}'", "unexpected right paren"),
        ("'{{/* never closed }}'", "unclosed comment"),
        ("'{{ break }}'", "{{break}} outside {{range}}"),
        ("'{{ if }}{{ end }}'", "missing value for if"),
    ];
    for (value, want) in bad {
        let text = format!(
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          summary: {value}\n"
        );
        let errs = errors(&text);
        assert_eq!(
            errs,
            [format!(
                "rules.yml: 7:20: group \"g\", rule 1, \"A\": annotation \"summary\": template: __alert_A:1: {want}"
            )],
            "{value}"
        );
    }
    // The line is the template's own.
    let text = "groups:
  - name: g
    rules:
      - alert: A
        expr: up
        labels:
          severity: |
            first line
            {{ nope }}
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 7:21: group \"g\", rule 1, \"A\": label \"severity\": template: __alert_A:2: function \"nope\" not defined"
        ]
    );
    // Recording rules' labels are not templates.
    ok(
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        labels:\n          x: '{{ nope'\n",
    );
    // Variables declared in a block go out of scope at its end.
    let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          a: '{{ with $x := 1 }}{{ $x }}{{ end }}{{ $y := 2 }}{{ $y }}{{ $y = 3 }}'\n          b: '{{ with $x := 1 }}{{ end }}{{ $x }}'\n";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 8:14: group \"g\", rule 1, \"A\": annotation \"b\": template: __alert_A:1: undefined variable \"$x\""
        ]
    );
}

#[test]
fn durations_are_checked() {
    let text = "groups:
  - name: g
    interval: 1x
    query_offset: ''
    rules:
      - alert: A
        expr: up
        for: 5
        keep_firing_for:
";
    assert_eq!(
        errors(text),
        [
            "rules.yml: 3:15: not a valid duration string: \"1x\"",
            "rules.yml: 4:19: empty duration string",
            "rules.yml: 8:14: not a valid duration string: \"5\"",
        ]
    );
}

#[test]
fn yaml_errors_have_positions() {
    // Syntax.
    let errs = errors("groups:\n  - name: g\n    rules: [\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("rules.yml: 4:1: "), "{errs:?}");
    // A type error stops decoding; earlier field errors are kept.
    let text = "groups:
  - name: g
    bogus: 1
    rules:
      - record: r
        expr: up
        labels: [a, b]
";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(
        errs[0],
        "rules.yml: 3:5: field bogus not found in type rulefmt.RuleGroup"
    );
    assert!(
        errs[1].starts_with("rules.yml: 7:17: ") && errs[1].contains("invalid type: sequence"),
        "{errs:?}"
    );
    let errs = errors("groups:\n  - name: g\n    limit: many\n");
    assert!(
        errs[0].starts_with("rules.yml: 3:12: ") && errs[0].contains("invalid type"),
        "{errs:?}"
    );
    let errs = errors("- a\n- b\n");
    assert!(errs[0].contains("invalid type: sequence"), "{errs:?}");
    let errs = errors_with_bytes(b"groups: \xff\n");
    assert!(errs[0].contains("invalid UTF-8"), "{errs:?}");
}

fn errors_with_bytes(bytes: &[u8]) -> Vec<String> {
    match parse_rule_file("rules.yml", bytes) {
        Ok(f) => panic!("{f:?}"),
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn deep_yaml_is_refused_before_parsing() {
    let deep = format!("groups: {}", "[".repeat(100_000));
    let start = std::time::Instant::now();
    let errs = errors(&deep);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("rules.yml: 1:1: nesting deeper than"),
        "{errs:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    let mut nested = String::from("groups:\n");
    for i in 0..300 {
        nested.push_str(&format!("{}- \n", " ".repeat(i * 2 + 2)));
    }
    assert!(errors(&nested)[0].contains("nesting deeper than"));
}

#[test]
fn flow_style_positions() {
    let text = "groups: [{name: g, rules: [{record: r, expr: 'sum('}]}]\n";
    let errs = errors(text);
    assert!(
        errs[0].starts_with(
            "rules.yml: 1:46: group \"g\", rule 1, \"r\": could not parse expression:"
        ),
        "{errs:?}"
    );
}

#[test]
fn aliases_resolve() {
    let text = "groups:
  - name: g
    rules:
      - record: r
        expr: &e up
        labels: &l {a: b}
      - record: s
        expr: *e
        labels: *l
";
    let f = ok(text);
    assert_eq!(f.groups[0].rules[1].expr, "up");
    assert_eq!(f.groups[0].rules[1].labels.len(), 1);
}

#[test]
fn scalars_are_read_as_written() {
    let text = "groups:
  - name: 1.50
    rules:
      - record: r
        expr: 010
        labels: {n: 0x10, t: true}
";
    let f = ok(text);
    let g = &f.groups[0];
    assert_eq!(g.name, "1.50");
    assert_eq!(g.rules[0].expr, "010");
    assert_eq!(g.rules[0].labels["n"], "0x10");
    assert_eq!(g.rules[0].labels["t"], "true");
}

#[test]
fn extra_documents_are_flagged() {
    let f = ok("groups: [{name: a}]\n---\ngroups: [{name: b}]\n");
    assert!(f.extra_documents);
    assert_eq!(f.groups.len(), 1);
}

#[test]
fn errors_are_capped() {
    let mut text = String::from("groups:\n  - name: g\n    rules:\n");
    for i in 0..(MAX_ERRORS * 2) {
        text.push_str(&format!("      - record: r{i}\n        expr: 'sum('\n"));
    }
    let errs = errors(&text);
    assert_eq!(errs.len(), MAX_ERRORS + 1);
    assert!(errs[MAX_ERRORS].contains("too many errors"), "{errs:?}");
}

mod load {
    use super::*;

    fn patterns(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn globs_resolve_against_the_base_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
        std::fs::write(dir.path().join("rules/b.yml"), "groups: [{name: b}]\n").expect("write");
        std::fs::write(dir.path().join("rules/a.yml"), "groups: [{name: a}]\n").expect("write");
        std::fs::write(dir.path().join("rules/.hidden.yml"), "groups: []\n").expect("write");
        std::fs::write(dir.path().join("rules/c.txt"), "not: [yaml").expect("write");
        let files = load_rule_files(
            &patterns(&["rules/*.yml", "rules/a.yml", "missing/*.yml", "nothing.yml"]),
            dir.path(),
        )
        .expect("load");
        let names: Vec<_> = files
            .iter()
            .map(|f| {
                Path::new(&f.path)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        // Sorted per pattern, the leading dot matched as by Go's Glob, and
        // a.yml once.
        assert_eq!(names, [".hidden.yml", "a.yml", "b.yml"]);
        // An absolute pattern ignores the base dir.
        let abs = dir.path().join("rules/a.yml").display().to_string();
        let files = load_rule_files(&[abs], Path::new("/nonexistent")).expect("load");
        assert_eq!(files.len(), 1);
        // Matching nothing at all is fine.
        assert!(
            load_rule_files(&patterns(&["*.rules"]), dir.path())
                .expect("load")
                .is_empty()
        );
        assert!(load_rule_files(&[], dir.path()).expect("load").is_empty());
    }

    #[test]
    fn every_failing_file_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad_expr =
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: 'sum('\n";
        std::fs::write(dir.path().join("1.yml"), bad_expr).expect("write");
        std::fs::write(dir.path().join("2.yml"), "groups: [{name: ok}]\n").expect("write");
        std::fs::write(dir.path().join("3.yml"), "groups: [{name: x}, {name: x}]\n")
            .expect("write");
        std::fs::create_dir(dir.path().join("4.yml")).expect("mkdir");
        let err = load_rule_files(&patterns(&["*.yml"]), dir.path()).expect_err("must fail");
        let RuleError::Files(failures) = &err else {
            panic!("{err}");
        };
        assert_eq!(failures.len(), 3, "{err}");
        assert_eq!(failures[0].pattern, "*.yml");
        let text = err.to_string();
        let one = dir.path().join("1.yml").display().to_string();
        assert!(
            text.starts_with(&format!(
                "parse rules from file \"{one}\" (pattern: \"*.yml\"): {one}: 5:15: group \"g\", rule 1, \"r\": could not parse expression: "
            )),
            "{text}"
        );
        assert!(
            text.contains("3.yml: 1:22: groupname: \"x\" is repeated in the same file"),
            "{text}"
        );
        assert!(text.contains("4.yml"), "{text}");
        assert!(!text.contains("2.yml"), "{text}");
    }

    #[test]
    fn bad_patterns_are_errors() {
        let err = load_rule_files(&patterns(&["rules/[.yml"]), Path::new(".")).expect_err("bad");
        assert!(
            matches!(&err, RuleError::Pattern { pattern, .. } if pattern == "rules/[.yml"),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("failed retrieving rule files for \"rules/[.yml\": ")
        );
    }

    #[test]
    fn oversized_files_are_refused_by_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.yml");
        let f = std::fs::File::create(&path).expect("create");
        f.set_len(argus_config::yaml_bounds::MAX_YAML_BYTES + 1)
            .expect("set_len");
        let err = load_rule_files(&patterns(&["big.yml"]), dir.path()).expect_err("too big");
        assert!(err.to_string().contains("over the limit"), "{err}");
    }
}
