//! `scoregate active`: the profile a consumer must use at `now` (the bounded
//! one before `valid_until`, its fallback after), with its revision, name,
//! whether bounded, until when, and the commit it derives from. Refuses a
//! tampered artifact; with `--verify`, also one that is not the log head's.

use super::common::{open_pipeline, parse_now, print_json, Global};
use anyhow::Result;
use clap::Args;
use scoregate::consumer::{ActiveArtifact, ConsumerError};
use scoregate::release::log::read_log;
use scoregate::{Error, ExitCode};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ActiveArgs {
    #[arg(long)]
    pipeline: PathBuf,
    /// The instant to answer for (RFC 3339); default: now.
    #[arg(long)]
    now: Option<String>,
    /// Also check that the artifact derives from the log head and the log verifies.
    #[arg(long)]
    verify: bool,
    /// Print the profile document itself, not only its identity.
    #[arg(long)]
    profile: bool,
}

pub async fn run(a: ActiveArgs, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let now = parse_now(a.now.as_deref())?;
    let mut artifact = ActiveArtifact::load_from(&store, &pipeline.cohort)
        .await
        .map_err(Error::from)?
        .verified()
        .map_err(Error::from)?;
    if a.verify {
        let (state, _) = read_log(&pipeline, &store).await.map_err(|e| {
            Error::Consumer(ConsumerError::Stale {
                object: artifact.object.clone(),
                detail: format!("the log does not verify: {e}"),
            })
        })?;
        let head = state.head.as_ref();
        artifact = artifact
            .derives_from(head.map_or(0, |h| h.seq), head.map(|h| &h.digest))
            .map_err(Error::from)?;
    }
    let f = artifact.in_force(now).map_err(Error::from)?;
    if g.json {
        print_json(&serde_json::json!({
            "cohort": pipeline.cohort, "now": now, "revision": f.revision, "name": f.name, "bounded": f.bounded,
            "valid_until": f.until, "fell_back": f.fell_back, "seq": f.seq, "commit_digest": f.commit_digest,
            "verified_against_log": a.verify,
            "profile": a.profile.then(|| f.profile.to_value()),
        }))?;
    } else {
        let until = f
            .until
            .map_or("no end (trusted)".into(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        outln!("{}: use {} ({})", pipeline.cohort, f.revision, f.name);
        outln!(
            "  {}, until {until}; from commit {}{}",
            if f.bounded { "bounded" } else { "trusted" },
            f.seq,
            if f.fell_back {
                "; its window has ended, so this is the fallback"
            } else {
                ""
            }
        );
        if a.profile {
            outln!("{}", serde_json::to_string_pretty(&f.profile.to_value())?);
        }
    }
    Ok(ExitCode::Ok)
}
