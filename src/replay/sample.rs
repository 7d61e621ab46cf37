//! Generated regression history for demos, tests and the scale benchmark
//! (`scoregate sample-data`).
//!
//! Items carry a hidden severity that drives both their features and their
//! outcomes, so features and outcomes are correlated the way real review
//! history is. Board overrides and misses concentrate on items with a wide
//! blast radius, signing-surface impact or repeated canary drift: exactly
//! what a baseline profile that under-weights them ranks too low. Windows
//! vary in size and capacity (some capacities exceed the window), a few items
//! tie exactly on every feature, a sprinkle of feature values is null, and a
//! few rows belong to another cohort. The output is a pure function of
//! (rows, seed): one parquet file per day, partitioned `date=YYYY-MM-DD/`.

use crate::profile::KINDS;
use crate::store::{Store, StoreError};
use arrow::array::{ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Duration, TimeZone, Utc};
use object_store::path::Path as ObjPath;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::Arc;

/// Protected classes of the sample pipeline, and the ordinary ones.
pub const PROTECTED_CLASSES: [&str; 3] = ["high-blast-radius", "payments-ledger", "signing-surface"];
pub const ORDINARY_CLASSES: [&str; 4] = ["build-tooling", "docs-and-config", "observability", "test-infra"];
/// The cohort whose rows are mixed in and must be ignored.
pub const OTHER_COHORT: &str = "identity-platform";

#[derive(Clone, Debug)]
pub struct SampleSpec {
    pub cohort: String,
    pub rows: u64,
    pub seed: u64,
    /// Days the windows spread over, one file per day.
    pub days: u32,
    pub start: DateTime<Utc>,
    /// Generate live-use history instead: rows queued under this revision in [from, to).
    pub live: Option<LiveSpec>,
    /// Share of items left unjudged (`actionable` null), more among items of
    /// low visible severity, which the live profile ranks low. 0: none.
    pub unjudged: f64,
}

