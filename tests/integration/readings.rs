//! Guardrail readings over the live window (README "The cycle"), through the
//! binary, against a computation written here from the README's words, not
//! the engine's helper: items of the live bounded revision with `queued_at`
//! in [activation, now]; protected misses; protected signoff p90 hours by
//! nearest rank, an item not signed off by `now` ageing until `now`; canary
//! misses. Then each threshold's strict `>`: equal holds, one more rolls back.

use crate::cycle::{Ops, BASELINE_REV, CANDIDATE_REV};
use arrow::array::{
    ArrayRef, BooleanArray, DictionaryArray, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use arrow::datatypes::Int32Type;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Duration, Utc};
use parquet::arrow::ArrowWriter;
use std::sync::Arc;

pub const ACTIVATED: &str = "2026-11-03T00:00:00Z";
const PROTECTED: &str = "signing-surface";

/// One live-use row.
#[derive(Clone)]
pub struct LiveRow {
    pub revision: Option<&'static str>,
    pub queued: Option<DateTime<Utc>>,
    pub signed: Option<DateTime<Utc>>,
    pub protected: bool,
    pub canary: bool,
    pub missed: bool,
}

pub fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn row(revision: &'static str, queued: DateTime<Utc>) -> LiveRow {
    LiveRow {
        revision: Some(revision),
        queued: Some(queued),
        signed: None,
        protected: false,
        canary: false,
        missed: false,
    }
}

/// Write `rows` as the cohort's only live-use history object (replacing any before).
fn write_live(o: &Ops, rows: &[LiveRow]) {
    let batch = live_batch("guard", rows, TimeUnit::Microsecond, Some("UTC"), false);
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let dir = o.a.path("store/history/payments-platform/live");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("guardrails.parquet"), out).unwrap();
}

/// `rows` as one batch, item ids `<ids>-NNNN`: timestamps in `unit` (naive without `tz`),
/// `live_revision` plain or dictionary-encoded.
pub fn live_batch(ids: &str, rows: &[LiveRow], unit: TimeUnit, tz: Option<&str>, dictionary: bool) -> RecordBatch {
    let n = rows.len();
    let scale = match unit {
        TimeUnit::Second => 1_000_000,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1,
        TimeUnit::Nanosecond => -1,
    };
    let value = |t: DateTime<Utc>| match scale {
        -1 => t.timestamp_micros() * 1_000,
        s => t.timestamp_micros() / s,
    };
    let ts = |f: &dyn Fn(&LiveRow) -> Option<DateTime<Utc>>| -> ArrayRef {
        let v: Vec<Option<i64>> = rows.iter().map(|r| f(r).map(value)).collect();
        let a: ArrayRef = match unit {
            TimeUnit::Second => Arc::new(TimestampSecondArray::from(v).with_timezone_opt(tz)),
            TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(v).with_timezone_opt(tz)),
            TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(tz)),
            TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from(v).with_timezone_opt(tz)),
        };
        a
    };
    let strs = |v: Vec<Option<String>>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let bools = |f: &dyn Fn(&LiveRow) -> bool| -> ArrayRef { Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>())) };
    let time = || DataType::Timestamp(unit, tz.map(Into::into));
    let revisions: Vec<Option<&str>> = rows.iter().map(|r| r.revision).collect();
    let (revision_type, revision_col): (DataType, ArrayRef) = match dictionary {
        true => (
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            Arc::new(revisions.into_iter().collect::<DictionaryArray<Int32Type>>()),
        ),
        false => (DataType::Utf8, Arc::new(StringArray::from(revisions))),
    };
    let schema = Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("cohort", DataType::Utf8, false),
        Field::new("window_id", DataType::Utf8, false),
        Field::new("window_start", time(), false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("signoff_class", DataType::Utf8, false),
        Field::new("actionable", DataType::Boolean, false),
        Field::new("board_override", DataType::Boolean, false),
        Field::new("missed", DataType::Boolean, false),
        Field::new("live_revision", revision_type, true),
        Field::new("queued_at", time(), true),
        Field::new("signed_off_at", time(), true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        strs((0..n).map(|i| Some(format!("{ids}-{i:04}"))).collect()),
        strs(vec![Some("payments-platform".into()); n]),
        strs((0..n).map(|i| Some(format!("{ids}-w{}", i / 10))).collect()),
        ts(&|_| Some(t(ACTIVATED))),
        strs(
            rows.iter()
                .map(|r| Some(if r.canary { "canary_finding" } else { "build_regression" }.into()))
                .collect(),
        ),
        strs(
            rows.iter()
                .map(|r| Some(if r.protected { PROTECTED } else { "docs-only" }.into()))
                .collect(),
        ),
        bools(&|r| r.missed),
        bools(&|_| false),
        bools(&|r| r.missed),
        revision_col,
        ts(&|r| r.queued),
        ts(&|r| r.signed),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).unwrap()
}

