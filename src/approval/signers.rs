//! Release managers' SSH signatures: the OpenSSH `allowed_signers` file and
//! detached `sshsig` signatures, verified the way `ssh-keygen -Y verify`
//! verifies them (OpenSSH `sshsig.c`, `check_allowed_keys_line`).
//!
//! No crate parses `allowed_signers`, so the format of `man ssh-keygen`
//! (section ALLOWED SIGNERS) is parsed here: `principals [options] keytype
//! base64 [comment]`, with principal and namespace pattern lists (`*`, `?`,
//! `!negation`) and the options `cert-authority`, `namespaces="…"`,
//! `valid-after="…"` and `valid-before="…"`. Signature cryptography and
//! the sshsig envelope are the `ssh-key` crate's.
//!
//! Secure defaults: a malformed line makes the whole file an error rather
//! than being skipped; `cert-authority` lines are parsed but never match a
//! plain key (scoregate does not accept certificate signatures).

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ssh_key::{HashAlg, PublicKey, SshSig};

/// The SSH signature namespace of approval manifests (SPEC §6).
pub const NAMESPACE: &str = "scoregate-approval";

#[derive(Debug, thiserror::Error)]
pub enum SignersError {
    #[error("allowed signers {file}: cannot read it: {message}")]
    Read { file: String, message: String },
    #[error("allowed signers {file}, line {line}: {message}")]
    Line { file: String, line: usize, message: String },
}

/// One `allowed_signers` line.
#[derive(Clone, Debug)]
pub struct AllowedSigner {
    pub line: usize,
    /// The principals pattern list, as written.
    pub principals: String,
    pub cert_authority: bool,
    pub namespaces: Option<String>,
    /// Unix seconds.
    pub valid_after: Option<i64>,
    pub valid_before: Option<i64>,
    pub key: PublicKey,
}

/// A parsed `allowed_signers` file.
#[derive(Clone, Debug)]
pub struct AllowedSigners {
    pub file: String,
    pub entries: Vec<AllowedSigner>,
}

/// Why a signature does not count for a principal (each is what
/// `ssh-keygen -Y verify` would refuse it for).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum SignatureFault {
    /// Not an armored SSH signature.
    Malformed { message: String },
    /// Made for another namespace than `scoregate-approval`.
    WrongNamespace { namespace: String },
    /// The signature does not verify over these exact bytes.
    BadSignature,
    /// No allowed_signers line has this key.
    UnknownKey { fingerprint: String },
    /// The key is listed, but for none of the manifest's approvers.
    NotAnApprover { fingerprint: String, principals: Vec<String> },
    /// The key's `namespaces=` option excludes `scoregate-approval`.
    NamespaceNotPermitted { fingerprint: String, line: usize },
    /// `valid-after` is later than the verification time.
    NotYetValid {
        fingerprint: String,
        line: usize,
        valid_after: String,
    },
    /// `valid-before` is earlier than the verification time.
    Expired {
        fingerprint: String,
        line: usize,
        valid_before: String,
    },
}

impl std::fmt::Display for SignatureFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureFault::Malformed { message } => write!(f, "not an SSH signature: {message}"),
            SignatureFault::WrongNamespace { namespace } => write!(f, "signed for namespace \"{namespace}\", not \"{NAMESPACE}\""),
            SignatureFault::BadSignature => write!(f, "does not verify over these exact bytes"),
            SignatureFault::UnknownKey { fingerprint } => write!(f, "key {fingerprint} is not in allowed_signers"),
            SignatureFault::NotAnApprover { fingerprint, principals } => {
                write!(
                    f,
                    "key {fingerprint} belongs to {}, none of them in approvers",
                    principals.join(", ")
                )
            }
            SignatureFault::NamespaceNotPermitted { fingerprint, line } => {
                write!(
                    f,
                    "key {fingerprint} is not permitted for namespace \"{NAMESPACE}\" (allowed_signers line {line})"
                )
            }
            SignatureFault::NotYetValid {
                fingerprint,
                line,
                valid_after,
            } => {
                write!(
                    f,
                    "key {fingerprint} is not valid before {valid_after} (allowed_signers line {line})"
                )
            }
            SignatureFault::Expired {
                fingerprint,
                line,
                valid_before,
            } => {
                write!(f, "key {fingerprint} expired at {valid_before} (allowed_signers line {line})")
            }
        }
    }
}

