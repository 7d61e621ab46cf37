//! Pipeline files (`pipelines/*.toml`): one cohort, its store, its history
//! prefix, replay settings, approval policy and the loosest guardrails a
//! manifest may set.
//!
//! The file is parsed into [`RawPipeline`] (unknown keys rejected, with file
//! and line) and then validated into [`Pipeline`], the only type the rest of
//! scoregate sees. Every validation error names the file, the line and the key.

use crate::canonical::Digest;
use crate::store::StoreLocation;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("pipeline {file}: cannot read it: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("pipeline {file}: {message}")]
    Parse { file: String, message: String },
    #[error("pipeline {file}, line {line}: key `{key}`: expected {expected}")]
    Invalid {
        file: String,
        line: usize,
        key: String,
        expected: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub cohort: Spanned<String>,
    pub store: Spanned<String>,
    pub history: Spanned<String>,
    pub replay: RawReplay,
    pub policy: RawPolicy,
    pub guardrails: RawGuardrails,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    pub default_capacity: Spanned<i64>,
    pub reviewer_throughput_per_hour: Spanned<f64>,
    #[serde(default)]
    pub alpha: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub protected_classes: Spanned<Vec<String>>,
    pub baseline_revision: Spanned<String>,
    pub allowed_signers: Spanned<String>,
    #[serde(default)]
    pub required_signers: Option<Spanned<i64>>,
    pub max_window: Spanned<String>,
    pub max_evidence_age: Spanned<String>,
    #[serde(default)]
    pub clock_skew: Option<Spanned<String>>,
    #[serde(default)]
    pub max_renewals: Option<Spanned<i64>>,
    #[serde(default)]
    pub max_bounded_total: Option<Spanned<String>>,
    #[serde(default)]
    pub data_grace: Option<Spanned<String>>,
    #[serde(default)]
    pub blind_rollback: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrails {
    pub max_protected_misses: Spanned<i64>,
    pub max_protected_signoff_p90_hours: Spanned<f64>,
    pub max_canary_misses: Spanned<i64>,
    #[serde(default)]
    pub min_live_items: Option<Spanned<i64>>,
}

/// Guardrail thresholds: the pipeline's loosest values, or a manifest's.
/// A reading strictly greater than its threshold is a breach (SPEC §7).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    pub max_protected_misses: u64,
    pub max_protected_signoff_p90_hours: f64,
    pub max_canary_misses: u64,
}

/// Guardrail readings over the live window (SPEC §7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// Items in the live window (live_revision = the bounded revision, queued_at in [activation, now]).
    pub items: u64,
    pub protected_misses: u64,
    /// Nearest-rank p90 of protected items' signoff hours; null when there are none.
    pub protected_signoff_p90_hours: Option<f64>,
    pub canary_misses: u64,
}

/// A trigger value against its threshold (rollback and expiry artifacts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Trigger {
    pub guardrail: String,
    pub reading: Option<f64>,
    pub threshold: f64,
    pub breached: bool,
}