/// The readings, computed from the README's definitions.
fn expected(rows: &[LiveRow], now: DateTime<Utc>) -> (u64, u64, Option<f64>, u64) {
    expected_with(rows, now, |signed, now| match signed {
        Some(s) if s <= now => s,
        _ => now, // not signed off by now: it ages until now
    })
}

/// The readings with `done(signed_off_at, now)` as the end of an item's ageing.
fn expected_with(
    rows: &[LiveRow],
    now: DateTime<Utc>,
    done: fn(Option<DateTime<Utc>>, DateTime<Utc>) -> DateTime<Utc>,
) -> (u64, u64, Option<f64>, u64) {
    let activated = t(ACTIVATED);
    let window: Vec<&LiveRow> = rows
        .iter()
        .filter(|r| r.revision == Some(CANDIDATE_REV) && r.queued.is_some_and(|q| activated <= q && q <= now))
        .collect();
    let protected_misses = window.iter().filter(|r| r.protected && r.missed).count() as u64;
    let canary_misses = window.iter().filter(|r| r.canary && r.missed).count() as u64;
    let mut hours: Vec<f64> = window
        .iter()
        .filter(|r| r.protected)
        .map(|r| {
            let q = r.queued.unwrap();
            (done(r.signed, now) - q).num_microseconds().unwrap() as f64 / 3_600_000_000.0
        })
        .collect();
    hours.sort_by(f64::total_cmp);
    let p90 = (!hours.is_empty()).then(|| hours[(hours.len() * 90).div_ceil(100) - 1]);
    (window.len() as u64, protected_misses, p90, canary_misses)
}

fn readings_of(report: &serde_json::Value) -> (u64, u64, Option<f64>, u64) {
    let r = &report["readings"];
    (
        r["items"].as_u64().unwrap(),
        r["protected_misses"].as_u64().unwrap(),
        r["protected_signoff_p90_hours"].as_f64(),
        r["canary_misses"].as_u64().unwrap(),
    )
}

/// Every kind of row the window must include or leave out.
pub fn mixed_rows(now: DateTime<Utc>) -> Vec<LiveRow> {
    let act = t(ACTIVATED);
    let mut rows = Vec::new();
    let queued_at = [
        Some(act - Duration::seconds(1)),
        Some(act),
        Some(act + Duration::hours(3)),
        Some(now),
        Some(now + Duration::seconds(1)),
        None,
    ];
    let signed = |q: DateTime<Utc>| [None, Some(q + Duration::hours(2)), Some(now + Duration::hours(5))];
    let mut k = 0;
    for revision in [Some(CANDIDATE_REV), Some(BASELINE_REV), Some("sha256:other"), None] {
        for q in queued_at {
            for s in signed(q.unwrap_or(act)) {
                for (protected, canary) in [(true, false), (false, true), (false, false), (true, true)] {
                    k += 1;
                    // Rows queued after now are all missed, rows queued exactly
                    // at now never: a window bound off by one shows in the misses.
                    let missed = match q {
                        Some(q) if q > now => true,
                        Some(q) if q == now => false,
                        _ => k % 3 == 0,
                    };
                    rows.push(LiveRow {
                        revision,
                        queued: q,
                        signed: s,
                        protected,
                        canary,
                        missed,
                    });
                }
            }
        }
    }
    rows
}

