//! `allowed_signers` files: any text parses to signers or a typed error; a
//! parsed file then checks a fixed signature without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scoregate::approval::signers::{tally, AllowedSigners, SignatureFile};

const SIG: &str = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAg\n-----END SSH SIGNATURE-----\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(allowed) = AllowedSigners::parse("fuzz", text) {
        let sig = SignatureFile {
            name: "m.toml.sig".into(),
            bytes: SIG.as_bytes().to_vec(),
        };
        let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let _ = tally(b"manifest", &[sig], &["a@example.com".into()], &allowed, now);
    }
});