/// Live-use history: what the review queue saw while `revision` ordered it.
#[derive(Clone, Debug)]
pub struct LiveSpec {
    pub revision: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl SampleSpec {
    pub fn new(cohort: &str, rows: u64, seed: u64) -> SampleSpec {
        SampleSpec {
            cohort: cohort.into(),
            rows,
            seed,
            days: 30,
            start: Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap(),
            live: None,
            unjudged: 0.0,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleSummary {
    pub files: usize,
    pub rows: u64,
    pub windows: u64,
    pub other_cohort_rows: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("sample-data: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Window sizes (items of the cohort) until `rows` is reached.
fn window_sizes(spec: &SampleSpec) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut sizes = Vec::new();
    let mut total = 0u64;
    while total < spec.rows {
        let s = rng.random_range(8u32..=72).min((spec.rows - total) as u32);
        sizes.push(s);
        total += s as u64;
    }
    sizes
}

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn normal(&mut self) -> f64 {
        // Box–Muller.
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }
    fn pick<'a>(&mut self, items: &[(&'a str, f64)]) -> &'a str {
        let total: f64 = items.iter().map(|i| i.1).sum();
        let mut x = self.rng.random::<f64>() * total;
        for (name, w) in items {
            if x < *w {
                return name;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[derive(Default)]
struct Columns {
    item_id: Vec<String>,
    other_cohort: Vec<bool>,
    window_id: Vec<String>,
    window_start: Vec<i64>,
    kind: Vec<&'static str>,
    class: Vec<&'static str>,
    /// `None`: unjudged.
    actionable: Vec<Option<bool>>,
    unjudged_share: f64,
    board_override: Vec<bool>,
    missed: Vec<bool>,
    blast_radius: Vec<Option<f64>>,
    signing_surface_impact: Vec<Option<f64>>,
    canary_drift: Vec<Option<f64>>,
    canary_drift_repeats: Vec<i64>,
    test_flake_rate: Vec<f32>,
    window_capacity: Vec<Option<i32>>,
}

const CLASS_WEIGHTS: [(&str, f64); 7] = [
    ("signing-surface", 0.12),
    ("high-blast-radius", 0.10),
    ("payments-ledger", 0.10),
    ("build-tooling", 0.20),
    ("observability", 0.18),
    ("test-infra", 0.15),
    ("docs-and-config", 0.15),
];
const KIND_WEIGHTS: [(&str, f64); 4] = [
    ("build_regression", 0.35),
    ("dependency_anomaly", 0.25),
    ("canary_finding", 0.25),
    ("rollout_caveat", 0.15),
];

fn static_str(s: &str, options: &[&'static str]) -> &'static str {
    options.iter().find(|o| **o == s).copied().expect("generated from this list")
}

impl Columns {
    #[allow(clippy::too_many_arguments)]
    fn window(
        &mut self,
        g: &mut Gen,
        other_cohort: bool,
        id_prefix: &str,
        window_id: String,
        start: i64,
        size: u32,
        capacity: Option<i32>,
        first_item: u64,
    ) {
        let classes: Vec<&'static str> = CLASS_WEIGHTS.iter().map(|c| c.0).collect();
        for k in 0..size {
            let tie = k > 0 && g.chance(0.01);
            let (class, kind, z, br, ssi, cd, rep, flake) = if tie {
                // An exact tie with the previous item: same class, kind and features.
                let j = self.item_id.len() - 1;
                (
                    self.class[j],
                    self.kind[j],
                    0.0,
                    self.blast_radius[j],
                    self.signing_surface_impact[j],
                    self.canary_drift[j],
                    self.canary_drift_repeats[j],
                    self.test_flake_rate[j],
                )
            } else {
                let class = static_str(g.pick(&CLASS_WEIGHTS), &classes);
                let kind = static_str(g.pick(&KIND_WEIGHTS), &KINDS);
                let z = g.normal();
                let br = (1.0 + 0.9 * z + 0.6 * g.normal() + if class == "high-blast-radius" { 1.1 } else { 0.0 }).exp();
                let ssi = if class == "signing-surface" {
                    sigmoid(1.4 * z + 0.5 * g.normal())
                } else {
                    0.08 * g.rng.random::<f64>()
                };
                let cd = if kind == "canary_finding" {
                    (1.2 + 0.8 * z + 0.5 * g.normal()).max(0.0)
                } else {
                    0.3 * g.normal().abs()
                };
                let rep = if kind == "canary_finding" {
                    (1.5 + 2.2 * z + 1.2 * g.normal()).round().max(0.0) as i64
                } else {
                    g.chance(0.1) as i64
                };
                let flake = (sigmoid(-1.0 - 0.7 * z + g.normal()) as f32).min(1.0);
                let br = (!g.chance(0.004)).then_some((br * 100.0).round() / 100.0);
                let cd = (!g.chance(0.006)).then_some((cd * 1000.0).round() / 1000.0);
                (class, kind, z, br, Some((ssi * 1000.0).round() / 1000.0), cd, rep, flake)
            };
            // Severity drives outcomes; the baseline under-weights these signals.
            let hidden = br.unwrap_or(0.0) > 18.0 || ssi.unwrap_or(0.0) > 0.6 || rep >= 3;
            let actionable = g.chance(sigmoid(1.9 * z - 0.5 + if hidden { 0.8 } else { 0.0 }));
            let missed = actionable && g.chance(if hidden { 0.32 } else { 0.06 });
            let board_override = actionable && g.chance(if hidden { 0.22 } else { 0.03 });
            self.item_id.push(format!("{id_prefix}-{:09}", first_item + k as u64));
            self.other_cohort.push(other_cohort);
            self.window_id.push(window_id.clone());
            self.window_start.push(start);
            self.kind.push(kind);
            self.class.push(class);
            // Drawn only when asked for, so that the default history is unchanged.
            let unjudged = self.unjudged_share > 0.0 && g.chance((2.0 * self.unjudged_share * sigmoid(-1.5 * z)).min(1.0));
            self.actionable.push((!unjudged).then_some(actionable));
            self.board_override.push(board_override);
            self.missed.push(missed);
            self.blast_radius.push(br);
            self.signing_surface_impact.push(ssi);
            self.canary_drift.push(cd);
            self.canary_drift_repeats.push(rep);
            self.test_flake_rate.push(flake);
            self.window_capacity.push(capacity);
        }
    }

    fn batch(self, cohort: &str) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("item_id", DataType::Utf8, false),
            Field::new("cohort", DataType::Utf8, false),
            Field::new("window_id", DataType::Utf8, false),
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("kind", DataType::Utf8, false),
            Field::new("signoff_class", DataType::Utf8, false),
            Field::new("actionable", DataType::Boolean, self.unjudged_share > 0.0),
            Field::new("board_override", DataType::Boolean, false),
            Field::new("missed", DataType::Boolean, false),
            Field::new("blast_radius", DataType::Float64, true),
            Field::new("signing_surface_impact", DataType::Float64, true),
            Field::new("canary_drift", DataType::Float64, true),
            Field::new("canary_drift_repeats", DataType::Int64, false),
            Field::new("test_flake_rate", DataType::Float32, false),
            Field::new("window_capacity", DataType::Int32, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.item_id)),
            Arc::new(
                self.other_cohort
                    .iter()
                    .map(|o| Some(if *o { OTHER_COHORT } else { cohort }))
                    .collect::<StringArray>(),
            ),
            Arc::new(StringArray::from(self.window_id)),
            Arc::new(TimestampMillisecondArray::from(self.window_start).with_timezone("UTC")),
            Arc::new(StringArray::from(self.kind)),
            Arc::new(StringArray::from(self.class)),
            Arc::new(BooleanArray::from(self.actionable)),
            Arc::new(BooleanArray::from(self.board_override)),
            Arc::new(BooleanArray::from(self.missed)),
            Arc::new(Float64Array::from(self.blast_radius)),
            Arc::new(Float64Array::from(self.signing_surface_impact)),
            Arc::new(Float64Array::from(self.canary_drift)),
            Arc::new(Int64Array::from(self.canary_drift_repeats)),
            Arc::new(Float32Array::from(self.test_flake_rate)),
            Arc::new(Int32Array::from(self.window_capacity)),
        ];
        RecordBatch::try_new(schema, cols).expect("columns match the schema")
    }
}

/// One day's file: its object path and parquet bytes.
fn day_file(spec: &SampleSpec, day: u32, windows: &[(usize, u32)], per_day: usize) -> Result<(ObjPath, Vec<u8>, u64, u64), SampleError> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (day as u64 + 1)),
    };
    let date = spec.start + Duration::days(day as i64);
    let step = Duration::seconds(86_400 / per_day.max(1) as i64);
    let mut cols = Columns {
        unjudged_share: spec.unjudged,
        ..Columns::default()
    };
    let mut other = 0u64;
    for (k, &(w, size)) in windows.iter().enumerate() {
        let start = (date + step * k as i32).timestamp_millis();
        let capacity = if g.chance(0.7) {
            Some([10, 12, 15, 20, 25, 30, 80][g.rng.random_range(0..7)])
        } else {
            None
        };
        let first_item = w as u64 * 100;
        cols.window(
            &mut g,
            false,
            "pp",
            format!("{}-{}-w{:06}", spec.cohort, date.format("%Y%m%d"), w),
            start,
            size,
            capacity,
            first_item,
        );
        // About 2% of rows belong to another cohort sharing the prefix.
        if g.chance(0.05) {
            let n = g.rng.random_range(5..=20);
            cols.window(
                &mut g,
                true,
                "ip",
                format!("{OTHER_COHORT}-{}-w{w:06}", date.format("%Y%m%d")),
                start,
                n,
                Some(10),
                first_item,
            );
            other += n as u64;
        }
    }
    let rows = cols.item_id.len() as u64;
    let batch = cols.batch(&spec.cohort);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(65_536))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    let path = ObjPath::from(format!(
        "history/{}/date={}/part-00000.parquet",
        spec.cohort,
        date.format("%Y-%m-%d")
    ));
    Ok((path, out, rows - other, other))
}