/// Trigger values against thresholds, for every guardrail.
pub fn triggers(r: &Readings, g: &Guardrails) -> Vec<Trigger> {
    vec![
        Trigger {
            guardrail: "max_protected_misses".into(),
            reading: Some(r.protected_misses as f64),
            threshold: g.max_protected_misses as f64,
            breached: r.protected_misses > g.max_protected_misses,
        },
        Trigger {
            guardrail: "max_protected_signoff_p90_hours".into(),
            reading: r.protected_signoff_p90_hours,
            threshold: g.max_protected_signoff_p90_hours,
            breached: r.protected_signoff_p90_hours.is_some_and(|h| h > g.max_protected_signoff_p90_hours),
        },
        Trigger {
            guardrail: "max_canary_misses".into(),
            reading: Some(r.canary_misses as f64),
            threshold: g.max_canary_misses as f64,
            breached: r.canary_misses > g.max_canary_misses,
        },
    ]
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplaySettings {
    pub default_capacity: u32,
    pub reviewer_throughput_per_hour: f64,
    /// Significance level of the sign-flip test, Holm-adjusted across classes (README "How sure is a verdict").
    pub alpha: f64,
}

/// `[replay] alpha` when the pipeline does not set it.
pub const DEFAULT_ALPHA: f64 = 0.05;

#[derive(Clone, Debug)]
pub struct Policy {
    pub protected_classes: Vec<String>,
    pub baseline_revision: Digest,
    pub allowed_signers: PathBuf,
    pub required_signers: u32,
    pub max_window: chrono::Duration,
    pub max_evidence_age: chrono::Duration,
    pub clock_skew: chrono::Duration,
    /// Renewals one activation may have (README "The renewal budget").
    pub max_renewals: u32,
    /// The longest a revision may stay bounded, activation to its last `not_after`.
    pub max_bounded_total: chrono::Duration,
}

/// `[policy] max_renewals` when the pipeline does not set it.
pub const DEFAULT_MAX_RENEWALS: u32 = 3;
/// `[policy] max_bounded_total` when the pipeline does not set it: 56 days.
pub const DEFAULT_MAX_BOUNDED_TOTAL_DAYS: i64 = 56;

/// A validated pipeline.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// The file it came from, for messages.
    pub file: PathBuf,
    pub cohort: String,
    pub store: StoreLocation,
    /// Prefix of the history parquet inside the store, without slashes at the ends.
    pub history: String,
    pub replay: ReplaySettings,
    pub policy: Policy,
    pub guardrails: Guardrails,
    pub blindness: Blindness,
}

/// When a live window counts as blind (README "Blind windows"): fewer than
/// `min_live_items` live-window rows once `data_grace` has passed since
/// activation. A blind window is rolled back when `blind_rollback` is true,
/// and is never renewed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blindness {
    pub min_live_items: u64,
    pub data_grace: chrono::Duration,
    pub blind_rollback: bool,
}

impl Pipeline {
    /// Read, parse and validate a pipeline file.
    pub fn load(file: &Path) -> Result<Pipeline, PipelineError> {
        let text = std::fs::read_to_string(file).map_err(|source| PipelineError::Read {
            file: file.display().to_string(),
            source,
        })?;
        Pipeline::from_str(file, &text)
    }

    /// Parse and validate pipeline text; relative paths resolve against `file`'s folder.
    pub fn from_str(file: &Path, text: &str) -> Result<Pipeline, PipelineError> {
        let name = file.display().to_string();
        let raw: RawPipeline = toml::from_str(text).map_err(|e| PipelineError::Parse {
            file: name.clone(),
            message: parse_message(text, &e),
        })?;
        validate(file, text, raw)
    }
}

/// toml's own message, led by the line it points at.
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => format!("line {}: {msg}", line_of(text, span.start)),
        None => msg,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// A cohort name becomes a path segment in the store, so it is kept plain.
pub fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !s.starts_with('.')
}

/// Where a validation error points: the file, its text, and the key's span.
struct Ctx<'a> {
    name: String,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: std::ops::Range<usize>, key: &str, expected: &str) -> PipelineError {
        PipelineError::Invalid {
            file: self.name.clone(),
            line: line_of(self.text, span.start),
            key: key.to_string(),
            expected: expected.to_string(),
        }
    }
    fn duration(&self, s: &Spanned<String>, key: &str) -> Result<chrono::Duration, PipelineError> {
        parse_duration(s.get_ref()).ok_or_else(|| self.err(s.span(), key, "a duration such as \"14d\", \"36h\" or \"5m\""))
    }
}

fn validate(file: &Path, text: &str, raw: RawPipeline) -> Result<Pipeline, PipelineError> {
    let ctx = Ctx {
        name: file.display().to_string(),
        text,
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let cohort = raw.cohort.get_ref().clone();
    if !is_plain_name(&cohort) {
        return Err(ctx.err(raw.cohort.span(), "cohort", "a plain name of letters, digits, '-', '_' or '.'"));
    }
    let store = StoreLocation::parse(raw.store.get_ref(), dir).map_err(|e| ctx.err(raw.store.span(), "store", &e))?;
    let history = raw.history.get_ref().trim_matches('/').to_string();
    if history.is_empty() || history.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(ctx.err(
            raw.history.span(),
            "history",
            "a prefix inside the store such as \"history/payments-platform\"",
        ));
    }
    Ok(Pipeline {
        file: file.to_path_buf(),
        cohort,
        store,
        history,
        replay: validate_replay(&ctx, &raw.replay)?,
        policy: validate_policy(&ctx, dir, &raw.policy)?,
        guardrails: validate_guardrails(&ctx, &raw.guardrails)?,
        blindness: validate_blindness(&ctx, &raw.policy, &raw.guardrails)?,
    })
}

