//! `scoregate profile hash|show|put`: revision ids and the profile store.

use super::common::{open_pipeline, print_json, Global};
use anyhow::Result;
use clap::Subcommand;
use scoregate::canonical::Digest;
use scoregate::profile::stored::{load_profile, put_profile};
use scoregate::profile::Profile;
use scoregate::store::layout;
use scoregate::store::read_input;
use scoregate::ExitCode;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// Print a profile file's revision id (sha256 of its RFC 8785 canonical JSON).
    Hash {
        /// Profile JSON file.
        file: String,
    },
    /// Print a profile's canonical document and revision id.
    Show {
        /// Profile JSON file, or a revision id `sha256:…` read from the pipeline's store.
        profile: String,
        /// Pipeline whose store holds the revision (needed for a revision id).
        #[arg(long)]
        pipeline: Option<PathBuf>,
    },
    /// Store a profile content-addressed in the pipeline's store (`profiles/sha256-<hex>.json`).
    Put {
        #[arg(long)]
        pipeline: PathBuf,
        /// Profile JSON file.
        file: String,
    },
}

async fn read_profile(file: &str) -> Result<Profile, scoregate::Error> {
    let bytes = read_input(file).await?;
    Ok(Profile::parse(file, &bytes)?)
}

pub async fn run(cmd: ProfileCmd, g: &Global) -> Result<ExitCode> {
    match cmd {
        ProfileCmd::Hash { file } => {
            let p = read_profile(&file).await?;
            if g.json {
                print_json(&serde_json::json!({"revision": p.revision(), "name": p.name()}))?;
            } else {
                outln!("{}", p.revision());
            }
        }
        ProfileCmd::Show { profile, pipeline } => {
            let p = match Digest::parse(&profile) {
                Some(rev) => {
                    let Some(pipeline) = pipeline else {
                        return Err(scoregate::Error::Input(format!(
                            "profile show {profile}: a revision id needs --pipeline to find the store"
                        ))
                        .into());
                    };
                    let (_, store) = open_pipeline(&pipeline)?;
                    load_profile(&store, &rev).await?
                }
                None => read_profile(&profile).await?,
            };
            if g.json {
                print_json(&serde_json::json!({"revision": p.revision(), "name": p.name(), "profile": p.to_value()}))?;
            } else {
                outln!("revision: {}\nname:     {}", p.revision(), p.name());
                outln!("{}", serde_json::to_string_pretty(&p.to_value())?);
            }
        }
        ProfileCmd::Put { pipeline, file } => {
            let (_, store) = open_pipeline(&pipeline)?;
            let p = read_profile(&file).await?;
            let created = put_profile(&store, &p).await?;
            let path = layout::profile(p.revision());
            if g.json {
                print_json(&serde_json::json!({"revision": p.revision(), "path": path.to_string(), "created": created}))?;
            } else {
                outln!("{} {} ({})", if created { "stored" } else { "already stored" }, p.revision(), path);
            }
        }
    }
    Ok(ExitCode::Ok)
}