/// OpenSSH `match_pattern`: `*` any run, `?` any one character.
pub fn match_pattern(s: &str, pattern: &str) -> bool {
    fn go(s: &[u8], p: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|k| go(&s[k..], &p[1..])),
            Some(b'?') => !s.is_empty() && go(&s[1..], &p[1..]),
            Some(c) => s.first() == Some(c) && go(&s[1..], &p[1..]),
        }
    }
    go(s.as_bytes(), pattern.as_bytes())
}

/// OpenSSH `match_pattern_list`: any positive match and no negated match.
pub fn match_pattern_list(s: &str, list: &str) -> bool {
    let mut positive = false;
    for sub in list.split(',') {
        let (negated, pat) = match sub.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, sub),
        };
        if match_pattern(s, pat) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// `YYYYMMDD[HHMM[SS]][Z]`: UTC with `Z`, else local time, as OpenSSH reads it.
fn parse_time(s: &str) -> Option<i64> {
    let (digits, utc) = match s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        Some(d) => (d, true),
        None => (s, false),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits[r].parse::<u32>().ok();
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)?;
    let naive: NaiveDateTime = match digits.len() {
        8 => date.and_hms_opt(0, 0, 0)?,
        12 => date.and_hms_opt(num(8..10)?, num(10..12)?, 0)?,
        14 => date.and_hms_opt(num(8..10)?, num(10..12)?, num(12..14)?)?,
        _ => return None,
    };
    Some(if utc {
        Utc.from_utc_datetime(&naive).timestamp()
    } else {
        Local.from_local_datetime(&naive).earliest()?.timestamp()
    })
}

fn show_time(t: i64) -> String {
    DateTime::from_timestamp(t, 0).map_or_else(|| t.to_string(), |d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Split off the first whitespace-delimited field, honouring double quotes
/// (OpenSSH `strdelimw`).
fn next_field(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return Some((out, &s[i..])),
            c => out.push(c),
        }
    }
    if quoted {
        return None;
    }
    Some((out, ""))
}

/// Split off the options field as written, quotes kept (OpenSSH
/// `sshkey_advance_past_options`): it ends at whitespace outside quotes.
fn options_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches([' ', '\t']);
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return Some((&s[..i], &s[i..])),
            _ => {}
        }
    }
    None
}

/// Split options at commas outside quotes.
fn split_options(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return None;
    }
    out.push(cur);
    Some(out)
}

fn dequote(v: &str) -> Option<&str> {
    v.strip_prefix('"')?.strip_suffix('"')
}

impl AllowedSigners {
    /// Parse the text of an allowed_signers file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<AllowedSigners, SignersError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| SignersError::Line {
                file: file.to_string(),
                line,
                message,
            };
            let trimmed = raw.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (principals, rest) = next_field(trimmed).ok_or_else(|| err("expected `principals [options] keytype base64`".into()))?;
            if rest.trim().is_empty() {
                return Err(err("expected a key after the principals".into()));
            }
            // Either the key follows directly, or options come first (as in sshsig.c).
            let (options, key_text) = match PublicKey::from_openssh(rest.trim()) {
                Ok(_) => (None, rest.trim()),
                Err(_) => {
                    let (opts, key) = options_field(rest).ok_or_else(|| err("expected options then a key".into()))?;
                    (Some(opts.to_string()), key.trim())
                }
            };
            let key = PublicKey::from_openssh(key_text).map_err(|e| err(format!("cannot read the public key: {e}")))?;
            let mut entry = AllowedSigner {
                line,
                principals,
                cert_authority: false,
                namespaces: None,
                valid_after: None,
                valid_before: None,
                key,
            };
            if let Some(opts) = options {
                for opt in split_options(&opts).ok_or_else(|| err("unbalanced quotes in options".into()))? {
                    let (name, value) = match opt.split_once('=') {
                        Some((n, v)) => (n.to_ascii_lowercase(), Some(v)),
                        None => (opt.to_ascii_lowercase(), None),
                    };
                    let quoted = |v: Option<&str>| {
                        v.and_then(dequote)
                            .map(str::to_string)
                            .ok_or_else(|| err(format!("option {name} needs a quoted value")))
                    };
                    match name.as_str() {
                        "cert-authority" if value.is_none() => entry.cert_authority = true,
                        "namespaces" => entry.namespaces = Some(quoted(value)?),
                        "valid-after" => {
                            let v = quoted(value)?;
                            entry.valid_after =
                                Some(parse_time(&v).ok_or_else(|| err(format!("valid-after \"{v}\": expected YYYYMMDD[HHMM[SS]][Z]")))?);
                        }
                        "valid-before" => {
                            let v = quoted(value)?;
                            entry.valid_before =
                                Some(parse_time(&v).ok_or_else(|| err(format!("valid-before \"{v}\": expected YYYYMMDD[HHMM[SS]][Z]")))?);
                        }
                        _ => return Err(err(format!("unsupported option `{opt}`"))),
                    }
                }
            }
            entries.push(entry);
        }
        Ok(AllowedSigners {
            file: file.to_string(),
            entries,
        })
    }

    /// Principals of the lines listing `key` (pattern lists as written).
    pub fn principals_of(&self, key: &PublicKey) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| !e.cert_authority && e.key.key_data() == key.key_data())
            .map(|e| e.principals.clone())
            .collect()
    }

    /// Does `sig` (already cryptographically verified) count for `principal`
    /// at `now`? Mirrors `sshsig_check_allowed_keys`: any one line that
    /// matches the principal and the key and whose options allow it suffices;
    /// otherwise the last refusal is reported.
    pub fn check(&self, key: &PublicKey, principal: &str, now: DateTime<Utc>) -> Result<usize, SignatureFault> {
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let now = now.timestamp();
        let mut fault = None;
        for e in &self.entries {
            if !match_pattern_list(principal, &e.principals) || e.cert_authority || e.key.key_data() != key.key_data() {
                continue;
            }
            if let Some(ns) = &e.namespaces {
                if !match_pattern_list(NAMESPACE, ns) {
                    fault = Some(SignatureFault::NamespaceNotPermitted {
                        fingerprint: fingerprint.clone(),
                        line: e.line,
                    });
                    continue;
                }
            }
            if let Some(after) = e.valid_after {
                if now < after {
                    fault = Some(SignatureFault::NotYetValid {
                        fingerprint: fingerprint.clone(),
                        line: e.line,
                        valid_after: show_time(after),
                    });
                    continue;
                }
            }
            if let Some(before) = e.valid_before {
                if now > before {
                    fault = Some(SignatureFault::Expired {
                        fingerprint: fingerprint.clone(),
                        line: e.line,
                        valid_before: show_time(before),
                    });
                    continue;
                }
            }
            return Ok(e.line);
        }
        Err(fault.unwrap_or(SignatureFault::UnknownKey { fingerprint }))
    }
}