/// Generate the sample history into `store` under `history/<cohort>/`.
pub async fn generate(store: &Store, spec: &SampleSpec) -> Result<SampleSummary, SampleError> {
    if let Some(live) = &spec.live {
        return generate_live(store, spec, live).await;
    }
    let sizes = window_sizes(spec);
    let days = (spec.days.max(1) as usize).min(sizes.len());
    // Window w falls on day w·days/nw: every day gets a file when there are enough windows.
    let mut by_day: Vec<Vec<(usize, u32)>> = vec![Vec::new(); days];
    for (w, &size) in sizes.iter().enumerate() {
        by_day[w * days / sizes.len()].push((w, size));
    }
    let per_day = by_day.iter().map(Vec::len).max().unwrap_or(1);
    let files: Vec<Result<_, SampleError>> = by_day
        .par_iter()
        .enumerate()
        .map(|(day, ws)| day_file(spec, day as u32, ws, per_day))
        .collect();
    let mut summary = SampleSummary {
        windows: sizes.len() as u64,
        ..Default::default()
    };
    for f in files {
        let (path, bytes, rows, other) = f?;
        summary.files += 1;
        summary.rows += rows;
        summary.other_cohort_rows += other;
        summary.bytes += bytes.len() as u64;
        store.put(&path, bytes).await?;
    }
    Ok(summary)
}

