//! Shared test fixtures: temporary stores, pipeline files and history
//! parquet written with arrow, with knobs for the physical types a writer
//! might choose.

use arrow::array::{ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use scoregate::pipeline::Pipeline;
use scoregate::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const LIVE: &str = r#"{"schema":"scoregate.profile/v1","name":"t-live","features":{"a":{"weight":1.0},"b":{"weight":0.5,"cap":4.0}},"kind_boost":{"build_regression":0.5}}"#;
pub const CANDIDATE: &str = r#"{"schema":"scoregate.profile/v1","name":"t-candidate","features":{"a":{"weight":0.5,"transform":"log1p"},"b":{"weight":2.0}},"class_boost":{"sec":1.5},"rules":[{"feature":"b","op":"gte","value":3.0,"multiply":2.0}]}"#;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One history row; features `a` and `b` (None = null).
#[derive(Clone, Debug)]
pub struct Row {
    pub item_id: String,
    pub cohort: String,
    pub window_id: String,
    pub window_start_us: i64,
    pub kind: String,
    pub class: String,
    /// `None`: nobody judged the item (written as a null).
    pub actionable: Option<bool>,
    pub board_override: bool,
    pub missed: bool,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub capacity: Option<i64>,
}

impl Row {
    pub fn new(id: &str, window: &str, class: &str, a: f64, b: f64, actionable: bool) -> Row {
        Row {
            item_id: id.into(),
            cohort: "c1".into(),
            window_id: window.into(),
            window_start_us: 1_790_000_000_000_000,
            kind: "build_regression".into(),
            class: class.into(),
            actionable: Some(actionable),
            board_override: false,
            missed: false,
            a: Some(a),
            b: Some(b),
            capacity: None,
        }
    }
}

/// Parquet bytes of `rows` (a as float64, b as float32 to exercise conversion).
pub fn parquet_bytes(rows: &[Row]) -> Vec<u8> {
    let batch = batch(rows);
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

pub fn batch(rows: &[Row]) -> RecordBatch {
    let s = |f: &dyn Fn(&Row) -> String| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let schema = Schema::new(vec![
        Field::new("item_id", DataType::Utf8, true),
        Field::new("cohort", DataType::Utf8, true),
        Field::new("window_id", DataType::Utf8, true),
        Field::new("window_start", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("kind", DataType::Utf8, true),
        Field::new("signoff_class", DataType::Utf8, true),
        Field::new("actionable", DataType::Boolean, true),
        Field::new("board_override", DataType::Boolean, true),
        Field::new("missed", DataType::Boolean, true),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float32, true),
        Field::new("window_capacity", DataType::Int64, true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        s(&|r| r.item_id.clone()),
        s(&|r| r.cohort.clone()),
        s(&|r| r.window_id.clone()),
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.window_start_us))),
        s(&|r| r.kind.clone()),
        s(&|r| r.class.clone()),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.actionable))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.board_override)))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.missed)))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.a))),
        Arc::new(Float32Array::from_iter(rows.iter().map(|r| r.b.map(|b| b as f32)))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.capacity))),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).unwrap()
}

/// A batch with one column replaced (for mistyped-column fixtures).
pub fn with_column(batch: &RecordBatch, name: &str, array: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let i = schema.index_of(name).unwrap();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[i] = Field::new(name, array.data_type().clone(), true);
    let mut cols = batch.columns().to_vec();
    cols[i] = array;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// A batch without one column.
pub fn without_column(batch: &RecordBatch, name: &str) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let mut b = batch.clone();
    b.remove_column(i);
    b
}

pub fn batch_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    out
}

/// A temporary store with profiles, history files and a pipeline file.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub pipeline: PathBuf,
}

impl Fixture {
    /// `files`: (object path below `history/c1/`, parquet bytes).
    pub fn new(files: &[(&str, Vec<u8>)]) -> Fixture {
        Fixture::with_profiles(files, LIVE, CANDIDATE)
    }

    pub fn with_profiles(files: &[(&str, Vec<u8>)], live: &str, candidate: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        for (name, bytes) in files {
            let p = store.join("history/c1").join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        std::fs::create_dir_all(store.join("profiles")).unwrap();
        let live = scoregate::profile::Profile::parse("live", live.as_bytes()).unwrap();
        std::fs::write(
            store.join(format!("profiles/sha256-{}.json", live.revision().hex())),
            live.canonical_bytes(),
        )
        .unwrap();
        std::fs::write(dir.path().join("candidate.json"), candidate).unwrap();
        let pipeline = dir.path().join("pipeline.toml");
        std::fs::write(&pipeline, pipeline_text("store", live.revision().as_str(), 3)).unwrap();
        Fixture { dir, pipeline }
    }

    pub fn pipeline(&self) -> Pipeline {
        Pipeline::load(&self.pipeline).unwrap()
    }
    pub fn store(&self) -> Store {
        Store::open(&self.pipeline().store).unwrap()
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

pub fn list_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out.sort();
    out
}

pub fn pipeline_text(store: &str, baseline: &str, capacity: u32) -> String {
    format!(
        r#"cohort = "c1"
store = "{store}"
history = "history/c1"

[replay]
default_capacity = {capacity}
reviewer_throughput_per_hour = 2.0

[policy]
protected_classes = ["sec", "ledger"]
baseline_revision = "{baseline}"
allowed_signers = "allowed_signers"
max_window = "14d"
max_evidence_age = "7d"

[guardrails]
max_protected_misses = 2
max_protected_signoff_p90_hours = 24.0
max_canary_misses = 3
"#
    )
}

/// A copy of the bundled sample store with the bundled pipeline pointing at it.
pub fn sample_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("data-samples/store"), &dir.path().join("store"));
    let text = std::fs::read_to_string(repo().join("pipelines/payments-platform.toml")).unwrap();
    let text = text.replace("store = \"../data-samples/store\"", "store = \"store\"");
    let p = dir.path().join("payments-platform.toml");
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

pub fn int32(v: Vec<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(v))
}

