//! Pipeline files: any text parses and validates to a pipeline or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = scoregate::pipeline::Pipeline::from_str(std::path::Path::new("/fuzz/pipeline.toml"), text);
});
