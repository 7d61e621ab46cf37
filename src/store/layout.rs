//! Where every object lives in a pipeline's store (README "Storage").
//! Every object path scoregate reads or writes is built here and nowhere
//! else, so the layout can be read in one screen and changed in one place.
//!
//! ```text
//! profiles/sha256-<hex>.json                 immutable, content addressed
//! evidence/<cohort>/sha256-<hex>.json        immutable, content addressed
//! approvals/<cohort>/<manifest_id>.toml      inbox (+ .sig files)
//! log/<cohort>/<seq, 20 digits>.json         decisions, created put-if-absent
//! active/<cohort>/profile.json               active-profile artifact
//! artifacts/<cohort>/<seq>-<decision>.json   decision artifacts
//! incidents/<cohort>/<time>-break-glass.json break-glass on a broken log
//! reports/<cohort>/<seq>-outcome.json        outcome report at a window's end (+ .html)
//! reports/<cohort>/sha256-<hex>.json         outcome report a manifest binds
//! ```

use crate::canonical::Digest;
use object_store::path::Path as ObjPath;

/// A revision's profile document.
pub fn profile(revision: &Digest) -> ObjPath {
    ObjPath::from(format!("profiles/sha256-{}.json", revision.hex()))
}

/// An evidence packet, by its digest.
pub fn evidence(cohort: &str, digest: &Digest) -> ObjPath {
    ObjPath::from(format!("evidence/{cohort}/sha256-{}.json", digest.hex()))
}

/// The cohort's approvals inbox.
pub fn inbox(cohort: &str) -> ObjPath {
    ObjPath::from(format!("approvals/{cohort}"))
}

/// A file in the cohort's approvals inbox (a manifest or a signature).
pub fn inbox_file(cohort: &str, file: &str) -> ObjPath {
    ObjPath::from(format!("approvals/{cohort}/{file}"))
}

/// The cohort's commit log, as a listing prefix.
pub fn log(cohort: &str) -> ObjPath {
    ObjPath::from(format!("log/{cohort}/"))
}

/// Commit `seq` of the cohort's log: 20 digits, so names sort as numbers.
pub fn commit(cohort: &str, seq: u64) -> ObjPath {
    ObjPath::from(format!("log/{cohort}/{seq:020}.json"))
}

/// The cohort's active-profile artifact.
pub fn active(cohort: &str) -> ObjPath {
    ObjPath::from(format!("active/{cohort}/profile.json"))
}

/// The cohort's decision artifacts, as a listing prefix.
pub fn artifacts(cohort: &str) -> ObjPath {
    ObjPath::from(format!("artifacts/{cohort}"))
}

/// An incident record: break-glass on a broken log at `now`.
pub fn incident(cohort: &str, now: chrono::DateTime<chrono::Utc>) -> ObjPath {
    ObjPath::from(format!("incidents/{cohort}/{}-break-glass.json", now.format("%Y%m%dT%H%M%SZ")))
}

/// The decision artifact of commit `seq`, named after its decision.
pub fn artifact(cohort: &str, seq: u64, decision: &str) -> ObjPath {
    ObjPath::from(format!("artifacts/{cohort}/{seq:020}-{decision}.json"))
}

/// The cohort's outcome reports, as a listing prefix.
pub fn reports(cohort: &str) -> ObjPath {
    ObjPath::from(format!("reports/{cohort}"))
}

/// The outcome report written when commit `seq` ended a bounded window (`ext`: json or html).
pub fn window_report(cohort: &str, seq: u64, ext: &str) -> ObjPath {
    ObjPath::from(format!("reports/{cohort}/{seq:020}-outcome.{ext}"))
}

/// An outcome report a manifest binds, by its digest.
pub fn bound_report(cohort: &str, digest: &Digest) -> ObjPath {
    ObjPath::from(format!("reports/{cohort}/sha256-{}.json", digest.hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_names_sort_as_numbers() {
        assert_eq!(commit("c", 7).as_ref(), "log/c/00000000000000000007.json");
        assert!(commit("c", 9).as_ref() < commit("c", 10).as_ref());
        assert_eq!(artifact("c", 3, "expire").as_ref(), "artifacts/c/00000000000000000003-expire.json");
    }
}
