//! Every byte scoregate reads or writes goes through `object_store`: a local
//! directory by default, or `s3://`, `gs://`, `az://`, `memory://` URLs.
//!
//! [`Store`] wraps one object store with the operations scoregate needs:
//! whole-object reads, plain writes, put-if-absent creates (the commit
//! primitive) and immutable content-addressed writes. Errors are typed by
//! meaning ([`StoreError::NotFound`], [`StoreError::AlreadyExists`], …) and
//! name the store URL (never a secret) and the object path.

pub mod layout;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjPath;
use object_store::{local::LocalFileSystem, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use url::Url;

/// Where a store lives, as a pipeline or a flag names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A local directory (the default for plain paths).
    Local(PathBuf),
    /// `s3://`, `gs://`, `az://`/`abfs://`, `memory://` or `file://`.
    Url(Url),
}

impl StoreLocation {
    /// Parse a store string; a plain path is resolved against `base`.
    pub fn parse(s: &str, base: &Path) -> Result<StoreLocation, String> {
        if s.trim().is_empty() {
            return Err("a local path or a URL such as s3://bucket/prefix".into());
        }
        if let Some((scheme, _)) = s.split_once("://") {
            let url = Url::parse(s).map_err(|e| format!("a valid URL ({e})"))?;
            return match scheme {
                "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" | "azure" | "memory" => Ok(StoreLocation::Url(url)),
                "file" => url
                    .to_file_path()
                    .map(StoreLocation::Local)
                    .map_err(|_| "a file:// URL with an absolute path".into()),
                other => Err(format!("a local path or an s3://, gs://, az:// or memory:// URL, not `{other}://`")),
            };
        }
        let p = Path::new(s);
        Ok(StoreLocation::Local(if p.is_absolute() {
            p.to_path_buf()
        } else {
            lexical_join(base, p)
        }))
    }

    /// The location as shown to people: paths as given, URLs without credentials or query.
    pub fn display(&self) -> String {
        match self {
            StoreLocation::Local(p) => p.display().to_string(),
            StoreLocation::Url(u) => {
                let mut u = u.clone();
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.set_query(None);
                u.set_fragment(None);
                u.to_string()
            }
        }
    }
}

/// `base/rel` with `.` dropped and `dir/..` folded, without touching the
/// filesystem, so messages show `data-samples/store`, not `pipelines/../data-samples/store`.
fn lexical_join(base: &Path, rel: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {store}: cannot open it: {message}")]
    Open { store: String, message: String },
    #[error("store {store}: object {path} does not exist")]
    NotFound { store: String, path: String },
    #[error("store {store}: object {path} already exists")]
    AlreadyExists { store: String, path: String },
    #[error("store {store}: object {path} already exists with different bytes; content-addressed objects never change")]
    Conflict { store: String, path: String },
    #[error("store {store}: object {path} changed while it was read ({detail})")]
    Changed { store: String, path: String, detail: String },
    #[error("store {store}: the bucket or container does not exist ({cause})")]
    NoBucket { store: String, cause: String },
    #[error("store {store}: access denied to {op} {path}; check the credentials in the environment ({cause})")]
    Denied {
        store: String,
        op: &'static str,
        path: String,
        cause: String,
    },
    #[error("store {store}: cannot reach the endpoint ({cause})")]
    Unreachable { store: String, cause: String },
    #[error("store {store}: {op} {path} timed out ({cause})")]
    Timeout {
        store: String,
        op: &'static str,
        path: String,
        cause: String,
    },
    #[error("store {store}: {op} {path}: {cause}")]
    Io {
        store: String,
        op: &'static str,
        path: String,
        cause: String,
        #[source]
        source: Box<object_store::Error>,
    },
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

/// A short cause for a cloud error: the service's own code and message when
/// it sent one, else the innermost error. Never includes request headers, so
/// never a credential.
fn cause_of(e: &object_store::Error) -> String {
    let text = e.to_string();
    if let (Some(code), Some(message)) = (between(&text, "<Code>", "</Code>"), between(&text, "<Message>", "</Message>")) {
        return format!("{code}: {message}");
    }
    let mut deepest: &dyn std::error::Error = e;
    while let Some(s) = deepest.source() {
        deepest = s;
    }
    let mut cause = deepest.to_string();
    if let Some(status) = between(&text, "status code: ", ":") {
        cause = format!("HTTP {status}: {cause}");
    }
    cause.chars().take(300).collect()
}

/// One object store plus the display name used in every message.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    name: String,
}