fn validate_blindness(ctx: &Ctx, p: &RawPolicy, g: &RawGuardrails) -> Result<Blindness, PipelineError> {
    let min_live_items = match &g.min_live_items {
        None => 1,
        Some(s) => {
            u64::try_from(*s.get_ref()).map_err(|_| ctx.err(s.span(), "guardrails.min_live_items", "a whole number of 0 or more"))?
        }
    };
    let data_grace = match &p.data_grace {
        Some(s) => ctx.duration(s, "policy.data_grace")?,
        None => chrono::Duration::hours(24),
    };
    Ok(Blindness {
        min_live_items,
        data_grace,
        blind_rollback: p.blind_rollback.as_ref().is_none_or(|b| *b.get_ref()),
    })
}

fn validate_replay(ctx: &Ctx, r: &RawReplay) -> Result<ReplaySettings, PipelineError> {
    let cap = *r.default_capacity.get_ref();
    if !(1..=u32::MAX as i64).contains(&cap) {
        return Err(ctx.err(r.default_capacity.span(), "replay.default_capacity", "a whole number of at least 1"));
    }
    let tput = *r.reviewer_throughput_per_hour.get_ref();
    if !(tput.is_finite() && tput > 0.0) {
        return Err(ctx.err(
            r.reviewer_throughput_per_hour.span(),
            "replay.reviewer_throughput_per_hour",
            "a number above 0",
        ));
    }
    let alpha = match &r.alpha {
        None => DEFAULT_ALPHA,
        Some(a) if a.get_ref().is_finite() && *a.get_ref() > 0.0 && *a.get_ref() < 0.5 => *a.get_ref(),
        Some(a) => return Err(ctx.err(a.span(), "replay.alpha", "a number above 0 and below 0.5")),
    };
    Ok(ReplaySettings {
        default_capacity: cap as u32,
        reviewer_throughput_per_hour: tput,
        alpha,
    })
}

fn validate_policy(ctx: &Ctx, dir: &Path, p: &RawPolicy) -> Result<Policy, PipelineError> {
    let mut protected = p.protected_classes.get_ref().clone();
    if protected.iter().any(|c| c.is_empty()) {
        return Err(ctx.err(p.protected_classes.span(), "policy.protected_classes", "non-empty class names"));
    }
    protected.sort();
    protected.dedup();
    let baseline = Digest::parse(p.baseline_revision.get_ref()).ok_or_else(|| {
        ctx.err(
            p.baseline_revision.span(),
            "policy.baseline_revision",
            "a revision id `sha256:` followed by 64 lowercase hex digits",
        )
    })?;
    let required_signers = match &p.required_signers {
        None => 1,
        Some(s) if (1..=64).contains(s.get_ref()) => *s.get_ref() as u32,
        Some(s) => return Err(ctx.err(s.span(), "policy.required_signers", "a whole number from 1 to 64")),
    };
    let max_window = ctx.duration(&p.max_window, "policy.max_window")?;
    let max_evidence_age = ctx.duration(&p.max_evidence_age, "policy.max_evidence_age")?;
    let clock_skew = match &p.clock_skew {
        Some(s) => ctx.duration(s, "policy.clock_skew")?,
        None => chrono::Duration::minutes(5),
    };
    let max_renewals = match &p.max_renewals {
        None => DEFAULT_MAX_RENEWALS,
        Some(s) if (0..=1000).contains(s.get_ref()) => *s.get_ref() as u32,
        Some(s) => return Err(ctx.err(s.span(), "policy.max_renewals", "a whole number from 0 to 1000")),
    };
    let max_bounded_total = match &p.max_bounded_total {
        Some(s) => ctx.duration(s, "policy.max_bounded_total")?,
        None => chrono::Duration::days(DEFAULT_MAX_BOUNDED_TOTAL_DAYS),
    };
    Ok(Policy {
        max_renewals,
        max_bounded_total,
        protected_classes: protected,
        baseline_revision: baseline,
        allowed_signers: dir.join(p.allowed_signers.get_ref()),
        required_signers,
        max_window,
        max_evidence_age,
        clock_skew,
    })
}

