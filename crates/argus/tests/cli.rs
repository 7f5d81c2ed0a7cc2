//! The command line itself: subcommands exist, bad flags are clear errors.
//! (Having an integration test here also makes `cargo test --workspace`
//! build the `argus` binary that the end-to-end tests in `tests/` run.)

use std::process::Command;

fn argus(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_argus"))
        .args(args)
        .output()
        .expect("run argus")
}

#[test]
fn help_lists_the_tools() {
    let out = argus(&["tools", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("import") && text.contains("bucket"), "{text}");
    assert!(argus(&["--version"]).status.success());
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let out = argus(&[
        "tools",
        "import",
        "openmetrics",
        "--block-duration",
        "2x",
        "in",
        "out",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--block-duration"));

    let out = argus(&["tools", "bucket", "inspect"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--storage.tsdb.path"));

    let dir = tempfile::tempdir().expect("tempdir");
    let out = argus(&[
        "tools",
        "import",
        "openmetrics",
        "/nonexistent/in.om",
        dir.path().to_str().unwrap_or("."),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/in.om"));
}

#[test]
fn unknown_subcommand_is_refused() {
    let out = argus(&["nope"]);
    assert!(!out.status.success());
}