fn memory_stores() -> &'static Mutex<HashMap<String, Arc<InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

impl Store {
    /// Open a store. `memory://NAME` stores live as long as the process and
    /// are shared by every open of the same name. Credentials, region and
    /// endpoint of cloud stores come from the standard environment variables.
    pub fn open(location: &StoreLocation) -> Result<Store, StoreError> {
        let name = location.display();
        let open_err = |message: String| StoreError::Open {
            store: name.clone(),
            message,
        };
        let inner: Arc<dyn ObjectStore> = match location {
            StoreLocation::Local(dir) => {
                if !dir.is_dir() {
                    return Err(open_err("no such directory".into()));
                }
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(|e| open_err(e.to_string()))?)
            }
            StoreLocation::Url(url) => match url.scheme() {
                "memory" => {
                    let key = url.as_str().trim_end_matches('/').to_string();
                    let mem = memory_stores()
                        .lock()
                        .expect("memory store registry")
                        .entry(key)
                        .or_insert_with(|| Arc::new(InMemory::new()))
                        .clone();
                    mem
                }
                _ => cloud(url).map_err(open_err)?,
            },
        };
        Ok(Store { inner, name })
    }

    /// Open a local directory, creating it when missing.
    pub fn open_local_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            store: dir.display().to_string(),
            message: e.to_string(),
        })?;
        Store::open(&StoreLocation::Local(dir.to_path_buf()))
    }

    /// Wrap an existing object store (tests, embedding).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, name: impl Into<String>) -> Store {
        Store { inner, name: name.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Classify an object_store error by meaning. object_store 0.14 reports
    /// most HTTP failures as `Generic`, so the service's error code and the
    /// transport's failure are read here, once, and nowhere else.
    fn io(&self, op: &'static str, path: &ObjPath, source: object_store::Error) -> StoreError {
        let store = self.name.clone();
        let path_s = path.to_string();
        match source {
            object_store::Error::NotFound { .. } if !source.to_string().contains("NoSuchBucket") => {
                StoreError::NotFound { store, path: path_s }
            }
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
                StoreError::AlreadyExists { store, path: path_s }
            }
            source => {
                // The whole chain: transport failures sit in the innermost sources.
                let mut text = source.to_string();
                let mut next = std::error::Error::source(&source);
                while let Some(s) = next {
                    text.push_str(" | ");
                    text.push_str(&s.to_string());
                    next = s.source();
                }
                let cause = cause_of(&source);
                if text.contains("NoSuchBucket")
                    || text.contains("ContainerNotFound")
                    || text.contains("The specified bucket does not exist")
                {
                    StoreError::NoBucket { store, cause }
                } else if matches!(
                    source,
                    object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
                ) || [
                    "403 Forbidden",
                    "401 Unauthorized",
                    "InvalidAccessKeyId",
                    "SignatureDoesNotMatch",
                    "AccessDenied",
                ]
                .iter()
                .any(|m| text.contains(m))
                {
                    StoreError::Denied {
                        store,
                        op,
                        path: path_s,
                        cause,
                    }
                } else if text.contains("timed out") || text.contains("Timeout") && !text.contains("RequestTimeTooSkewed") {
                    StoreError::Timeout {
                        store,
                        op,
                        path: path_s,
                        cause,
                    }
                } else if [
                    "Connection refused",
                    "tcp connect error",
                    "dns error",
                    "error trying to connect",
                    "No route to host",
                ]
                .iter()
                .any(|m| text.contains(m))
                {
                    StoreError::Unreachable { store, cause }
                } else {
                    StoreError::Io {
                        store,
                        op,
                        path: path_s,
                        cause,
                        source: Box::new(source),
                    }
                }
            }
        }
    }

    /// The whole object with its metadata as read.
    pub async fn get_with_meta(&self, path: &ObjPath) -> Result<(ObjectMeta, Bytes), StoreError> {
        let res = self.inner.get(path).await.map_err(|e| self.io("read", path, e))?;
        let meta = res.meta.clone();
        let bytes = res.bytes().await.map_err(|e| self.io("read", path, e))?;
        Ok((meta, bytes))
    }

    /// Bytes `range` of an object, with its metadata as read. With `e_tag`,
    /// an object that no longer has it is [`StoreError::Changed`].
    pub async fn get_range(
        &self,
        path: &ObjPath,
        range: object_store::GetRange,
        e_tag: Option<&str>,
    ) -> Result<(ObjectMeta, Bytes), StoreError> {
        let options = object_store::GetOptions {
            range: Some(range),
            if_match: e_tag.map(str::to_string),
            ..Default::default()
        };
        let changed = |detail: String| StoreError::Changed {
            store: self.name.clone(),
            path: path.to_string(),
            detail,
        };
        let res = match self.inner.get_opts(path, options).await {
            Err(object_store::Error::Precondition { source, .. }) => return Err(changed(source.to_string())),
            other => other.map_err(|e| self.io("read", path, e))?,
        };
        let meta = res.meta.clone();
        let bytes = res.bytes().await.map_err(|e| self.io("read", path, e))?;
        Ok((meta, bytes))
    }

    pub async fn get(&self, path: &ObjPath) -> Result<Bytes, StoreError> {
        Ok(self.get_with_meta(path).await?.1)
    }

    /// The object, or `None` when it does not exist.
    pub async fn get_opt(&self, path: &ObjPath) -> Result<Option<Bytes>, StoreError> {
        match self.get(path).await {
            Ok(b) => Ok(Some(b)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Write (or overwrite) an object.
    pub async fn put(&self, path: &ObjPath, bytes: impl Into<Bytes>) -> Result<(), StoreError> {
        self.inner
            .put(path, PutPayload::from(bytes.into()))
            .await
            .map_err(|e| self.io("write", path, e))?;
        Ok(())
    }

    /// Create an object only if no object exists at `path`; a lost race is
    /// [`StoreError::AlreadyExists`]. Atomic on every backend scoregate supports.
    pub async fn put_if_absent(&self, path: &ObjPath, bytes: impl Into<Bytes>) -> Result<(), StoreError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.inner
            .put_opts(path, PutPayload::from(bytes.into()), opts)
            .await
            .map_err(|e| self.io("create", path, e))?;
        Ok(())
    }

    /// Write a content-addressed object: created if absent, accepted if the
    /// same bytes are already there, [`StoreError::Conflict`] otherwise.
    /// Returns whether it was newly written.
    pub async fn put_immutable(&self, path: &ObjPath, bytes: Bytes) -> Result<bool, StoreError> {
        match self.put_if_absent(path, bytes.clone()).await {
            Ok(()) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => {
                if self.get(path).await? == bytes {
                    Ok(false)
                } else {
                    Err(StoreError::Conflict {
                        store: self.name.clone(),
                        path: path.to_string(),
                    })
                }
            }
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&self, path: &ObjPath) -> Result<(), StoreError> {
        self.inner.delete(path).await.map_err(|e| self.io("delete", path, e))
    }

    /// Objects directly in the folder `prefix` (not below it), sorted by path bytes.
    pub async fn list_dir(&self, prefix: Option<&ObjPath>) -> Result<Vec<ObjectMeta>, StoreError> {
        let root = ObjPath::from("");
        let res = self
            .inner
            .list_with_delimiter(prefix)
            .await
            .map_err(|e| self.io("list", prefix.unwrap_or(&root), e))?;
        let mut all = res.objects;
        all.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
        Ok(all)
    }

    /// Every object below `prefix`, sorted by path bytes.
    pub async fn list(&self, prefix: &ObjPath) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut all: Vec<ObjectMeta> = self
            .inner
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| self.io("list", prefix, e))?;
        all.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
        Ok(all)
    }
}