/// A detached signature file and what it holds.
#[derive(Clone, Debug)]
pub struct SignatureFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Parse and cryptographically verify one signature over `message` in the
/// approval namespace; returns the signing public key.
pub fn verify_signature(message: &[u8], sig: &SignatureFile) -> Result<PublicKey, SignatureFault> {
    let parsed = SshSig::from_pem(&sig.bytes).map_err(|e| SignatureFault::Malformed { message: e.to_string() })?;
    if parsed.namespace() != NAMESPACE {
        return Err(SignatureFault::WrongNamespace {
            namespace: parsed.namespace().to_string(),
        });
    }
    let key = PublicKey::from(parsed.public_key().clone());
    key.verify(NAMESPACE, message, &parsed).map_err(|_| SignatureFault::BadSignature)?;
    Ok(key)
}

/// What one signature file counts for.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SignatureReport {
    pub file: String,
    /// SHA256 fingerprint of the signing key, when the file parsed.
    pub key: Option<String>,
    /// Approvers this signature validly stands for.
    pub principals: Vec<String>,
    /// Why it counts for nobody, when it does not.
    pub fault: Option<SignatureFault>,
}

/// The outcome of checking every signature against the approvers.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SignerTally {
    pub signatures: Vec<SignatureReport>,
    /// Distinct signers counted: each principal and each key at most once.
    pub signers: Vec<String>,
}