/// One parquet file of live-use history: windows spread over [from, to),
/// each row carrying `live_revision`, `queued_at` and `signed_off_at` (null
/// when not signed off by `to`), under `history/<cohort>/live/`.
async fn generate_live(store: &Store, spec: &SampleSpec, live: &LiveSpec) -> Result<SampleSummary, SampleError> {
    use arrow::array::TimestampMicrosecondArray;
    let sizes = window_sizes(spec);
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(spec.seed ^ 0x5EED_11FE),
    };
    let span = (live.to - live.from).num_seconds().max(1);
    let step = span / sizes.len().max(1) as i64;
    let mut cols = Columns {
        unjudged_share: spec.unjudged,
        ..Columns::default()
    };
    let mut queued = Vec::new();
    let mut signed = Vec::new();
    for (w, &size) in sizes.iter().enumerate() {
        let start = live.from + Duration::seconds(step * w as i64);
        let capacity = Some([10, 15, 25][g.rng.random_range(0..3)]);
        cols.window(
            &mut g,
            false,
            "lv",
            format!("{}-live-{}-w{w:04}", spec.cohort, live.from.format("%Y%m%dT%H%M")),
            start.timestamp_millis(),
            size,
            capacity,
            w as u64 * 100 + spec.seed % 97 * 1_000_000,
        );
        for _ in 0..size {
            let q = start + Duration::seconds(g.rng.random_range(0..step.max(1)));
            let s = q + Duration::minutes(g.rng.random_range(30..(36 * 60)));
            queued.push(q.timestamp_micros());
            signed.push((s < live.to && !g.chance(0.08)).then(|| s.timestamp_micros()));
        }
    }
    let n = cols.item_id.len();
    let batch = cols.batch(&spec.cohort);
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut arrays = batch.columns().to_vec();
    fields.push(Field::new("live_revision", DataType::Utf8, true));
    arrays.push(Arc::new(StringArray::from(vec![live.revision.as_str(); n])));
    fields.push(Field::new(
        "queued_at",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    ));
    arrays.push(Arc::new(TimestampMicrosecondArray::from(queued).with_timezone("UTC")));
    fields.push(Field::new(
        "signed_off_at",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    ));
    arrays.push(Arc::new(TimestampMicrosecondArray::from(signed).with_timezone("UTC")));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("columns match the schema");
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close()?;
    let path = ObjPath::from(format!(
        "history/{}/live/{}-{}.parquet",
        spec.cohort,
        live.from.format("%Y%m%dT%H%M%SZ"),
        live.to.format("%Y%m%dT%H%M%SZ")
    ));
    let summary = SampleSummary {
        files: 1,
        rows: n as u64,
        windows: sizes.len() as u64,
        other_cohort_rows: 0,
        bytes: out.len() as u64,
    };
    store.put(&path, out).await?;
    Ok(summary)
}