/// A reject commit of cohort c1 on the baseline: the smallest valid commit, for log tests.
pub fn commit(seq: u64, reason: &str) -> scoregate::release::log::Commit {
    use scoregate::release::log::{Commit, Decision};
    let d = scoregate::canonical::Digest::of(b"baseline");
    Commit {
        schema: scoregate::release::log::SCHEMA.into(),
        cohort: "c1".into(),
        seq,
        prev: None,
        now: chrono::DateTime::parse_from_rfc3339("2026-11-03T00:00:00Z").unwrap().into(),
        decision: Decision::Reject,
        prior_revision: d.clone(),
        live_revision: d.clone(),
        trusted_revision: d,
        valid_until: None,
        activated_at: None,
        manifest_id: None,
        manifest_digest: None,
        evidence_digest: None,
        outcome_digest: None,
        signers: vec![],
        window: None,
        guardrails: None,
        readings: None,
        thresholds: None,
        failed_checks: vec![],
        reasons: vec![reason.into()],
        actor: None,
        live_manifest_id: None,
        inbox_object: None,
    }
}

/// An in-memory store that records the order of writes and, optionally,
/// makes every create under one prefix lose to "another writer", or reads
/// one object back with a byte changed (same size, same version) from its
/// second whole read on.
#[derive(Debug, Clone)]
pub struct Hooked(Arc<HookedInner>);

#[derive(Debug)]
pub struct HookedInner {
    inner: object_store::memory::InMemory,
    always_taken: Option<String>,
    writes: std::sync::Mutex<Vec<String>>,
    changes_after_first_read: Option<String>,
    whole_reads: std::sync::atomic::AtomicUsize,
}

impl Hooked {
    /// A copy of the files below `root`; creates under `always_taken` always lose.
    pub async fn copy_of(root: &Path, always_taken: Option<&str>) -> Hooked {
        use object_store::ObjectStoreExt;
        let inner = object_store::memory::InMemory::new();
        for rel in list_files(root) {
            let bytes = std::fs::read(root.join(&rel)).unwrap();
            inner
                .put(&object_store::path::Path::from(rel.as_str()), object_store::PutPayload::from(bytes))
                .await
                .unwrap();
        }
        Hooked(Arc::new(HookedInner {
            inner,
            always_taken: always_taken.map(String::from),
            writes: Default::default(),
            changes_after_first_read: None,
            whole_reads: Default::default(),
        }))
    }
    /// A copy of the files below `root` whose object `path` reads back changed after its first whole read.
    pub async fn changing(root: &Path, path: &str) -> Hooked {
        let Hooked(inner) = Hooked::copy_of(root, None).await;
        let mut inner = Arc::into_inner(inner).expect("just made");
        inner.changes_after_first_read = Some(path.into());
        Hooked(Arc::new(inner))
    }
    pub fn store(&self) -> Store {
        Store::from_object_store(Arc::new(self.clone()), "hooked://")
    }
    /// Every object written, in order.
    pub fn writes(&self) -> Vec<String> {
        self.0.writes.lock().unwrap().clone()
    }
}

impl std::fmt::Display for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hooked")
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for Hooked {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        let taken = self.0.always_taken.as_deref().is_some_and(|p| location.as_ref().starts_with(p));
        if taken && opts.mode == object_store::PutMode::Create {
            return Err(object_store::Error::AlreadyExists {
                path: location.to_string(),
                source: "another writer committed first".into(),
            });
        }
        self.0.writes.lock().unwrap().push(location.to_string());
        self.0.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        let whole = options.range.is_none() && !options.head;
        let result = self.0.inner.get_opts(location, options).await?;
        let changing = self.0.changes_after_first_read.as_deref() == Some(location.as_ref());
        if !(whole && changing && self.0.whole_reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1) {
            return Ok(result);
        }
        let (meta, range) = (result.meta.clone(), result.range.clone());
        let (attributes, extensions) = (result.attributes.clone(), result.extensions.clone());
        let mut bytes = result.bytes().await?.to_vec();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        let stream = futures::stream::once(async move { Ok(bytes::Bytes::from(bytes)) });
        Ok(object_store::GetResult {
            payload: object_store::GetResultPayload::Stream(Box::pin(stream)),
            meta,
            range,
            attributes,
            extensions,
        })
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        self.0.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&object_store::path::Path>) -> object_store::Result<object_store::ListResult> {
        self.0.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.inner.copy_opts(from, to, options).await
    }
}
