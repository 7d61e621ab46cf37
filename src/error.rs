//! The crate's top-level error and the exit codes the binary maps it to.
//!
//! Each module has its own error enum whose variants say what went wrong by
//! meaning; [`Error`] gathers them and [`Error::exit_code`] classifies them
//! into the documented exit codes.

use crate::approval::inbox::InboxError;
use crate::approval::manifest::ManifestError;
use crate::approval::signers::SignersError;
use crate::consumer::ConsumerError;
use crate::evidence::outcome::OutcomeError;
use crate::evidence::EvidenceError;
use crate::pipeline::PipelineError;
use crate::profile::ProfileError;
use crate::release::commit::CycleError;
use crate::release::log::LogError;
use crate::replay::history::HistoryError;
use crate::replay::sample::SampleError;
use crate::replay::ReplayError;
use crate::store::StoreError;

/// Documented process exit codes (README, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Done; for `cycle`, also "nothing to do".
    Ok = 0,
    /// An unexpected internal failure (a bug): please report it.
    Internal = 1,
    /// The command line is wrong (clap's own code).
    Usage = 2,
    /// Bad input or configuration: nothing was written.
    BadInput = 3,
    /// A manifest was rejected or failed verification.
    Rejected = 4,
    /// Another writer won the commit race, even after retries.
    LostRace = 5,
    /// A rollback or expiry was performed.
    RolledBack = 6,
    /// The store could not be reached or refused the operation.
    Storage = 7,
    /// `audit verify` found the log or its artifacts broken.
    AuditFailed = 8,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Signers(#[from] SignersError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Inbox(#[from] InboxError),
    #[error(transparent)]
    Cycle(#[from] CycleError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    #[error(transparent)]
    Outcome(#[from] OutcomeError),
    /// A manifest failed its checks (the message lists them).
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Input(String),
}

fn store_code(e: &StoreError) -> ExitCode {
    match e {
        StoreError::Open { .. }
        | StoreError::Io { .. }
        | StoreError::NoBucket { .. }
        | StoreError::Denied { .. }
        | StoreError::Unreachable { .. }
        | StoreError::Timeout { .. } => ExitCode::Storage,
        StoreError::AlreadyExists { .. } => ExitCode::LostRace,
        StoreError::NotFound { .. } | StoreError::Conflict { .. } | StoreError::Changed { .. } => ExitCode::BadInput,
    }
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Store(e)
            | Error::History(HistoryError::Store(e))
            | Error::Sample(SampleError::Store(e))
            | Error::Log(LogError::Store(e))
            | Error::Inbox(InboxError::Store(e)) => store_code(e),
            Error::Log(LogError::VersionExists { .. }) | Error::Cycle(CycleError::LostRace { .. }) => ExitCode::LostRace,
            Error::Cycle(CycleError::ClockWentBackwards { .. } | CycleError::Tampered { .. }) => ExitCode::BadInput,
            Error::Rejected(_) | Error::Inbox(InboxError::IdTaken { .. }) => ExitCode::Rejected,
            Error::Consumer(ConsumerError::Unreadable { .. }) => ExitCode::Storage,
            Error::Consumer(ConsumerError::Tampered { .. } | ConsumerError::Stale { .. }) => ExitCode::AuditFailed,
            Error::Consumer(ConsumerError::BadItems(_)) => ExitCode::BadInput,
            Error::Manifest(_) | Error::Signers(_) | Error::Log(_) => ExitCode::BadInput,
            Error::Evidence(EvidenceError::Render(_)) | Error::Outcome(OutcomeError::Render(_)) => ExitCode::Internal,
            Error::Outcome(_) => ExitCode::BadInput,
            Error::Sample(SampleError::Parquet(_)) => ExitCode::Internal,
            Error::Pipeline(_) | Error::Profile(_) | Error::History(_) | Error::Replay(_) | Error::Evidence(_) | Error::Input(_) => {
                ExitCode::BadInput
            }
        }
    }
}