/// Timeouts and retries for cloud stores: object_store's client options,
/// with scoregate's defaults, each overridable by an environment variable.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreTuning {
    /// Whole-request timeout (`SCOREGATE_STORE_TIMEOUT`, default 30s).
    pub timeout: std::time::Duration,
    /// Connection timeout (`SCOREGATE_STORE_CONNECT_TIMEOUT`, default 5s).
    pub connect_timeout: std::time::Duration,
    /// Retries of a failed request (`SCOREGATE_STORE_RETRIES`, default 3).
    pub retries: usize,
    /// No retry starts later than this after the first attempt (`SCOREGATE_STORE_RETRY_TIMEOUT`, default 30s).
    pub retry_timeout: std::time::Duration,
}

impl Default for StoreTuning {
    fn default() -> Self {
        StoreTuning {
            timeout: std::time::Duration::from_secs(30),
            connect_timeout: std::time::Duration::from_secs(5),
            retries: 3,
            retry_timeout: std::time::Duration::from_secs(30),
        }
    }
}

impl StoreTuning {
    /// The defaults, overridden by `SCOREGATE_STORE_*` variables where set.
    pub fn from_env() -> Result<StoreTuning, String> {
        let mut t = StoreTuning::default();
        let duration = |name: &str, into: &mut std::time::Duration| -> Result<(), String> {
            if let Ok(v) = std::env::var(name) {
                *into = humantime::parse_duration(&v).map_err(|e| format!("{name}={v}: expected a duration such as 30s ({e})"))?;
            }
            Ok(())
        };
        duration("SCOREGATE_STORE_TIMEOUT", &mut t.timeout)?;
        duration("SCOREGATE_STORE_CONNECT_TIMEOUT", &mut t.connect_timeout)?;
        duration("SCOREGATE_STORE_RETRY_TIMEOUT", &mut t.retry_timeout)?;
        if let Ok(v) = std::env::var("SCOREGATE_STORE_RETRIES") {
            t.retries = v
                .parse()
                .map_err(|_| format!("SCOREGATE_STORE_RETRIES={v}: expected a whole number"))?;
        }
        Ok(t)
    }

