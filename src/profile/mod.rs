//! Scoring profiles (`scoregate.profile/v1`): parsing with unknown fields
//! rejected, canonical bytes and revision ids, and the exact scoring
//! arithmetic every replay and consumer must agree on.
//!
//! A profile's revision id is `sha256:` over its RFC 8785 canonical JSON, so it
//! covers every field (the name included) but not whitespace or key order.

pub mod diff;
pub mod stored;

use crate::canonical::{to_jcs, Digest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "scoregate.profile/v1";

/// The review item kinds a history row may carry (SPEC §3).
pub const KINDS: [&str; 4] = ["build_regression", "dependency_anomaly", "canary_finding", "rollout_caveat"];

/// Index of `kind` in [`KINDS`].
pub fn kind_index(kind: &str) -> Option<u8> {
    KINDS.iter().position(|k| *k == kind).map(|i| i as u8)
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile {object}: not a valid scoregate.profile/v1 JSON document: {source}")]
    Json { object: String, source: serde_json::Error },
    #[error("profile {object}: field `{field}`: expected {expected}")]
    Invalid { object: String, field: String, expected: String },
    #[error("profile {object}: its bytes hash to {actual}, not to the revision id {expected} it is stored under")]
    RevisionMismatch { object: String, expected: Digest, actual: Digest },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    #[default]
    Identity,
    Log1p,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Op {
    pub fn holds(self, x: f64, value: f64) -> bool {
        match self {
            Op::Gt => x > value,
            Op::Gte => x >= value,
            Op::Lt => x < value,
            Op::Lte => x <= value,
            Op::Eq => x == value,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<f64>,
    #[serde(default)]
    pub transform: Transform,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub feature: String,
    pub op: Op,
    pub value: f64,
    pub multiply: f64,
}

/// The profile document as written (SPEC §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileDoc {
    pub schema: String,
    pub name: String,
    pub features: BTreeMap<String, FeatureSpec>,
    #[serde(default)]
    pub class_boost: BTreeMap<String, f64>,
    #[serde(default)]
    pub kind_boost: BTreeMap<String, f64>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// A parsed, validated profile with its canonical bytes and revision id.
#[derive(Clone, Debug)]
pub struct Profile {
    doc: ProfileDoc,
    canonical: Vec<u8>,
    revision: Digest,
}

impl Profile {
    /// Parse and validate profile bytes; `object` names them in errors.
    pub fn parse(object: &str, bytes: &[u8]) -> Result<Profile, ProfileError> {
        let json = |source| ProfileError::Json {
            object: object.to_string(),
            source,
        };
        // Canonical bytes come from the document as written, so the revision id
        // covers every field present, defaults and all.
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(json)?;
        let doc: ProfileDoc = serde_json::from_value(value.clone()).map_err(json)?;
        validate(object, &doc)?;
        let canonical = to_jcs(&value);
        let revision = Digest::of(&canonical);
        Ok(Profile { doc, canonical, revision })
    }

    /// Parse bytes stored under `expected` and check that they hash to it.
    pub fn parse_stored(object: &str, bytes: &[u8], expected: &Digest) -> Result<Profile, ProfileError> {
        let profile = Profile::parse(object, bytes)?;
        if &profile.revision != expected {
            return Err(ProfileError::RevisionMismatch {
                object: object.to_string(),
                expected: expected.clone(),
                actual: profile.revision,
            });
        }
        Ok(profile)
    }

    pub fn doc(&self) -> &ProfileDoc {
        &self.doc
    }
    pub fn name(&self) -> &str {
        &self.doc.name
    }
    pub fn revision(&self) -> &Digest {
        &self.revision
    }
    /// RFC 8785 bytes: what is stored under `profiles/sha256-<hex>.json`.
    pub fn canonical_bytes(&self) -> &[u8] {
        &self.canonical
    }
    /// The canonical document as a JSON value, for embedding in artifacts.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.canonical).expect("canonical bytes are JSON")
    }

    /// Every history column this profile reads: weighted features and rule
    /// features, ascending by bytes.
    pub fn feature_columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = self.doc.features.keys().cloned().collect();
        cols.extend(self.doc.rules.iter().map(|r| r.feature.clone()));
        cols.sort();
        cols.dedup();
        cols
    }

    /// Bind the profile to the column order of a feature table and to the
    /// class ids of a history, for fast scoring.
    pub fn compile(&self, columns: &[String], classes: &[String]) -> CompiledProfile {
        let col = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .expect("history was read with this profile's columns")
        };
        // BTreeMap iterates names in ascending byte order: the summation order of SPEC §2.
        let terms = self
            .doc
            .features
            .iter()
            .map(|(name, f)| Term {
                column: col(name),
                weight: f.weight,
                cap: f.cap.unwrap_or(f64::INFINITY),
                log1p: f.transform == Transform::Log1p,
            })
            .collect();
        let class_boost = classes
            .iter()
            .map(|c| self.doc.class_boost.get(c).copied().unwrap_or(0.0))
            .collect();
        let mut kind_boost = [0.0; 4];
        for (i, k) in KINDS.iter().enumerate() {
            kind_boost[i] = self.doc.kind_boost.get(*k).copied().unwrap_or(0.0);
        }
        let rules = self
            .doc
            .rules
            .iter()
            .map(|r| CompiledRule {
                column: col(&r.feature),
                op: r.op,
                value: r.value,
                multiply: r.multiply,
            })
            .collect();
        CompiledProfile {
            terms,
            class_boost,
            kind_boost,
            rules,
        }
    }
}

fn validate(object: &str, doc: &ProfileDoc) -> Result<(), ProfileError> {
    let bad = |field: String, expected: &str| {
        Err(ProfileError::Invalid {
            object: object.to_string(),
            field,
            expected: expected.to_string(),
        })
    };
    if doc.schema != SCHEMA {
        return bad("schema".into(), &format!("\"{SCHEMA}\", found \"{}\"", doc.schema));
    }
    if doc.name.trim().is_empty() {
        return bad("name".into(), "a non-empty name");
    }
    if doc.features.is_empty() {
        return bad("features".into(), "at least one feature");
    }
    for (name, f) in &doc.features {
        if name.is_empty() {
            return bad("features".into(), "non-empty feature names");
        }
        if !f.weight.is_finite() {
            return bad(format!("features.{name}.weight"), "a finite number");
        }
        if let Some(cap) = f.cap {
            if !cap.is_finite() {
                return bad(format!("features.{name}.cap"), "a finite number");
            }
            if f.transform == Transform::Log1p && cap < 0.0 {
                return bad(format!("features.{name}.cap"), "a cap of 0 or more for a log1p feature");
            }
        }
    }
    for (class, b) in &doc.class_boost {
        if !b.is_finite() {
            return bad(format!("class_boost.{class}"), "a finite number");
        }
    }
    for (kind, b) in &doc.kind_boost {
        if kind_index(kind).is_none() {
            return bad(format!("kind_boost.{kind}"), &format!("a kind among {}", KINDS.join(", ")));
        }
        if !b.is_finite() {
            return bad(format!("kind_boost.{kind}"), "a finite number");
        }
    }
    for (i, r) in doc.rules.iter().enumerate() {
        if r.feature.is_empty() {
            return bad(format!("rules[{i}].feature"), "a feature column name");
        }
        if !r.value.is_finite() {
            return bad(format!("rules[{i}].value"), "a finite number");
        }
        if !r.multiply.is_finite() {
            return bad(format!("rules[{i}].multiply"), "a finite number");
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
struct Term {
    column: usize,
    weight: f64,
    cap: f64,
    log1p: bool,
}

#[derive(Clone, Debug)]
struct CompiledRule {
    column: usize,
    op: Op,
    value: f64,
    multiply: f64,
}

/// A profile bound to a feature table's columns and a history's class ids.
#[derive(Clone, Debug)]
pub struct CompiledProfile {
    terms: Vec<Term>,
    class_boost: Vec<f64>,
    kind_boost: [f64; 4],
    rules: Vec<CompiledRule>,
}

/// Why an item's feature value cannot be scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreFault {
    /// `log1p` of a value below 0 (index into the compiled column list).
    NegativeLog1p { column: usize },
    /// The score itself overflowed to ±inf or NaN.
    NonFinite,
}

impl CompiledProfile {
    /// SPEC §2: `(Σ_f w_f·T_f(min(x_f, cap_f)) + class_boost + kind_boost) · Π multiply_r`,
    /// features in ascending byte order of their names, one multiply and one
    /// add per term (Rust never fuses them), then the class boost, then the
    /// kind boost, then rule multipliers in rule order. `feature(c)` is the
    /// raw value of column `c` with null already read as 0.0.
    #[inline]
    pub fn score(&self, feature: impl Fn(usize) -> f64, class: usize, kind: usize) -> Result<f64, ScoreFault> {
        let mut sum = 0.0f64;
        for t in &self.terms {
            let x = feature(t.column).min(t.cap);
            let v = if t.log1p {
                if x < 0.0 {
                    return Err(ScoreFault::NegativeLog1p { column: t.column });
                }
                libm::log1p(x)
            } else {
                x
            };
            let term = t.weight * v;
            sum += term;
        }
        sum += self.class_boost[class];
        sum += self.kind_boost[kind];
        for r in &self.rules {
            if r.op.holds(feature(r.column), r.value) {
                sum *= r.multiply;
            }
        }
        if sum.is_finite() {
            Ok(sum)
        } else {
            Err(ScoreFault::NonFinite)
        }
    }

    /// Whether scoring reads column `c` (a term's or a rule's).
    pub fn uses_column(&self, c: usize) -> bool {
        self.terms.iter().any(|t| t.column == c) || self.rules.iter().any(|r| r.column == c)
    }

    /// The `log1p` terms, as (column, cap): what a sweep may compute once
    /// for several profiles ([`CompiledProfile::score_columns`]).
    pub fn log1p_terms(&self) -> Vec<(usize, f64)> {
        self.terms.iter().filter(|t| t.log1p).map(|t| (t.column, t.cap)).collect()
    }

    /// `log1p(min(x, cap))` of one column, NaN where `min(x, cap)` is below 0:
    /// the transformed values [`CompiledProfile::score_columns`] accepts.
    pub fn log1p_column(values: &[f64], cap: f64) -> Vec<f64> {
        // A short column is not worth filling the memo's 128 KB table.
        if values.len() < 4096 {
            return values.iter().map(|&x| log1p_capped(x, cap)).collect();
        }
        let mut memo = Log1pMemo::default();
        values.iter().map(|&x| memo.log1p_capped(x, cap)).collect()
    }

    /// [`CompiledProfile::score`] for every item of a feature segment at
    /// once, column by column: `columns[c][j]` is feature `c` of item `j`.
    /// Each item's arithmetic is the same operations in the same order, so
    /// the scores are bit for bit those of `score`. `log1p_of(column, cap)`
    /// may give a term's [`CompiledProfile::log1p_column`] computed before.
    /// The error is that of the first item `score` fails on.
    pub fn score_columns<'a>(
        &self,
        columns: &[&[f64]],
        log1p_of: impl Fn(usize, f64) -> Option<&'a [f64]>,
        class: &[u16],
        kind: &[u8],
        out: &mut [f64],
    ) -> Result<(), (usize, ScoreFault)> {
        out.fill(0.0);
        // The first term (in term order) each item failed log1p on.
        let mut negative: Option<Vec<u32>> = None;
        for (ti, t) in self.terms.iter().enumerate() {
            let col = &columns[t.column][..out.len()];
            let owned;
            let v: &[f64] = match (t.log1p, log1p_of(t.column, t.cap)) {
                (false, _) => col,
                (true, Some(cached)) => cached,
                (true, None) => {
                    owned = Self::log1p_column(col, t.cap);
                    &owned
                }
            };
            // `fold`, not `any`: no early exit, so it runs as vector code.
            if t.log1p && v.iter().fold(false, |nan, x| nan | x.is_nan()) {
                let first = negative.get_or_insert_with(|| vec![u32::MAX; out.len()]);
                for (f, x) in first.iter_mut().zip(v) {
                    if x.is_nan() && *f == u32::MAX {
                        *f = ti as u32;
                    }
                }
            }
            match t.log1p {
                true => out.iter_mut().zip(v).for_each(|(o, &x)| *o += t.weight * x),
                false => out.iter_mut().zip(v).for_each(|(o, &x)| *o += t.weight * x.min(t.cap)),
            }
        }
        for ((o, &c), &k) in out.iter_mut().zip(class).zip(kind) {
            *o += self.class_boost[c as usize];
            *o += self.kind_boost[k as usize];
        }
        for r in &self.rules {
            r.apply(columns[r.column], out);
        }
        first_fault(out, negative.as_deref(), &self.terms)
    }
}

/// The last `log1p` results by input bits, in a small direct-mapped table:
/// feature columns often hold few distinct values (counts, rounded
/// readings), and a hit costs a fraction of `log1p`. A hit returns what
/// `log1p` returned for the same bits, so results are unchanged.
struct Log1pMemo {
    inputs: Vec<u64>,
    outputs: Vec<f64>,
}

impl Log1pMemo {
    const SLOTS_LOG2: u32 = 13;
    /// An empty slot. These bits are a NaN, which `min(x, cap)` gives only
    /// for a NaN cap; such an input is computed, never looked up.
    const EMPTY: u64 = u64::MAX;

    /// [`log1p_capped`], from the table when these bits were seen last in their slot.
    #[inline]
    fn log1p_capped(&mut self, x: f64, cap: f64) -> f64 {
        let x = x.min(cap);
        let bits = x.to_bits();
        if bits == Self::EMPTY {
            return log1p_capped(x, cap);
        }
        let slot = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::SLOTS_LOG2)) as usize;
        if self.inputs[slot] != bits {
            self.inputs[slot] = bits;
            self.outputs[slot] = log1p_capped(x, cap);
        }
        self.outputs[slot]
    }
}

