//! The arguments of `scoregate replay`, shared by the single replay and the
//! sweep: what to replay, where the files go, and the `--fail-on` gate.

use clap::Args;
use scoregate::evidence::steward::ReadOptions;
use scoregate::evidence::Packet;
use scoregate::replay::history::partition::MemoryBudget;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Pipeline file (cohort, store, history prefix, replay settings).
    #[arg(long)]
    pub(super) pipeline: PathBuf,
    /// Candidate profile: a JSON file, or a revision id `sha256:…` in the
    /// store. Repeat it to sweep several candidates over one read of the
    /// history: one packet each, beside `--out`, and one comparison page.
    #[arg(long, required = true)]
    pub(super) candidate: Vec<String>,
    /// Live profile to compare against (file or revision id); default: the cohort's live revision.
    #[arg(long)]
    pub(super) live: Option<String>,
    /// Where to write the packet JSON (path or URL).
    #[arg(long, default_value = "scoregate-out/packet.json")]
    pub(super) out: String,
    /// Where to write the HTML page; default: beside the packet, `.html`.
    #[arg(long)]
    pub(super) html: Option<String>,
    /// A sweep's comparison page; default: beside `--out`, `-comparison.html`.
    #[arg(long)]
    pub(super) compare: Option<String>,
    /// Also write one parquet row per item with scores, ranks and surfaced flags.
    #[arg(long)]
    pub(super) items: Option<String>,
    /// Do not store the candidate profile and the packet in the pipeline's store.
    #[arg(long)]
    pub(super) no_store: bool,
    /// Memory the replay may hold, such as `4GiB` or `512MiB`. A history
    /// estimated larger is replayed in window partitions, one at a time,
    /// to the same packet; `--items` then is refused.
    #[arg(long, default_value = "4GiB", value_name = "SIZE")]
    pub(super) memory_budget: bytesize::ByteSize,
    /// Exit 4 when a protected class regressed (`regressed`), or regressed
    /// with `significant` true (`significant`); everything is still written.
    #[arg(long, value_enum)]
    pub(super) fail_on: Option<FailOn>,
}

/// What `--fail-on` gates a candidate on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    Regressed,
    Significant,
}

impl FailOn {
    /// The protected classes that fail the gate: the packet's own lists.
    pub(super) fn failing(self, p: &Packet) -> Vec<String> {
        match self {
            FailOn::Regressed => p.protected_regressions.clone(),
            FailOn::Significant => p.significant_regressions.clone().unwrap_or_default(),
        }
    }
}

impl ReplayArgs {
    /// How the history may be read: within `--memory-budget`, and whole when `--items` is written.
    pub(super) fn read_options(&self) -> ReadOptions {
        ReadOptions {
            budget: MemoryBudget {
                bytes: self.memory_budget.as_u64(),
            },
            whole: self.items.is_some(),
        }
    }
}

/// `--out` without its `.json`: where the page and a sweep's files go beside it.
pub(super) fn stem(out: &str) -> &str {
    out.strip_suffix(".json").unwrap_or(out)
}