fn validate_guardrails(ctx: &Ctx, g: &RawGuardrails) -> Result<Guardrails, PipelineError> {
    let count =
        |s: &Spanned<i64>, key: &str| u64::try_from(*s.get_ref()).map_err(|_| ctx.err(s.span(), key, "a whole number of 0 or more"));
    let hours = *g.max_protected_signoff_p90_hours.get_ref();
    if !(hours.is_finite() && hours >= 0.0) {
        return Err(ctx.err(
            g.max_protected_signoff_p90_hours.span(),
            "guardrails.max_protected_signoff_p90_hours",
            "a number of hours, 0 or more",
        ));
    }
    Ok(Guardrails {
        max_protected_misses: count(&g.max_protected_misses, "guardrails.max_protected_misses")?,
        max_protected_signoff_p90_hours: hours,
        max_canary_misses: count(&g.max_canary_misses, "guardrails.max_canary_misses")?,
    })
}

/// Durations such as `14d`, `36h`, `90m`, `1h 30m` (humantime's syntax).
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let d = humantime::parse_duration(s.trim()).ok()?;
    chrono::Duration::from_std(d).ok().filter(|d| *d > chrono::Duration::zero())
}

/// A duration as messages show it: days, hours, minutes and seconds in
/// humantime's words (`8days 2h 24m`, `1day`, `5m`), never months or years,
/// whose lengths humantime guesses (it shows 56 days as
/// `1month 25days 13h 26m 24s`). What it prints, `parse_duration` reads back.
pub fn format_duration(d: chrono::Duration) -> String {
    let sign = if d < chrono::Duration::zero() { "-" } else { "" };
    let secs = d.num_seconds().unsigned_abs();
    let (days, hours, minutes, seconds) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    match days {
        0 => {}
        1 => parts.push("1day".to_string()),
        n => parts.push(format!("{n}days")),
    }
    for (v, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s")] {
        if v > 0 {
            parts.push(format!("{v}{unit}"));
        }
    }
    if parts.is_empty() {
        return "0s".into();
    }
    format!("{sign}{}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_days_never_months_and_read_back() {
        let d = |s: i64| chrono::Duration::seconds(s);
        assert_eq!(format_duration(chrono::Duration::days(56)), "56days");
        assert_eq!(format_duration(d(8 * 86_400 + 2 * 3600 + 24 * 60)), "8days 2h 24m");
        assert_eq!(format_duration(d(86_400 + 5)), "1day 5s");
        assert_eq!(format_duration(d(0)), "0s");
        assert_eq!(format_duration(d(-300)), "-5m");
        for s in [60, 3600, 86_400 * 56, 8 * 86_400 + 2 * 3600 + 24 * 60] {
            assert_eq!(parse_duration(&format_duration(d(s))), Some(d(s)));
        }
    }

    pub(crate) const SAMPLE: &str = r#"cohort = "payments-platform"
store = "../data-samples/store"
history = "history/payments-platform"

[replay]
default_capacity = 25
reviewer_throughput_per_hour = 4.0

[policy]
protected_classes = ["signing-surface", "high-blast-radius", "payments-ledger"]
baseline_revision = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
allowed_signers = "allowed_signers"
required_signers = 1
max_window = "14d"
max_evidence_age = "7d"
clock_skew = "5m"

[guardrails]
max_protected_misses = 2
max_protected_signoff_p90_hours = 24.0
max_canary_misses = 3
"#;

    #[test]
    fn sample_parses_and_resolves_paths() {
        let p = Pipeline::from_str(Path::new("pipelines/x.toml"), SAMPLE).unwrap();
        assert_eq!(p.cohort, "payments-platform");
        assert_eq!(p.store, StoreLocation::Local(PathBuf::from("data-samples/store")));
        assert_eq!(
            p.policy.protected_classes,
            ["high-blast-radius", "payments-ledger", "signing-surface"]
        );
        assert_eq!(p.policy.max_window, chrono::Duration::days(14));
        assert_eq!(p.policy.clock_skew, chrono::Duration::minutes(5));
        assert_eq!(p.policy.allowed_signers, PathBuf::from("pipelines/allowed_signers"));
        assert_eq!(p.guardrails.max_canary_misses, 3);
    }

    #[test]
    fn second_round_keys_have_their_defaults_and_are_validated() {
        let p = Pipeline::from_str(Path::new("x.toml"), SAMPLE).unwrap();
        assert_eq!((p.replay.alpha, p.policy.max_renewals), (0.05, 3));
        assert_eq!(p.policy.max_bounded_total, chrono::Duration::days(56));
        assert_eq!(
            p.blindness,
            Blindness {
                min_live_items: 1,
                data_grace: chrono::Duration::hours(24),
                blind_rollback: true
            }
        );
        let set = SAMPLE
            .replace(
                "reviewer_throughput_per_hour = 4.0",
                "reviewer_throughput_per_hour = 4.0\nalpha = 0.01",
            )
            .replace(
                "clock_skew = \"5m\"",
                "clock_skew = \"5m\"\nmax_renewals = 0\nmax_bounded_total = \"20d\"\ndata_grace = \"6h\"\nblind_rollback = false",
            )
            .replace("max_canary_misses = 3", "max_canary_misses = 3\nmin_live_items = 40");
        let p = Pipeline::from_str(Path::new("x.toml"), &set).unwrap();
        assert_eq!(
            (p.replay.alpha, p.policy.max_renewals, p.policy.max_bounded_total),
            (0.01, 0, chrono::Duration::days(20))
        );
        assert_eq!(
            (p.blindness.min_live_items, p.blindness.data_grace, p.blindness.blind_rollback),
            (40, chrono::Duration::hours(6), false)
        );
        for (from, to, key) in [
            (
                "reviewer_throughput_per_hour = 4.0",
                "reviewer_throughput_per_hour = 4.0\nalpha = 0.7",
                "replay.alpha",
            ),
            (
                "clock_skew = \"5m\"",
                "clock_skew = \"5m\"\nmax_renewals = -1",
                "policy.max_renewals",
            ),
            (
                "clock_skew = \"5m\"",
                "clock_skew = \"5m\"\nmax_bounded_total = \"forever\"",
                "policy.max_bounded_total",
            ),
            (
                "clock_skew = \"5m\"",
                "clock_skew = \"5m\"\ndata_grace = \"soon\"",
                "policy.data_grace",
            ),
            (
                "max_canary_misses = 3",
                "max_canary_misses = 3\nmin_live_items = -5",
                "guardrails.min_live_items",
            ),
        ] {
            match Pipeline::from_str(Path::new("x.toml"), &SAMPLE.replace(from, to)) {
                Err(PipelineError::Invalid { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = SAMPLE.replace("max_canary_misses = 3", "max_canary_misses = 3\nmax_canary_mises = 4");
        let e = Pipeline::from_str(Path::new("p.toml"), &text).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, PipelineError::Parse { .. }));
        assert!(
            msg.contains("p.toml") && msg.contains("line 22") && msg.contains("max_canary_mises"),
            "{msg}"
        );
    }

    #[test]
    fn invalid_values_name_line_and_key() {
        let text = SAMPLE.replace("default_capacity = 25", "default_capacity = 0");
        match Pipeline::from_str(Path::new("p.toml"), &text).unwrap_err() {
            PipelineError::Invalid { line, key, .. } => assert_eq!((line, key.as_str()), (6, "replay.default_capacity")),
            e => panic!("{e}"),
        }
        let text = SAMPLE.replace("\"14d\"", "\"fortnight\"");
        assert!(matches!(Pipeline::from_str(Path::new("p.toml"), &text).unwrap_err(),
            PipelineError::Invalid { line: 14, ref key, .. } if key == "policy.max_window"));
        let text = SAMPLE.replace("sha256:0000", "sha256:zz00");
        assert!(matches!(Pipeline::from_str(Path::new("p.toml"), &text).unwrap_err(),
            PipelineError::Invalid { ref key, .. } if key == "policy.baseline_revision"));
        let text = SAMPLE.replace("cohort = \"payments-platform\"", "cohort = \"../etc\"");
        assert!(matches!(Pipeline::from_str(Path::new("p.toml"), &text).unwrap_err(),
            PipelineError::Invalid { line: 1, ref key, .. } if key == "cohort"));
    }
}
