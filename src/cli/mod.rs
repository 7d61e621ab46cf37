//! Command-line surface (SPEC §11): one file per subcommand, each turning
//! flags into library calls and printing a human table on a terminal or JSON
//! with `--json`.

/// `println!` for command output: a closed stdout (`scoregate … | head`)
/// drops the rest of the output instead of panicking, and the command still
/// ends with its own exit code.
macro_rules! outln {
    () => {
        $crate::cli::common::emit(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::common::emit(format_args!($($arg)*))
    };
}

mod active;
mod audit;
mod common;
mod cycle;
mod manifest;
mod profile;
mod replay;
mod report;
mod rollback;
mod sample_data;
mod score;
mod status;

use clap::{Parser, Subcommand};
pub use common::Global;
use scoregate::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "scoregate",
    version,
    about = "Release one exact scoring-policy revision into bounded live use, under a signed approval."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay a candidate profile against the live one over the cohort's history and write the evidence packet.
    Replay(replay::ReplayArgs),
    /// Hash, show or store scoring profiles.
    #[command(subcommand)]
    Profile(profile::ProfileCmd),
    /// Draft, sign, verify and submit approval manifests.
    #[command(subcommand)]
    Manifest(manifest::ManifestCmd),
    /// The scheduled job: read the log, check guardrails and waiting manifests, commit at most one decision.
    Cycle(cycle::CycleArgs),
    /// Break-glass: restore the trusted revision now, recording who and why.
    Rollback(rollback::RollbackArgs),
    /// What is live, until when, guardrail readings, waiting manifests.
    Status(status::StatusArgs),
    /// The outcome report of a bounded window: live use against the reference period before it.
    Report(report::ReportArgs),
    /// Read the decision log or verify its chain.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Generate realistic sample regression history.
    SampleData(sample_data::SampleDataArgs),
    /// The profile a consumer must use now: the bounded one before valid_until, its fallback after.
    Active(active::ActiveArgs),
    /// Score and rank review items with the profile in force, exactly as replay does.
    Score(score::ScoreArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Replay(a) => replay::run(a, &cli.global).await,
            Command::Profile(c) => profile::run(c, &cli.global).await,
            Command::SampleData(a) => sample_data::run(a, &cli.global).await,
            Command::Manifest(c) => manifest::run(c, &cli.global).await,
            Command::Cycle(a) => cycle::run(a, &cli.global).await,
            Command::Rollback(a) => rollback::run(a, &cli.global).await,
            Command::Status(a) => status::run(a, &cli.global).await,
            Command::Report(a) => report::run(a, &cli.global).await,
            Command::Audit(c) => audit::run(c, &cli.global).await,
            Command::Active(a) => active::run(a, &cli.global).await,
            Command::Score(a) => score::run(a, &cli.global).await,
        }
    })
}

/// The exit code for an error that reached `main`.
pub fn exit_code_of(e: &anyhow::Error) -> ExitCode {
    match e.downcast_ref::<scoregate::Error>() {
        Some(e) => e.exit_code(),
        None => ExitCode::Internal,
    }
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