    fn retry(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            max_retries: self.retries,
            retry_timeout: self.retry_timeout,
            ..Default::default()
        }
    }
}

fn cloud(url: &Url) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
    use object_store::ClientConfigKey;
    let t = StoreTuning::from_env()?;
    let timeout = humantime::format_duration(t.timeout).to_string();
    let connect = humantime::format_duration(t.connect_timeout).to_string();
    // Client settings go in through with_config so the ones from the
    // environment (such as AWS_ALLOW_HTTP) are kept, not replaced.
    let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match url.scheme() {
        "s3" | "s3a" => AmazonS3Builder::from_env()
            .with_url(url.as_str())
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), &timeout)
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), &connect)
            .with_retry(t.retry())
            .build()
            .map(|s| Arc::new(s) as _),
        "gs" => GoogleCloudStorageBuilder::from_env()
            .with_url(url.as_str())
            .with_config(GoogleConfigKey::Client(ClientConfigKey::Timeout), &timeout)
            .with_config(GoogleConfigKey::Client(ClientConfigKey::ConnectTimeout), &connect)
            .with_retry(t.retry())
            .build()
            .map(|s| Arc::new(s) as _),
        "az" | "abfs" | "abfss" | "azure" => MicrosoftAzureBuilder::from_env()
            .with_url(url.as_str())
            .with_config(AzureConfigKey::Client(ClientConfigKey::Timeout), &timeout)
            .with_config(AzureConfigKey::Client(ClientConfigKey::ConnectTimeout), &connect)
            .with_retry(t.retry())
            .build()
            .map(|s| Arc::new(s) as _),
        other => return Err(format!("unsupported scheme {other}://")),
    };
    let store = built.map_err(|e| e.to_string())?;
    // The URL's path is a prefix inside the bucket.
    let prefix = url.path().trim_matches('/');
    Ok(if prefix.is_empty() {
        store
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    })
}