#[test]
fn readings_count_exactly_the_live_window_and_age_later_signoffs_until_now() {
    let o = Ops::new();
    o.activate_sample("7d");
    o.cycle(ACTIVATED, 0);
    let now = t("2026-11-03T20:00:00Z");
    let rows = mixed_rows(now);
    write_live(&o, &rows);
    let at = now.to_rfc3339();
    let r = serde_json::from_str(&o.ok(&["cycle", "--dry-run", "--json", "--pipeline", &o.p(), "--now", &at], 0)).unwrap();
    let want = expected(&rows, now);
    assert_eq!(readings_of(&r), want);
    // The rows chosen make every reading non-trivial.
    assert!(want.0 > 0 && want.1 > 0 && want.3 > 0, "{want:?}");
    // `status` reports the same readings.
    let status: serde_json::Value = serde_json::from_str(&o.ok(&["status", "--json", "--pipeline", &o.p(), "--now", &at], 0)).unwrap();
    assert_eq!(readings_of(&status), want);
    // A sign-off later than now has not happened yet. Counting it at its own
    // time (the bug this guards against) gives another p90 on these rows.
    let at_own_time = expected_with(&rows, now, |signed, now| signed.unwrap_or(now));
    assert_ne!(at_own_time.2, want.2, "the fixture tells the two readings apart");
}

/// Protected rows of the bounded revision queued at activation, each signed off after `hours[i]`.
fn protected_rows(hours: &[i64], missed: usize) -> Vec<LiveRow> {
    hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let q = t(ACTIVATED) + Duration::minutes(i as i64);
            LiveRow {
                signed: Some(q + Duration::hours(*h)),
                protected: true,
                missed: i < missed,
                ..row(CANDIDATE_REV, q)
            }
        })
        .collect()
}

fn canary_rows(missed: usize) -> Vec<LiveRow> {
    (0..missed)
        .map(|i| LiveRow {
            canary: true,
            missed: true,
            ..row(CANDIDATE_REV, t(ACTIVATED) + Duration::minutes(30 + i as i64))
        })
        .collect()
}

/// At the threshold the cycle keeps the revision; one more rolls back (exit 6).
fn equal_holds_one_more_rolls_back(at_threshold: Vec<LiveRow>, one_more: Vec<LiveRow>, guardrail: &str) {
    let o = Ops::new();
    o.activate_sample("7d");
    o.cycle(ACTIVATED, 0);
    let now = "2026-11-04T12:00:00Z";
    write_live(&o, &at_threshold);
    let r = o.cycle(now, 0);
    assert!(r["decision"].is_null(), "{guardrail} at its threshold holds: {r}");
    let t = r["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["guardrail"] == guardrail)
        .unwrap()
        .clone();
    assert_eq!(t["reading"], t["threshold"], "{t}");
    write_live(&o, &one_more);
    let r = o.cycle(now, 6);
    assert_eq!(r["decision"], "rollback", "{guardrail} one over its threshold rolls back");
    let reasons = r["reasons"].to_string();
    assert!(reasons.contains(guardrail), "{reasons}");
}

#[test]
fn protected_misses_threshold_is_strictly_greater() {
    // Threshold 2 (the pipeline's, carried by the drafted manifest).
    equal_holds_one_more_rolls_back(protected_rows(&[1, 1], 2), protected_rows(&[1, 1, 1], 3), "max_protected_misses");
}

#[test]
fn protected_signoff_p90_threshold_is_strictly_greater() {
    // Threshold 24 h: ten rows, p90 = the 9th = 24 h exactly; then 25 h.
    let at = [1, 1, 1, 1, 1, 1, 1, 1, 24, 30];
    let over = [1, 1, 1, 1, 1, 1, 1, 1, 25, 30];
    equal_holds_one_more_rolls_back(protected_rows(&at, 0), protected_rows(&over, 0), "max_protected_signoff_p90_hours");
}

#[test]
fn canary_misses_threshold_is_strictly_greater() {
    // Threshold 3.
    equal_holds_one_more_rolls_back(canary_rows(3), canary_rows(4), "max_canary_misses");
}
