//! JSON Schemas under `schemas/` (README "Document schemas"): they are the
//! types' own (a field added to a type and not to its schema fails here), and
//! every document a lifecycle writes validates against its schema with a
//! maintained validator (the `jsonschema` crate).

use crate::cycle::{Ops, CANDIDATE_REV};
use crate::support::{list_files, repo};
use std::collections::BTreeMap;

fn schema(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("schemas").join(name)).unwrap_or_else(|_| panic!("schemas/{name} is committed"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn schema_files_are_the_types_own() {
    for (name, generated) in scoregate::schemas::all() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        let path = repo().join("schemas").join(name);
        if std::env::var_os("SCOREGATE_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "schemas/{name} differs from its type: a field was added to one and not the other \
             (SCOREGATE_BLESS=1 cargo test schema_files rewrites the files; review the diff)"
        );
    }
}

/// Which schema a stored object must follow, by its path.
fn schema_for_path(path: &str) -> Option<&'static str> {
    let top = path.split('/').next()?;
    Some(match top {
        "profiles" => "profile.v1.schema.json",
        "evidence" => "evidence.v1.schema.json",
        "log" => "commit.v1.schema.json",
        "active" => "active.v1.schema.json",
        "artifacts" => "decision.v1.schema.json",
        "incidents" => "incident.v1.schema.json",
        "reports" if path.ends_with(".json") => "outcome.v1.schema.json",
        _ => return None,
    })
}

/// Validate every JSON document below `root`; returns how many per schema.
fn validate_store(root: &std::path::Path) -> BTreeMap<&'static str, usize> {
    let mut seen = BTreeMap::new();
    for rel in list_files(root) {
        let Some(name) = schema_for_path(&rel) else { continue };
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join(&rel)).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema(name)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{rel} does not follow {name}: {errors:?}");
        *seen.entry(name).or_default() += 1;
    }
    seen
}

#[test]
fn every_document_a_lifecycle_writes_validates_against_its_schema() {
    let o = Ops::new();
    let manifest = o.activate_sample("7d");
    o.cycle(crate::approvals::NOW, 0);
    o.live_history(CANDIDATE_REV, crate::approvals::NOW, "2026-11-04T00:00:00Z", "200");
    o.cycle("2026-11-04T00:00:00Z", 6);
    // A broken log, for an incident record.
    std::fs::write(o.a.path("store/log/payments-platform/00000000000000000009.json"), b"{}").unwrap();
    o.ok(
        &[
            "rollback",
            "--pipeline",
            &o.p(),
            "--reason",
            "drill",
            "--now",
            "2026-11-04T01:00:00Z",
        ],
        6,
    );
    std::fs::remove_file(o.a.path("store/log/payments-platform/00000000000000000009.json")).unwrap();
    let seen = validate_store(&o.a.path("store"));
    for name in [
        "profile.v1.schema.json",
        "evidence.v1.schema.json",
        "commit.v1.schema.json",
        "active.v1.schema.json",
        "decision.v1.schema.json",
        "incident.v1.schema.json",
        "outcome.v1.schema.json",
    ] {
        assert!(seen.get(name).copied().unwrap_or(0) > 0, "no {name} document written: {seen:?}");
    }
    // The approval manifest, TOML read as JSON.
    let toml: toml::Value = toml::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    let json = toml_as_json(&toml);
    let validator = jsonschema::validator_for(&schema("approval.v1.schema.json")).unwrap();
    let errors: Vec<String> = validator.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The bundled sample store too.
    assert!(validate_store(&repo().join("data-samples/store")).contains_key("evidence.v1.schema.json"));
}

#[test]
fn a_document_with_an_unknown_field_does_not_validate() {
    let commit = serde_json::to_value(crate::support::commit(1, "x")).unwrap();
    let validator = jsonschema::validator_for(&schema("commit.v1.schema.json")).unwrap();
    assert!(validator.is_valid(&commit));
    let mut extra = commit.clone();
    extra["surprise"] = serde_json::json!(1);
    assert!(!validator.is_valid(&extra), "commits deny unknown fields");
    let mut bad_digest = commit;
    bad_digest["live_revision"] = serde_json::json!("sha256:not-hex");
    assert!(!validator.is_valid(&bad_digest), "digests have their pattern");
}

/// TOML as JSON, offset date-times as RFC 3339 strings.
fn toml_as_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => a.iter().map(toml_as_json).collect(),
        toml::Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), toml_as_json(v))).collect(),
        other => serde_json::to_value(other).unwrap(),
    }
}