/// A location for one output file given on the command line: a local path
/// or a URL. Returns the store holding it and the object path inside.
pub fn output_target(target: &str) -> Result<(Store, ObjPath), StoreError> {
    let err = |message: String| StoreError::Open {
        store: target.to_string(),
        message,
    };
    if target.contains("://") && !target.starts_with("file://") {
        let (dir, file) = target
            .rsplit_once('/')
            .ok_or_else(|| err("expected a URL ending in a file name".into()))?;
        let store = Store::open(&StoreLocation::parse(dir, Path::new(".")).map_err(err)?)?;
        return Ok((store, ObjPath::from(file)));
    }
    let path = match StoreLocation::parse(target, Path::new(".")).map_err(err)? {
        StoreLocation::Local(p) => p,
        StoreLocation::Url(_) => unreachable!("non-file URLs handled above"),
    };
    let abs = std::path::absolute(&path).map_err(|e| err(e.to_string()))?;
    let dir = abs.parent().ok_or_else(|| err("expected a file path".into()))?;
    let file = abs.file_name().ok_or_else(|| err("expected a file path".into()))?;
    let store = Store::open_local_dir(dir)?;
    Ok((store, ObjPath::from(file.to_string_lossy().as_ref())))
}

/// Write one output file (packet, HTML page, items table) through object_store.
pub async fn write_output(target: &str, bytes: impl Into<Bytes>) -> Result<(), StoreError> {
    let (store, path) = output_target(target)?;
    store.put(&path, bytes).await
}

/// Read one input file named on the command line (a profile, a packet).
pub async fn read_input(target: &str) -> Result<Bytes, StoreError> {
    let (store, path) = output_target(target)?;
    store.get(&path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        let base = Path::new("/etc/scoregate");
        assert_eq!(
            StoreLocation::parse("store", base).unwrap(),
            StoreLocation::Local(PathBuf::from("/etc/scoregate/store"))
        );
        assert_eq!(
            StoreLocation::parse("/abs", base).unwrap(),
            StoreLocation::Local(PathBuf::from("/abs"))
        );
        assert!(matches!(
            StoreLocation::parse("s3://bucket/prefix", base).unwrap(),
            StoreLocation::Url(_)
        ));
        assert!(StoreLocation::parse("ftp://x/y", base).unwrap_err().contains("ftp://"));
        let loc = StoreLocation::parse("s3://key:secret@bucket/p?token=x", base).unwrap();
        assert_eq!(loc.display(), "s3://bucket/p");
    }

    #[tokio::test]
    async fn immutable_writes_accept_same_bytes_and_refuse_others() {
        let store = Store::open(&StoreLocation::parse("memory://immutable-test", Path::new(".")).unwrap()).unwrap();
        let p = ObjPath::from("profiles/a.json");
        assert!(store.put_immutable(&p, Bytes::from_static(b"one")).await.unwrap());
        assert!(!store.put_immutable(&p, Bytes::from_static(b"one")).await.unwrap());
        assert!(matches!(
            store.put_immutable(&p, Bytes::from_static(b"two")).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            store.put_if_absent(&p, Bytes::from_static(b"x")).await,
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(store.get(&ObjPath::from("nope")).await, Err(StoreError::NotFound { .. })));
    }
}