impl Default for Log1pMemo {
    fn default() -> Log1pMemo {
        Log1pMemo {
            inputs: vec![Self::EMPTY; 1 << Self::SLOTS_LOG2],
            outputs: vec![0.0; 1 << Self::SLOTS_LOG2],
        }
    }
}

/// `log1p(min(x, cap))`, NaN where `min(x, cap)` is below 0.
#[inline]
fn log1p_capped(x: f64, cap: f64) -> f64 {
    let x = x.min(cap);
    if x < 0.0 {
        f64::NAN
    } else {
        libm::log1p(x)
    }
}

impl CompiledRule {
    /// Multiply every score whose item's feature holds the rule, the
    /// comparison chosen once for the whole column.
    fn apply(&self, column: &[f64], out: &mut [f64]) {
        fn times(out: &mut [f64], column: &[f64], by: f64, holds: impl Fn(f64) -> bool) {
            for (o, &x) in out.iter_mut().zip(column) {
                if holds(x) {
                    *o *= by;
                }
            }
        }
        let (v, by) = (self.value, self.multiply);
        match self.op {
            Op::Gt => times(out, column, by, |x| x > v),
            Op::Gte => times(out, column, by, |x| x >= v),
            Op::Lt => times(out, column, by, |x| x < v),
            Op::Lte => times(out, column, by, |x| x <= v),
            Op::Eq => times(out, column, by, |x| x == v),
        }
    }
}

