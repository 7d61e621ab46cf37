//! Approval manifests: any bytes parse to a manifest or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scoregate::approval::manifest::Manifest::parse("fuzz.toml", data);
});
