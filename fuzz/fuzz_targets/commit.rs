//! Commit objects: any bytes under any name go through the chain walk and
//! the transition check without panicking or unbounded work.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scoregate::release::log::chain::verify_chain;
use scoregate::release::log::{Commit, StoredCommit};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a name, hostile ones included.
    let names = [
        "00000000000000000001.json",
        "18446744073709551615.json",
        "00000000001000000000.json",
        "x.json",
    ];
    let Some((&pick, body)) = data.split_first() else { return };
    let name = names[pick as usize % names.len()];
    let bytes = bytes::Bytes::copy_from_slice(body);
    let commit = serde_json::from_slice::<Commit>(body).map_err(|e| e.to_string());
    let stored = vec![StoredCommit {
        path: format!("log/c/{name}"),
        bytes,
        commit,
    }];
    let report = verify_chain("c", &stored, chrono::Duration::minutes(5));
    assert!(
        report.problems.len() <= 8,
        "problems stay few for one object: {}",
        report.problems.len()
    );
});
