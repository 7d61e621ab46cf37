//! `scoregate score`: score and rank review items with the profile in force
//! (or a named revision) exactly as replay does, writing `score`, `rank` and
//! `surfaced` beside the items' ids, the revision in the file's metadata.

use super::common::{open_pipeline, parse_now, print_json, Global};
use anyhow::Result;
use clap::Args;
use scoregate::canonical::Digest;
use scoregate::consumer::{score_items, ActiveArtifact};
use scoregate::profile::stored::load_profile;
use scoregate::store::{read_input, write_output};
use scoregate::{Error, ExitCode};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[arg(long)]
    pipeline: PathBuf,
    /// Review items as parquet (path or URL): the history columns; outcomes may be absent.
    #[arg(long)]
    items: String,
    /// Where to write the scored items (parquet); default: scoregate-out/scored.parquet.
    #[arg(long, default_value = "scoregate-out/scored.parquet")]
    out: String,
    /// The instant whose profile is in force (RFC 3339); default: now.
    #[arg(long)]
    now: Option<String>,
    /// Score with this stored revision instead of the one in force.
    #[arg(long)]
    revision: Option<String>,
}

pub async fn run(a: ScoreArgs, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let now = parse_now(a.now.as_deref())?;
    let profile = match &a.revision {
        Some(r) => {
            let rev = Digest::parse(r).ok_or_else(|| Error::Input(format!("--revision {r}: expected sha256: and 64 hex digits")))?;
            load_profile(&store, &rev).await?
        }
        None => {
            let active = ActiveArtifact::load_from(&store, &pipeline.cohort).await.map_err(Error::from)?;
            active.verified().map_err(Error::from)?.in_force(now).map_err(Error::from)?.profile
        }
    };
    let bytes = read_input(&a.items).await.map_err(Error::from)?;
    let batch = score_items(&profile, &bytes, &pipeline.cohort, pipeline.replay.default_capacity).map_err(Error::from)?;
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None)?;
    w.write(&batch)?;
    w.close()?;
    write_output(&a.out, out).await.map_err(Error::from)?;
    if g.json {
        print_json(&serde_json::json!({"out": a.out, "items": batch.num_rows(), "revision": profile.revision(), "name": profile.name()}))?;
    } else {
        outln!(
            "scored {} items with {} ({}) → {}",
            batch.num_rows(),
            profile.revision(),
            profile.name(),
            a.out
        );
    }
    Ok(ExitCode::Ok)
}
