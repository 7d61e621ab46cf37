//! Scoring profiles: any bytes parse to a profile or a typed error; a parsed
//! profile compiles and scores without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = scoregate::profile::Profile::parse("fuzz.json", data) {
        let features: Vec<String> = p.feature_columns();
        let compiled = p.compile(&features, &["signing-surface".to_string()]);
        let _ = compiled.score(|i| i as f64 - 1.5, 0, 0);
    }
});