/// Verify every signature of `message` for the manifest's `approvers` and
/// count distinct signers: a principal and a key each count at most once
/// (a maximum bipartite matching), so a key listed twice, a duplicated
/// signature file or one person signing twice counts once.
pub fn tally(message: &[u8], sigs: &[SignatureFile], approvers: &[String], allowed: &AllowedSigners, now: DateTime<Utc>) -> SignerTally {
    let mut reports = Vec::new();
    // (key bytes, approver indices it validly stands for)
    let mut edges: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
    for sig in sigs {
        let key = match verify_signature(message, sig) {
            Ok(k) => k,
            Err(fault) => {
                reports.push(SignatureReport {
                    file: sig.name.clone(),
                    key: None,
                    principals: vec![],
                    fault: Some(fault),
                });
                continue;
            }
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let mut ok = Vec::new();
        let mut last_fault = None;
        for (a, approver) in approvers.iter().enumerate() {
            match allowed.check(&key, approver, now) {
                Ok(_) => ok.push(a),
                Err(SignatureFault::UnknownKey { .. }) => {}
                Err(f) => last_fault = Some(f),
            }
        }
        let fault = if ok.is_empty() {
            Some(last_fault.unwrap_or_else(|| {
                let principals = allowed.principals_of(&key);
                if principals.is_empty() {
                    SignatureFault::UnknownKey {
                        fingerprint: fingerprint.clone(),
                    }
                } else {
                    SignatureFault::NotAnApprover {
                        fingerprint: fingerprint.clone(),
                        principals,
                    }
                }
            }))
        } else {
            None
        };
        reports.push(SignatureReport {
            file: sig.name.clone(),
            key: Some(fingerprint),
            principals: ok.iter().map(|&a| approvers[a].clone()).collect(),
            fault,
        });
        let key_bytes = key.to_bytes().unwrap_or_default();
        match edges.iter_mut().find(|(k, _)| *k == key_bytes) {
            Some((_, set)) => {
                for a in ok {
                    if !set.contains(&a) {
                        set.push(a);
                    }
                }
            }
            None => edges.push((key_bytes, ok)),
        }
    }
    // Maximum matching between keys and approvers (Kuhn's algorithm; tiny sizes).
    let mut owner: Vec<Option<usize>> = vec![None; approvers.len()];
    fn augment(k: usize, edges: &[(Vec<u8>, Vec<usize>)], owner: &mut [Option<usize>], seen: &mut [bool]) -> bool {
        for &a in &edges[k].1 {
            if !seen[a] {
                seen[a] = true;
                if owner[a].is_none_or(|other| augment(other, edges, owner, seen)) {
                    owner[a] = Some(k);
                    return true;
                }
            }
        }
        false
    }
    for k in 0..edges.len() {
        let mut seen = vec![false; approvers.len()];
        augment(k, &edges, &mut owner, &mut seen);
    }
    let signers = approvers
        .iter()
        .zip(&owner)
        .filter(|(_, o)| o.is_some())
        .map(|(a, _)| a.clone())
        .collect();
    SignerTally {
        signatures: reports,
        signers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_openssh() {
        assert!(match_pattern("rm-alice@example.com", "*@example.com"));
        assert!(match_pattern("ab", "a?"));
        assert!(!match_pattern("abc", "a?"));
        assert!(match_pattern_list("alice", "bob,alice"));
        assert!(!match_pattern_list("alice", "*,!alice"));
        assert!(!match_pattern_list("alice", "!alice"));
        assert!(match_pattern_list("scoregate-approval", "git,scoregate-*"));
    }

    #[test]
    fn times_parse_as_openssh_does() {
        assert_eq!(
            parse_time("20261120Z"),
            Some(Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap().timestamp())
        );
        assert_eq!(
            parse_time("202611201230Z"),
            Some(Utc.with_ymd_and_hms(2026, 11, 20, 12, 30, 0).unwrap().timestamp())
        );
        assert_eq!(
            parse_time("20261120123045Z"),
            Some(Utc.with_ymd_and_hms(2026, 11, 20, 12, 30, 45).unwrap().timestamp())
        );
        assert_eq!(parse_time("2026112"), None);
        assert_eq!(parse_time("20261340Z"), None);
    }

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHmKu7mK9cF5PqfR4yxJkAqk3NfpyJdlAxGq7e/rX2WN";

    #[test]
    fn lines_parse_with_and_without_options() {
        let text = format!(
            "# comment\n\nrm-alice@example.com {KEY} alice laptop\n\"rm-bob@example.com,*@ops.example.com\" namespaces=\"scoregate-approval\",valid-after=\"20260101Z\",valid-before=\"20270101Z\" {KEY}\n"
        );
        let a = AllowedSigners::parse("as", &text).unwrap();
        assert_eq!(a.entries.len(), 2);
        assert_eq!(a.entries[0].principals, "rm-alice@example.com");
        assert_eq!(a.entries[1].principals, "rm-bob@example.com,*@ops.example.com");
        assert_eq!(a.entries[1].namespaces.as_deref(), Some("scoregate-approval"));
        assert!(a.entries[1].valid_before.is_some());
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        for bad in [
            "alice\n".to_string(),
            "alice not-a-key AAAA\n".to_string(),
            format!("alice bogus-option=\"x\" {KEY}\n"),
            format!("alice valid-after=\"tomorrow\" {KEY}\n"),
            format!("alice namespaces=scoregate-approval {KEY}\n"),
        ] {
            let text = format!("# header\n{bad}");
            match AllowedSigners::parse("as", &text) {
                Err(SignersError::Line { line: 2, .. }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
