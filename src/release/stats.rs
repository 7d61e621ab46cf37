//! Lifecycle statistics (README "Lifecycle statistics", SPEC §7b): from the
//! log, every bounded window with its revision, renewals, time bounded and
//! how it ended; how late each expiry was committed after its `not_after`;
//! each guardrail rollback's latency from the arrival of the row that made
//! the reading cross its threshold to the rollback commit; and over the log,
//! the share of windows by how they ended (on schedule, by renewal chains,
//! by rollback or blindness, by promotion).
//!
//! [`windows_of`] is a pure function of the commits; [`rollback_latency`]
//! also reads the history the readings were taken from.

use crate::canonical::Digest;
use crate::pipeline::Pipeline;
use crate::release::log::{Commit, Decision};
use crate::replay::history::History;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// How a bounded window ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Expired at its first `not_after`, never renewed.
    OnSchedule,
    /// Expired after one or more renewals.
    RenewalChain,
    Revoked,
    RolledBackGuardrail,
    RolledBackBlind,
    BreakGlass,
    /// A signed promotion made it the trusted revision.
    Promoted,
    StillLive,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::OnSchedule => "expired on schedule",
            Ending::RenewalChain => "expired after renewals",
            Ending::Revoked => "revoked",
            Ending::RolledBackGuardrail => "rolled back (guardrail)",
            Ending::RolledBackBlind => "rolled back (insufficient live data)",
            Ending::BreakGlass => "break-glass",
            Ending::Promoted => "promoted",
            Ending::StillLive => "still live",
        }
    }
}

/// One bounded window: activation to its end (or now).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoundedWindow {
    pub revision: Digest,
    pub activated_seq: u64,
    pub activated_at: DateTime<Utc>,
    pub renewals: u32,
    /// The `not_after` in force when it ended (or now).
    pub not_after: DateTime<Utc>,
    pub ended_seq: Option<u64>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ending: Ending,
    /// Activation to end (or to now while it runs).
    pub bounded_seconds: i64,
    /// For an expiry: how long after `not_after` the expiry was committed.
    pub expiry_lateness_seconds: Option<i64>,
    /// For a guardrail rollback: from the arrival of the row that made a
    /// count guardrail cross its threshold (its `queued_at`) to the rollback commit.
    pub rollback_latency_seconds: Option<i64>,
    /// The same, from when the history object holding that row arrived in
    /// the store (its last-modified time), where the store gives one and it
    /// is not later than the rollback.
    pub rollback_latency_from_object_seconds: Option<i64>,
    #[serde(skip)]
    pub(crate) breach: Option<Breach>,
}

/// What a guardrail rollback's commit recorded: which counts crossed which thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Breach {
    protected_misses: Option<u64>,
    canary_misses: Option<u64>,
}

/// Every bounded window in the log, in order.
pub fn windows_of(commits: &[Commit], now: DateTime<Utc>) -> Vec<BoundedWindow> {
    let mut out: Vec<BoundedWindow> = Vec::new();
    for c in commits {
        match c.decision {
            Decision::Activate => out.push(opened(c)),
            Decision::Renew => {
                if let Some(w) = out.last_mut().filter(|w| w.ended_seq.is_none()) {
                    w.renewals += 1;
                    w.not_after = c.valid_until.unwrap_or(w.not_after);
                }
            }
            Decision::Expire | Decision::Revoke | Decision::Rollback | Decision::BreakGlass | Decision::Promote => {
                if let Some(w) = out.last_mut().filter(|w| w.ended_seq.is_none()) {
                    close(w, c);
                }
            }
            Decision::Reject => {}
        }
    }
    for w in out.iter_mut().filter(|w| w.ended_seq.is_none()) {
        w.bounded_seconds = (now.min(w.not_after) - w.activated_at).num_seconds();
    }
    out
}

fn opened(c: &Commit) -> BoundedWindow {
    let activated_at = c.activated_at.unwrap_or(c.now);
    BoundedWindow {
        revision: c.live_revision.clone(),
        activated_seq: c.seq,
        activated_at,
        renewals: 0,
        not_after: c.valid_until.unwrap_or(c.now),
        ended_seq: None,
        ended_at: None,
        ending: Ending::StillLive,
        bounded_seconds: 0,
        expiry_lateness_seconds: None,
        rollback_latency_seconds: None,
        rollback_latency_from_object_seconds: None,
        breach: None,
    }
}

