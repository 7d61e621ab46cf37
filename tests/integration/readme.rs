//! The README's walkthrough, run verbatim: a person copying it must get
//! through activate → rollback → a clean audit, then activate → renew →
//! promote → outcome report → lifecycle statistics.

use crate::support::repo;
use std::process::Command;

#[test]
fn readme_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("<!-- walkthrough:start -->").expect("walkthrough start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("walkthrough end marker");
    let block = &readme[start..end];
    let script = block.split("```sh").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    // The walkthrough puts target/release on PATH; the test build's binary stands in for it.
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_scoregate"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script.replace("export PATH=\"$PWD/target/release:$PATH\"", ""))
        .current_dir(repo())
        .env("PATH", path)
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "walkthrough failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "valid: the cycle would activate it now",
        "activate (seq 1)",
        "rollback (seq 2)",
        "BREACHED",
        "chain intact",
        "renew (seq 4)",
        "promote (seq 5)",
        "(trusted)",
        "ended by promote at commit 5",
        "60 live items in 3 windows, 300 reference items in 8 windows: enough to judge",
        "promoted                                  1   50.0%",
    ] {
        assert!(stdout.contains(needle), "walkthrough output lacks {needle:?}:\n{stdout}");
    }
}
