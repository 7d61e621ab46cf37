//! Guardrail readings over the live window (README "The cycle"): items whose
//! `live_revision` is the live bounded revision and whose `queued_at` is in
//! [activation, now]: protected misses, protected signoff p90 hours and
//! canary misses.

use crate::error::Error;
use crate::pipeline::{Guardrails, Pipeline};
use crate::release::log::{Bounded, LiveState, Readings};
use crate::replay::history::prune::LiveWindow;
use crate::replay::history::{History, HistoryQuery};
use crate::replay::nearest_rank_f64;
use crate::store::Store;
use chrono::{DateTime, Utc};

/// Guardrail readings over the live window: items whose `live_revision` is
/// the live bounded revision and whose `queued_at` is in [activation, now].
pub async fn live_readings(pipeline: &Pipeline, store: &Store, bounded: &Bounded, now: DateTime<Utc>) -> Result<Readings, Error> {
    let h = window_history(pipeline, store, bounded, now).await?;
    Ok(readings_of(pipeline, &h, bounded, now))
}

/// The cohort's history with the live-use columns, no features.
pub async fn live_history(pipeline: &Pipeline, store: &Store) -> Result<History, Error> {
    Ok(History::read(store, &pipeline.history, &live_query(pipeline, None), None).await?)
}

/// What [`live_history`] reads, pruned to the row groups whose statistics
/// allow rows of the bounded window up to `now` (README "Incremental
/// cycles"): its readings are those of the whole history, but only footers
/// and those row groups are fetched. Outcome reports, which also need the
/// reference period, read the whole history.
pub async fn window_history(pipeline: &Pipeline, store: &Store, bounded: &Bounded, now: DateTime<Utc>) -> Result<History, Error> {
    let window = LiveWindow {
        revision: bounded.revision.to_string(),
        queued_from_us: bounded.activated_at.timestamp_micros(),
        queued_to_us: now.timestamp_micros(),
    };
    Ok(History::read(store, &pipeline.history, &live_query(pipeline, Some(window)), None).await?)
}

fn live_query(pipeline: &Pipeline, live_window: Option<LiveWindow>) -> HistoryQuery {
    HistoryQuery {
        cohort: pipeline.cohort.clone(),
        features: vec![],
        nonnegative: vec![],
        live_columns: true,
        outcomes_optional: false,
        live_window,
    }
}

/// The readings over an already-read history (read with live columns).
pub fn readings_of(pipeline: &Pipeline, h: &History, bounded: &Bounded, now: DateTime<Utc>) -> Readings {
    let mut r = Readings {
        items: 0,
        protected_misses: 0,
        protected_signoff_p90_hours: None,
        canary_misses: 0,
    };
    let Some(live) = h.live.as_ref() else { return r };
    let Some(rev) = live.revisions.iter().position(|x| x == bounded.revision.as_str()) else {
        return r;
    };
    let protected: Vec<bool> = h.classes.iter().map(|c| pipeline.policy.protected_classes.contains(c)).collect();
    let canary = crate::profile::kind_index("canary_finding").expect("a known kind");
    let (from, to) = (bounded.activated_at.timestamp_micros(), now.timestamp_micros());
    let mut hours = Vec::new();
    for i in 0..h.len() {
        let Some(q) = live.queued_at[i] else { continue };
        if live.live_revision[i] != rev as u32 || q < from || q > to {
            continue;
        }
        r.items += 1;
        let is_protected = protected[h.class[i] as usize];
        if is_protected {
            if h.missed[i] {
                r.protected_misses += 1;
            }
            // An item not signed off by now ages until now: a sign-off later
            // than now has not happened yet, so a cycle re-run for a past now
            // decides exactly as it would have then.
            let done = match live.signed_off_at[i] {
                Some(s) if s <= to => s,
                _ => to,
            };
            hours.push((done - q) as f64 / 3_600_000_000.0);
        }
        if h.kind[i] == canary && h.missed[i] {
            r.canary_misses += 1;
        }
    }
    r.protected_signoff_p90_hours = nearest_rank_f64(&mut hours, 90);
    r
}

/// README "Blind windows" (SPEC §7): the live bounded window is blind when,
/// once `data_grace` has passed since activation, it holds fewer than
/// `min_live_items` rows. Returns what a person reads, or `None`.
pub fn blind(pipeline: &Pipeline, b: &Bounded, r: &Readings, now: DateTime<Utc>) -> Option<String> {
    let rule = &pipeline.blindness;
    let grace_over = b.activated_at + rule.data_grace;
    (now >= grace_over && r.items < rule.min_live_items).then(|| {
        format!(
            "{} live-window items, fewer than min_live_items {}, {} h after activation at {} (data_grace {} h)",
            r.items,
            rule.min_live_items,
            (now - b.activated_at).num_hours(),
            b.activated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            rule.data_grace.num_hours()
        )
    })
}

/// The guardrails in force and their latest readings, for `status`.
pub async fn current_readings(
    pipeline: &Pipeline,
    store: &Store,
    state: &LiveState,
    now: DateTime<Utc>,
) -> Result<Option<(Readings, Guardrails)>, Error> {
    match &state.bounded {
        Some(b) => Ok(Some((live_readings(pipeline, store, b, now).await?, b.guardrails))),
        None => Ok(None),
    }
}
