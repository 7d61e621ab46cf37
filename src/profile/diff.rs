//! The weight diff of two profiles (README "The evidence page"): which
//! features, caps, transforms, class and kind boosts and rules a candidate
//! adds, removes or changes against live, in words a release manager reads.
//!
//! Entries are ordered by part (features, class boosts, kind boosts, rules),
//! then by key bytes, so the diff is a pure function of the two documents.

use super::{FeatureSpec, Op, ProfileDoc, Rule, Transform};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference: `live` is `None` when added, `candidate` when removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// "feature", "class boost", "kind boost" or "rule".
    pub part: &'static str,
    pub key: String,
    pub kind: ChangeKind,
    pub live: Option<String>,
    pub candidate: Option<String>,
}

/// Every difference between `live` and `candidate`; empty when they score alike.
pub fn diff(live: &ProfileDoc, candidate: &ProfileDoc) -> Vec<Change> {
    let mut out = Vec::new();
    keyed(
        "feature",
        &describe(&live.features, feature),
        &describe(&candidate.features, feature),
        &mut out,
    );
    let boost = |v: &f64| format!("{v:+}");
    keyed(
        "class boost",
        &describe(&live.class_boost, boost),
        &describe(&candidate.class_boost, boost),
        &mut out,
    );
    keyed(
        "kind boost",
        &describe(&live.kind_boost, boost),
        &describe(&candidate.kind_boost, boost),
        &mut out,
    );
    keyed("rule", &rules(&live.rules), &rules(&candidate.rules), &mut out);
    out
}

fn describe<T>(m: &BTreeMap<String, T>, f: impl Fn(&T) -> String) -> BTreeMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), f(v))).collect()
}

/// "weight 0.5, cap 4, log1p".
fn feature(s: &FeatureSpec) -> String {
    let mut words = format!("weight {}", s.weight);
    if let Some(cap) = s.cap {
        words += &format!(", cap {cap}");
    }
    if s.transform == Transform::Log1p {
        words += ", log1p";
    }
    words
}

/// Rules keyed by their condition ("b ≥ 3"), valued by their effect ("× 2");
/// a repeated condition gets "(2nd)", "(3rd)"… so none is lost.
fn rules(rules: &[Rule]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in rules {
        let op = match r.op {
            Op::Gt => ">",
            Op::Gte => "≥",
            Op::Lt => "<",
            Op::Lte => "≤",
            Op::Eq => "=",
        };
        let base = format!("{} {op} {}", r.feature, r.value);
        let mut key = base.clone();
        let mut n = 1;
        while out.contains_key(&key) {
            n += 1;
            key = format!("{base} ({n})");
        }
        out.insert(key, format!("× {}", r.multiply));
    }
    out
}

fn keyed(part: &'static str, live: &BTreeMap<String, String>, cand: &BTreeMap<String, String>, out: &mut Vec<Change>) {
    let keys: BTreeSet<&String> = live.keys().chain(cand.keys()).collect();
    for key in keys {
        let (l, c) = (live.get(key), cand.get(key));
        let kind = match (l, c) {
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Removed,
            (Some(a), Some(b)) if a != b => ChangeKind::Changed,
            _ => continue,
        };
        out.push(Change {
            part,
            key: key.clone(),
            kind,
            live: l.cloned(),
            candidate: c.cloned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ProfileDoc {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn features_boosts_and_rules_are_added_removed_or_changed() {
        let live = doc(
            r#"{"schema":"scoregate.profile/v1","name":"l","features":{"a":{"weight":1.0},"b":{"weight":0.5,"cap":4.0}},"kind_boost":{"build_regression":0.5},"rules":[{"feature":"b","op":"gte","value":3.0,"multiply":2.0}]}"#,
        );
        let cand = doc(
            r#"{"schema":"scoregate.profile/v1","name":"c","features":{"a":{"weight":0.5,"transform":"log1p"},"c":{"weight":2.0}},"class_boost":{"sec":1.5},"rules":[{"feature":"b","op":"gte","value":3.0,"multiply":1.5},{"feature":"a","op":"lt","value":0.0,"multiply":3.0}]}"#,
        );
        let d = diff(&live, &cand);
        let seen: Vec<(&str, &str, ChangeKind)> = d.iter().map(|c| (c.part, c.key.as_str(), c.kind)).collect();
        assert_eq!(
            seen,
            vec![
                ("feature", "a", ChangeKind::Changed),
                ("feature", "b", ChangeKind::Removed),
                ("feature", "c", ChangeKind::Added),
                ("class boost", "sec", ChangeKind::Added),
                ("kind boost", "build_regression", ChangeKind::Removed),
                ("rule", "a < 0", ChangeKind::Added),
                ("rule", "b ≥ 3", ChangeKind::Changed),
            ]
        );
        assert_eq!(d[0].live.as_deref(), Some("weight 1"));
        assert_eq!(d[0].candidate.as_deref(), Some("weight 0.5, log1p"));
        assert_eq!(d[1].live.as_deref(), Some("weight 0.5, cap 4"));
        assert_eq!(d[6].candidate.as_deref(), Some("× 1.5"));
        assert!(diff(&live, &live).is_empty());
    }
}
