//! Regression history: any bytes as a parquet object decode and validate to
//! a history or a typed error (the corrupt-object error for bytes that make
//! the parquet reader itself fail), never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scoregate::replay::history::prune::LiveWindow;
use scoregate::replay::history::{History, HistoryQuery};

fuzz_target!(|data: &[u8]| {
    // libfuzzer aborts on any panic; panics the library catches at its
    // parquet boundary are errors, not crashes, so keep those quiet.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(scoregate::guard::install_quiet_hook);
    let query = HistoryQuery {
        cohort: "payments-platform".into(),
        features: vec!["blast_radius".into(), "canary_drift".into()],
        nonnegative: vec!["blast_radius".into()],
        live_columns: true,
        outcomes_optional: data.first().is_some_and(|b| b & 1 == 1),
        // Half the inputs also go through the live-window pruning of the footer's statistics.
        live_window: data.first().is_some_and(|b| b & 2 == 2).then(|| LiveWindow {
            revision: "sha256:00".into(),
            queued_from_us: 1_700_000_000_000_000,
            queued_to_us: 1_800_000_000_000_000,
        }),
    };
    let objects = [("history/fuzz/part-0.parquet".to_string(), bytes::Bytes::copy_from_slice(data))];
    let _ = History::from_objects(&objects, "history/fuzz", &query);
});