fn close(w: &mut BoundedWindow, c: &Commit) {
    w.ended_seq = Some(c.seq);
    w.ended_at = Some(c.now);
    w.bounded_seconds = (c.now - w.activated_at).num_seconds();
    w.ending = match c.decision {
        Decision::Expire if w.renewals == 0 => Ending::OnSchedule,
        Decision::Expire => Ending::RenewalChain,
        Decision::Revoke => Ending::Revoked,
        Decision::BreakGlass => Ending::BreakGlass,
        Decision::Promote => Ending::Promoted,
        _ if c.reasons.iter().any(|r| r.starts_with("insufficient live data")) => Ending::RolledBackBlind,
        _ => Ending::RolledBackGuardrail,
    };
    if c.decision == Decision::Expire {
        w.expiry_lateness_seconds = Some((c.now - w.not_after).num_seconds());
    }
    if w.ending == Ending::RolledBackGuardrail {
        w.breach = match (&c.readings, &c.thresholds) {
            (Some(r), Some(t)) => Some(Breach {
                protected_misses: (r.protected_misses > t.max_protected_misses).then_some(t.max_protected_misses),
                canary_misses: (r.canary_misses > t.max_canary_misses).then_some(t.max_canary_misses),
            }),
            _ => None,
        };
    }
}

/// Fill each guardrail rollback's latency from `h` (read with live columns):
/// the rows of the window that count toward a breached count guardrail,
/// ordered by `queued_at`; the one that made the count exceed its threshold
/// arrived at its `queued_at`, and its object at its last-modified time in
/// `object_arrivals` (by object path, where the store gives one). A
/// rollback for signoff aging alone has no single arrival and keeps a null
/// latency.
pub fn rollback_latency(
    pipeline: &Pipeline,
    h: &History,
    object_arrivals: &BTreeMap<String, DateTime<Utc>>,
    windows: &mut [BoundedWindow],
) {
    let Some(live) = h.live.as_ref() else { return };
    let protected: Vec<bool> = h.classes.iter().map(|c| pipeline.policy.protected_classes.contains(c)).collect();
    let canary = crate::profile::kind_index("canary_finding").expect("a known kind");
    for w in windows.iter_mut() {
        let (Some(breach), Some(ended)) = (w.breach, w.ended_at) else {
            continue;
        };
        let Some(rev) = live.revisions.iter().position(|x| x == w.revision.as_str()) else {
            continue;
        };
        let (from, to) = (w.activated_at.timestamp_micros(), ended.timestamp_micros());
        let mut arrivals: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
        for i in 0..h.len() {
            let Some(q) = live.queued_at[i].filter(|q| (from..=to).contains(q)) else {
                continue;
            };
            if live.live_revision[i] != rev as u32 || !h.missed[i] {
                continue;
            }
            if protected[h.class[i] as usize] {
                arrivals.entry("protected").or_default().push((q, i));
            }
            if h.kind[i] == canary {
                arrivals.entry("canary").or_default().push((q, i));
            }
        }
        let crossed = |key: &str, threshold: Option<u64>| {
            let mut a = arrivals.get(key).cloned().unwrap_or_default();
            a.sort_unstable();
            threshold.and_then(|t| a.get(t as usize).copied())
        };
        let first = [
            crossed("protected", breach.protected_misses),
            crossed("canary", breach.canary_misses),
        ]
        .into_iter()
        .flatten()
        .min();
        w.rollback_latency_seconds = first.map(|(us, _)| (to - us) / 1_000_000);
        let object_arrived = first.and_then(|(_, i)| object_arrivals.get(h.origin(i).0)).filter(|t| **t <= ended);
        w.rollback_latency_from_object_seconds = object_arrived.map(|t| (ended - *t).num_seconds());
    }
}

/// Windows counted by how they ended, and each as a share of all.
pub fn shares(windows: &[BoundedWindow]) -> BTreeMap<&'static str, (usize, f64)> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for w in windows {
        *counts.entry(w.ending.as_str()).or_default() += 1;
    }
    let n = windows.len().max(1) as f64;
    counts.into_iter().map(|(k, c)| (k, (c, c as f64 / n))).collect()
}