/// The first item [`CompiledProfile::score`] fails on: its first negative
/// `log1p` term (`negative[j]`, the term index, `u32::MAX` for none), else a
/// score that is not finite.
fn first_fault(out: &[f64], negative: Option<&[u32]>, terms: &[Term]) -> Result<(), (usize, ScoreFault)> {
    let Some(negative) = negative else {
        return match out.iter().position(|x| !x.is_finite()) {
            Some(j) => Err((j, ScoreFault::NonFinite)),
            None => Ok(()),
        };
    };
    let fault = |j: usize| match negative[j] {
        u32::MAX => (!out[j].is_finite()).then_some(ScoreFault::NonFinite),
        ti => Some(ScoreFault::NegativeLog1p {
            column: terms[ti as usize].column,
        }),
    };
    match (0..out.len()).find_map(|j| fault(j).map(|f| (j, f))) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = r#"{
      "schema": "scoregate.profile/v1",
      "name": "payments-review-2026-11",
      "features": {
        "blast_radius":           {"weight": 3.0, "cap": 50.0, "transform": "log1p"},
        "signing_surface_impact": {"weight": 5.0},
        "canary_drift":           {"weight": 2.0},
        "canary_drift_repeats":   {"weight": 0.5, "cap": 10.0}
      },
      "class_boost": {"signing-surface": 4.0},
      "kind_boost":  {"canary_finding": 1.0},
      "rules": [
        {"feature": "canary_drift_repeats", "op": "gte", "value": 3.0, "multiply": 1.5}
      ]
    }"#;

    #[test]
    fn revision_ignores_whitespace_and_key_order_but_not_name() {
        let a = Profile::parse("a", SPEC_EXAMPLE.as_bytes()).unwrap();
        let reordered = r#"{"name":"payments-review-2026-11","rules":[{"value":3,"op":"gte","multiply":1.5,"feature":"canary_drift_repeats"}],
          "kind_boost":{"canary_finding":1},"class_boost":{"signing-surface":4},"schema":"scoregate.profile/v1",
          "features":{"canary_drift_repeats":{"cap":10,"weight":0.5},"canary_drift":{"weight":2},"signing_surface_impact":{"weight":5},
          "blast_radius":{"transform":"log1p","weight":3,"cap":50}}}"#;
        let b = Profile::parse("b", reordered.as_bytes()).unwrap();
        assert_eq!(a.revision(), b.revision());
        let renamed = SPEC_EXAMPLE.replace("payments-review-2026-11", "payments-review-2026-12");
        assert_ne!(a.revision(), Profile::parse("c", renamed.as_bytes()).unwrap().revision());
        assert_eq!(Digest::of(a.canonical_bytes()), *a.revision());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let doc = SPEC_EXAMPLE.replace("\"rules\"", "\"rulez\"");
        let err = Profile::parse("p.json", doc.as_bytes()).unwrap_err();
        assert!(matches!(err, ProfileError::Json { .. }), "{err}");
        assert!(err.to_string().contains("rulez"), "{err}");
        let doc = SPEC_EXAMPLE.replace("\"cap\": 50.0", "\"cap\": 50.0, \"floor\": 1");
        assert!(matches!(
            Profile::parse("p.json", doc.as_bytes()).unwrap_err(),
            ProfileError::Json { .. }
        ));
    }

    #[test]
    fn invalid_values_name_the_field() {
        let doc = SPEC_EXAMPLE.replace("\"canary_finding\": 1.0", "\"canary_findings\": 1.0");
        match Profile::parse("p.json", doc.as_bytes()).unwrap_err() {
            ProfileError::Invalid { field, .. } => assert_eq!(field, "kind_boost.canary_findings"),
            e => panic!("{e}"),
        }
        let doc = SPEC_EXAMPLE.replace("scoregate.profile/v1", "scoregate.profile/v2");
        assert!(matches!(Profile::parse("p.json", doc.as_bytes()).unwrap_err(), ProfileError::Invalid { field, .. } if field == "schema"));
        let doc = SPEC_EXAMPLE.replace("\"op\": \"gte\"", "\"op\": \"ge\"");
        assert!(matches!(
            Profile::parse("p.json", doc.as_bytes()).unwrap_err(),
            ProfileError::Json { .. }
        ));
    }

    #[test]
    fn stored_bytes_must_hash_to_their_id() {
        let p = Profile::parse("a", SPEC_EXAMPLE.as_bytes()).unwrap();
        let other = Digest::of(b"something else");
        assert!(matches!(
            Profile::parse_stored("x", SPEC_EXAMPLE.as_bytes(), &other),
            Err(ProfileError::RevisionMismatch { .. })
        ));
        assert!(Profile::parse_stored("x", SPEC_EXAMPLE.as_bytes(), p.revision()).is_ok());
    }

    #[test]
    fn score_follows_the_spec_formula_in_order() {
        let p = Profile::parse("a", SPEC_EXAMPLE.as_bytes()).unwrap();
        let cols = p.feature_columns();
        assert_eq!(
            cols,
            ["blast_radius", "canary_drift", "canary_drift_repeats", "signing_surface_impact"]
        );
        let classes = vec!["build-tooling".to_string(), "signing-surface".to_string()];
        let c = p.compile(&cols, &classes);
        let x = [80.0, 1.5, 4.0, 0.25];
        let got = c.score(|i| x[i], 1, kind_index("canary_finding").unwrap() as usize).unwrap();
        // By hand, in the normative order: blast_radius, canary_drift, canary_drift_repeats, signing_surface_impact.
        let mut s = 0.0f64;
        s += 3.0 * 50.0f64.ln_1p();
        s += 2.0 * 1.5;
        s += 0.5 * 4.0;
        s += 5.0 * 0.25;
        s += 4.0;
        s += 1.0;
        s *= 1.5;
        assert_eq!(got.to_bits(), s.to_bits());
        // The rule reads the raw value: 12 repeats is capped at 10 for the sum but still triggers.
        let y = [0.0, 0.0, 12.0, 0.0];
        assert_eq!(c.score(|i| y[i], 0, 0).unwrap(), 0.5 * 10.0 * 1.5);
        let neg = [-0.5, 0.0, 0.0, 0.0];
        assert_eq!(c.score(|i| neg[i], 0, 0), Err(ScoreFault::NegativeLog1p { column: 0 }));
    }
    /// The memo gives `log1p_capped`'s bits for every input, repeated or
    /// not, colliding in its slots or not, on either side of the cap and of 0.
    #[test]
    fn log1p_memo_returns_what_log1p_returns() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let palette = [
            0.0,
            -0.0,
            1.0,
            2.5,
            49.99,
            50.0,
            1e6,
            -3.0,
            f64::MIN_POSITIVE,
            f64::from_bits(u64::MAX),
        ];
        let mut memo = Log1pMemo::default();
        for i in 0..200_000 {
            let x = match i % 3 {
                0 => palette[rng.random_range(0..palette.len())],
                1 => (rng.random_range(0..20_000) as f64) / 100.0,
                _ => rng.random::<f64>() * 1e4 - 10.0,
            };
            let cap = if i % 7 == 0 { f64::INFINITY } else { 50.0 };
            assert_eq!(
                memo.log1p_capped(x, cap).to_bits(),
                log1p_capped(x, cap).to_bits(),
                "x = {x}, cap = {cap}"
            );
        }
    }

    /// Column-wise scoring is bit for bit the per-item definition, errors
    /// included: on random features with negative values (log1p faults),
    /// huge values (non-finite sums), rules of every comparison, and both class and kind boosts,
    /// with and without precomputed log1p columns, on short and long segments.
    #[test]
    fn column_scoring_equals_item_scoring_bit_for_bit() {
        use rand::{RngExt, SeedableRng};
        let doc = r#"{"schema": "scoregate.profile/v1", "name": "x",
            "features": {"a": {"weight": 3.0, "cap": 50.0, "transform": "log1p"}, "b": {"weight": -0.7},
                         "c": {"weight": 1e300, "transform": "log1p"}, "d": {"weight": 1e300}},
            "class_boost": {"k1": 2.5}, "kind_boost": {"canary_finding": 1.0},
            "rules": [{"feature": "b", "op": "gte", "value": 3.0, "multiply": 1.5},
                      {"feature": "a", "op": "lt", "value": 10.0, "multiply": 0.5},
                      {"feature": "b", "op": "gt", "value": 90.0, "multiply": 2.0},
                      {"feature": "c", "op": "lte", "value": 0.0, "multiply": 3.0},
                      {"feature": "d", "op": "eq", "value": 1e308, "multiply": 0.25}]}"#;
        let p = Profile::parse("x", doc.as_bytes()).unwrap();
        let names = ["a", "b", "c", "d"].map(String::from);
        let compiled = p.compile(&names, &["k0".into(), "k1".into()]);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let mut seen = [0; 3];
        for round in 0..200 {
            // Every fourth round is a long segment with about one fault per
            // column, so that faults land anywhere in it.
            let (n, rate) = match round % 4 {
                0 => {
                    let n = rng.random_range(2000..7000);
                    (n, 50.0 / n as f64)
                }
                _ => (rng.random_range(1..40), 1.0),
            };
            let mut col = |neg: f64, big: f64| -> Vec<f64> {
                let (neg, big) = (neg * rate, big * rate);
                (0..n)
                    .map(|_| match rng.random::<f64>() {
                        u if u < neg => -rng.random::<f64>(),
                        u if u < neg + big => 1e308,
                        _ => rng.random::<f64>() * 100.0,
                    })
                    .collect()
            };
            let columns = [col(0.02, 0.0), col(0.0, 0.0), col(0.02, 0.02), col(0.0, 0.02)];
            let class: Vec<u16> = (0..n).map(|_| rng.random_range(0..2)).collect();
            let kind: Vec<u8> = (0..n).map(|_| rng.random_range(0..4)).collect();
            let by_item: Vec<_> = (0..n)
                .map(|j| compiled.score(|c| columns[c][j], class[j] as usize, kind[j] as usize))
                .collect();
            let want = by_item.iter().enumerate().find_map(|(j, r)| r.as_ref().err().map(|e| (j, *e)));
            seen[match want {
                None => 0,
                Some((_, ScoreFault::NonFinite)) => 1,
                Some(_) => 2,
            }] += 1;
            let cached: Vec<Vec<f64>> = compiled
                .log1p_terms()
                .iter()
                .map(|&(c, cap)| CompiledProfile::log1p_column(&columns[c], cap))
                .collect();
            let terms = compiled.log1p_terms();
            for use_cache in [false, true] {
                let mut out = vec![0.0; n];
                let of = |c: usize, cap: f64| {
                    let k = terms.iter().position(|&t| t == (c, cap))?;
                    use_cache.then(|| cached[k].as_slice())
                };
                let views: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
                let got = compiled.score_columns(&views, of, &class, &kind, &mut out);
                assert_eq!(got.err(), want, "round {round}");
                if want.is_none() {
                    let bits: Vec<u64> = by_item.iter().map(|r| r.as_ref().unwrap().to_bits()).collect();
                    assert_eq!(out.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), bits, "round {round}");
                }
            }
        }
        assert!(seen.iter().all(|&k| k > 10), "scored, non-finite and negative rounds: {seen:?}");
    }
}
