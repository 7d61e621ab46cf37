//! JSON Schemas (draft 2020-12) of every document scoregate writes or reads
//! as JSON, generated from the types themselves so that a field added to a
//! type is a field added to its schema. The files under `schemas/` are these,
//! written out; a test keeps them equal (`SCOREGATE_BLESS=1` rewrites them).
//! Compatibility: within a `/v1` schema, fields are only ever added.

use schemars::{schema_for, Schema};

/// (file name under `schemas/`, schema), for every document.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        (
            "profile.v1.schema.json",
            titled(schema_for!(crate::profile::ProfileDoc), "scoregate.profile/v1"),
        ),
        (
            "evidence.v1.schema.json",
            titled(schema_for!(crate::evidence::Packet), "scoregate.evidence/v1"),
        ),
        (
            "approval.v1.schema.json",
            titled(crate::approval::manifest::json_schema(), "scoregate.approval/v1 (TOML, as JSON)"),
        ),
        (
            "commit.v1.schema.json",
            titled(schema_for!(crate::release::log::Commit), "scoregate.commit/v1"),
        ),
        (
            "active.v1.schema.json",
            titled(schema_for!(crate::release::artifacts::ActiveProfile), "scoregate.active/v1"),
        ),
        (
            "decision.v1.schema.json",
            titled(schema_for!(crate::release::artifacts::DecisionArtifact), "scoregate.decision/v1"),
        ),
        (
            "outcome.v1.schema.json",
            titled(schema_for!(crate::evidence::outcome::OutcomeReport), "scoregate.outcome/v1"),
        ),
        (
            "incident.v1.schema.json",
            titled(schema_for!(crate::release::derive::Incident), "scoregate.incident/v1"),
        ),
    ]
}

fn titled(mut schema: Schema, title: &str) -> Schema {
    schema.insert("title".into(), title.into());
    schema
}
