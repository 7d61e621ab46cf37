//! `scoregate sample-data`: generate realistic regression history.

use super::common::{print_json, Global};
use anyhow::Result;
use clap::Args;
use scoregate::replay::sample::{generate, LiveSpec, SampleSpec};
use scoregate::store::{Store, StoreLocation};
use scoregate::ExitCode;
use std::path::Path;

#[derive(Args, Debug)]
pub struct SampleDataArgs {
    /// Store to write into: a local directory (created if missing) or a URL.
    #[arg(long)]
    out: String,
    /// Items of the cohort to generate (rows of another cohort come on top).
    #[arg(long, default_value_t = 24_000)]
    rows: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value = "payments-platform")]
    cohort: String,
    /// Days the windows spread over; one parquet file per day.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Share of items nobody judged (`actionable` null), between 0 and 1;
    /// more among items of low visible severity, which live ranks low.
    #[arg(long, default_value_t = 0.0)]
    unjudged: f64,
    /// Generate live-use history instead: items queued while this revision ordered the queue.
    #[arg(long, requires_all = ["live_from", "live_to"])]
    live_revision: Option<String>,
    /// Start of the live-use period (RFC 3339).
    #[arg(long)]
    live_from: Option<String>,
    /// End of the live-use period (RFC 3339).
    #[arg(long)]
    live_to: Option<String>,
}

pub async fn run(a: SampleDataArgs, g: &Global) -> Result<ExitCode> {
    if !scoregate::pipeline::is_plain_name(&a.cohort) {
        return Err(scoregate::Error::Input(format!(
            "--cohort {}: expected a plain name of letters, digits, '-', '_' or '.'",
            a.cohort
        ))
        .into());
    }
    let location =
        StoreLocation::parse(&a.out, Path::new(".")).map_err(|e| scoregate::Error::Input(format!("--out {}: expected {e}", a.out)))?;
    let store = match &location {
        StoreLocation::Local(dir) => Store::open_local_dir(dir)?,
        url => Store::open(url)?,
    };
    if !(0.0..=1.0).contains(&a.unjudged) {
        return Err(scoregate::Error::Input(format!("--unjudged {}: expected a share between 0 and 1", a.unjudged)).into());
    }
    let mut spec = SampleSpec::new(&a.cohort, a.rows, a.seed);
    spec.days = a.days;
    spec.unjudged = a.unjudged;
    if let (Some(revision), Some(from), Some(to)) = (&a.live_revision, &a.live_from, &a.live_to) {
        let (from, to) = (super::common::parse_now(Some(from))?, super::common::parse_now(Some(to))?);
        if to <= from {
            return Err(scoregate::Error::Input("--live-to must be after --live-from".into()).into());
        }
        spec.live = Some(LiveSpec {
            revision: revision.clone(),
            from,
            to,
        });
    }
    let s = generate(&store, &spec).await.map_err(scoregate::Error::from)?;
    if g.json {
        print_json(&serde_json::json!({
            "store": store.name(), "prefix": format!("history/{}", a.cohort), "files": s.files, "rows": s.rows,
            "windows": s.windows, "other_cohort_rows": s.other_cohort_rows, "bytes": s.bytes,
        }))?;
    } else {
        outln!(
            "wrote {} items in {} windows (+{} rows of another cohort) as {} parquet files, {} bytes, under {}/history/{}",
            s.rows,
            s.windows,
            s.other_cohort_rows,
            s.files,
            s.bytes,
            store.name(),
            a.cohort
        );
    }
    Ok(ExitCode::Ok)
}
