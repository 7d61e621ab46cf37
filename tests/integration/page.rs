//! The evidence page in a real browser: Debian's headless Chromium renders
//! the sample page without console errors, takes a screenshot, and the
//! rendered document holds the digest, the protected verdicts in words and
//! their intervals; the same for a sweep's comparison page.
//!
//! Needs `chromium` (or `SCOREGATE_CHROMIUM` naming one). Without it the test
//! says why it skipped; with `SCOREGATE_REQUIRE_CHROMIUM=1` (set by
//! `.ci/run`) its absence fails it.

use std::path::Path;
use std::process::{Command, Output};

fn chromium() -> Option<String> {
    let bin = std::env::var("SCOREGATE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    if Command::new(&bin).arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some(bin);
    }
    if std::env::var("SCOREGATE_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("SCOREGATE_REQUIRE_CHROMIUM=1 but {bin} does not run");
    }
    eprintln!("SKIPPED page test: {bin} does not run (install Debian's chromium or set SCOREGATE_CHROMIUM)");
    None
}

/// Headless Chromium with the flags a closed sandbox needs, plus `args`, on `page`.
fn headless(bin: &str, profile: &Path, page: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

/// The text a reader sees: tags dropped, entities of the page decoded, spaces collapsed.
fn visible_text(dom: &str) -> String {
    let body = &dom[dom.find("<body").unwrap_or(0)..];
    let mut text = String::new();
    let mut in_tag = false;
    for ch in body.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_sample_page_renders_in_headless_chromium_with_digest_verdicts_and_intervals() {
    let Some(bin) = chromium() else { return };
    let (pipeline, out) = crate::replay::sample_outcome();
    let html = crate::replay::page_of(&pipeline, &out);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("packet.html");
    std::fs::write(&page, &html).unwrap();

    let shot = dir.path().join("page.png");
    let o = headless(
        &bin,
        &dir.path().join("p1"),
        &page,
        &["--window-size=1200,1600", &format!("--screenshot={}", shot.display())],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height as rendered.
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1200, 1600));
    assert!(
        png.len() > 50_000,
        "a blank page compresses to a few KB; this one is {} bytes",
        png.len()
    );

    let o = headless(&bin, &dir.path().join("p2"), &page, &["--dump-dom"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "the page logs errors: {console:?}");
    let text = visible_text(&String::from_utf8_lossy(&o.stdout));
    for needle in [
        out.digest.as_str(),
        "Too old to approve after 2026-11-06 21:36 UTC",
        "high-blast-radius improved (within noise)",
        "payments-ledger improved (significant)",
        "signing-surface improved (significant)",
        "169 → 152 -17 [-37.9, +3.9]",
        "[-334.6, -259.4]",
        "blast_radius changed weight 0.25, cap 20 weight 6, cap 400, log1p",
    ] {
        assert!(text.contains(needle), "rendered text lacks {needle:?}:\n{text}");
    }
}

#[test]
fn the_sweep_comparison_page_renders_in_headless_chromium_with_every_candidate_in_order() {
    let Some(bin) = chromium() else { return };
    let (dir, pipeline) = crate::support::sample_copy();
    let candidates = crate::sweep::three_candidates(dir.path());
    let mut args = crate::sweep::sweep_args(&pipeline, &candidates, "s/packet.json");
    args.extend(["--json", "--no-store"]);
    let o = Command::new(env!("CARGO_BIN_EXE_scoregate"))
        .args(&args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let page = dir.path().join(report["compare"].as_str().unwrap());

    let o = headless(&bin, &dir.path().join("p1"), &page, &["--dump-dom"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.lines().any(|l| l.contains("CONSOLE") || l.contains("Uncaught")), "{stderr}");
    let text = visible_text(&String::from_utf8_lossy(&o.stdout));
    // The sample candidate's own figures, as its packet page shows them.
    for needle in [
        "3 candidates against live",
        "2 payments-review-2026-11",
        "1 fewer-columns",
        "1032 → 655",
        "152 -17 [-37.9, +3.9]",
        "regressed (significant)",
    ] {
        assert!(text.contains(needle), "rendered text lacks {needle:?}:\n{text}");
    }
    // Candidates appear in the comparison's order in the summary table.
    let names: Vec<&str> = report["comparison"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["profile_name"].as_str().unwrap())
        .collect();
    let at: Vec<usize> = names.iter().map(|n| text.find(n).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{names:?} at {at:?}");
}
