//! What every subcommand shares: the global flags, opening a pipeline and
//! its store, the cycle's `now`, progress bars on a terminal, JSON output.

use clap::Args;
use scoregate::pipeline::Pipeline;
use scoregate::store::Store;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Machine-readable JSON on stdout instead of human tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Worker threads for the parallel core (default: one per core).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Load a pipeline and open its store.
pub fn open_pipeline(path: &std::path::Path) -> Result<(Pipeline, Store), scoregate::Error> {
    let pipeline = Pipeline::load(path)?;
    let store = Store::open(&pipeline.store)?;
    Ok((pipeline, store))
}

/// A progress bar on a terminal, none in CI or when piped.
pub fn progress(message: &'static str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message(message);
    Some(pb)
}

/// The cycle's `now`: `--now` (RFC 3339) when given, else the wall clock, read once.
pub fn parse_now(now: Option<&str>) -> Result<chrono::DateTime<chrono::Utc>, scoregate::Error> {
    match now {
        None => Ok(chrono::Utc::now()),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&chrono::Utc))
            .map_err(|e| scoregate::Error::Input(format!("--now {s}: expected an RFC 3339 time such as 2026-11-20T12:00:00Z ({e})"))),
    }
}

/// Print a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Set once stdout is gone: later output is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Write one line of command output. When the reader has gone (a broken
/// pipe) the rest is dropped quietly; any other write error is said once on
/// stderr. Either way the command ends with its own exit code.
pub fn emit(args: std::fmt::Arguments) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("scoregate: cannot write to stdout: {e}");
        }
    }
}
