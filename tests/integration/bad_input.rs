//! SPEC §9 for history and profiles: every bad input gets its own typed
//! error naming the object, row, item and column, and nothing is written.
//! Fixtures are named after the failure they provoke.

use crate::support::{batch, batch_bytes, int32, parquet_bytes, with_column, without_column, Fixture, Row, CANDIDATE};
use arrow::array::{ArrayRef, StringArray};
use scoregate::evidence::steward::replay_packet;
use scoregate::profile::stored::load_profile;
use scoregate::profile::{Profile, ProfileError};
use scoregate::replay::history::HistoryError;
use scoregate::Error;
use std::sync::Arc;

fn rows() -> Vec<Row> {
    vec![
        Row::new("x1", "w1", "sec", 1.0, 2.0, true),
        Row::new("x2", "w1", "ops", 2.0, 1.0, false),
        Row::new("x3", "w2", "ledger", 3.0, 0.0, true),
        Row::new("x4", "w2", "ops", 0.5, 4.0, true),
    ]
}

async fn replay_error(fx: &Fixture) -> Error {
    let pipeline = fx.pipeline();
    let store = fx.store();
    let before = fx.store_files();
    let live = match load_profile(&store, &pipeline.policy.baseline_revision).await {
        Ok(l) => l,
        Err(e) => return e,
    };
    let cand = Profile::parse("candidate", CANDIDATE.as_bytes()).unwrap();
    let err = match replay_packet(&pipeline, &store, &live, &cand, None).await {
        Ok(_) => panic!("replay accepted bad input"),
        Err(e) => e,
    };
    assert_eq!(before, fx.store_files(), "nothing written on bad input");
    err
}

fn history(e: Error) -> HistoryError {
    match e {
        Error::History(h) => h,
        e => panic!("expected a history error, got {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_parquet() {
    let mut bytes = parquet_bytes(&rows());
    bytes.truncate(bytes.len() / 2);
    let fx = Fixture::new(&[("truncated.parquet", bytes)]);
    match history(replay_error(&fx).await) {
        HistoryError::Corrupt { object, .. } => assert_eq!(object, "history/c1/truncated.parquet"),
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_bytes_with_parquet_name() {
    let fx = Fixture::new(&[
        ("good.parquet", parquet_bytes(&rows())),
        ("not-parquet.parquet", b"PAR1 this is not parquet at all".to_vec()),
    ]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::Corrupt { object, .. } if object.ends_with("not-parquet.parquet")));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_required_column() {
    let fx = Fixture::new(&[("missing-missed.parquet", batch_bytes(&without_column(&batch(&rows()), "missed")))]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::MissingColumn { column, .. } if column == "missed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_feature_column() {
    let fx = Fixture::new(&[("missing-feature.parquet", batch_bytes(&without_column(&batch(&rows()), "b")))]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::MissingColumn { column, .. } if column == "b"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mistyped_boolean_column() {
    let b = with_column(
        &batch(&rows()),
        "actionable",
        Arc::new(StringArray::from(vec!["yes", "no", "yes", "yes"])) as ArrayRef,
    );
    let fx = Fixture::new(&[("mistyped-actionable.parquet", batch_bytes(&b))]);
    match history(replay_error(&fx).await) {
        HistoryError::ColumnType { column, found, .. } => assert_eq!((column.as_str(), found.as_str()), ("actionable", "Utf8")),
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mistyped_feature_column() {
    let b = with_column(
        &batch(&rows()),
        "a",
        Arc::new(StringArray::from(vec!["1", "2", "3", "4"])) as ArrayRef,
    );
    let fx = Fixture::new(&[("mistyped-feature.parquet", batch_bytes(&b))]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::ColumnType { column, .. } if column == "a"));
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_item_ids_across_objects() {
    let mut second = rows();
    for (i, r) in second.iter_mut().enumerate() {
        r.item_id = format!("y{i}");
        r.window_id = "w9".into();
    }
    second[2].item_id = "x3".into();
    let fx = Fixture::new(&[("a.parquet", parquet_bytes(&rows())), ("b.parquet", parquet_bytes(&second))]);
    match history(replay_error(&fx).await) {
        HistoryError::DuplicateItem {
            item_id,
            first_object,
            first_row,
            second_object,
            second_row,
        } => {
            assert_eq!(item_id, "x3");
            assert_eq!((first_object.as_str(), first_row), ("history/c1/a.parquet", 2));
            assert_eq!((second_object.as_str(), second_row), ("history/c1/b.parquet", 2));
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nan_feature() {
    let mut r = rows();
    r[3].a = Some(f64::NAN);
    let fx = Fixture::new(&[("nan-feature.parquet", parquet_bytes(&r))]);
    let e = history(replay_error(&fx).await);
    assert!(e.to_string().contains("row 3") && e.to_string().contains("x4"), "{e}");
    assert!(matches!(e, HistoryError::BadValue { row: 3, column, .. } if column == "a"));
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_feature() {
    let mut r = rows();
    r[1].b = Some(f64::NEG_INFINITY);
    let fx = Fixture::new(&[("infinite-feature.parquet", parquet_bytes(&r))]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::BadValue { row: 1, column, .. } if column == "b"));
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_value_under_log1p() {
    let mut r = rows();
    r[0].a = Some(-0.5);
    let fx = Fixture::new(&[("negative-log1p.parquet", parquet_bytes(&r))]);
    match history(replay_error(&fx).await) {
        HistoryError::BadValue {
            row,
            column,
            expected,
            item,
            ..
        } => {
            assert_eq!((row, column.as_str()), (0, "a"));
            assert!(expected.contains("log1p"));
            assert_eq!(item.0.as_deref(), Some("x1"));
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn differing_capacities_in_one_window() {
    let mut r = rows();
    r[2].capacity = Some(5);
    r[3].capacity = Some(6);
    let fx = Fixture::new(&[("differing-capacity.parquet", parquet_bytes(&r))]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::WindowCapacity { window_id, .. } if window_id == "w2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn differing_capacities_across_objects() {
    let mut a = rows();
    a.iter_mut().for_each(|r| r.capacity = Some(2));
    let mut b = vec![Row::new("z1", "w1", "ops", 1.0, 1.0, true)];
    b[0].capacity = None;
    let fx = Fixture::new(&[("a.parquet", parquet_bytes(&a)), ("b.parquet", parquet_bytes(&b))]);
    match history(replay_error(&fx).await) {
        HistoryError::WindowCapacity {
            window_id,
            first_object,
            second_object,
            ..
        } => {
            assert_eq!(window_id, "w1");
            assert!(first_object.ends_with("a.parquet") && second_object.ends_with("b.parquet"));
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_capacity() {
    let b = with_column(&batch(&rows()), "window_capacity", int32(vec![0, 0, 3, 3]));
    let fx = Fixture::new(&[("zero-capacity.parquet", batch_bytes(&b))]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::BadValue { column, .. } if column == "window_capacity"));
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_history_prefix() {
    let fx = Fixture::new(&[]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::Empty { .. }));
}

#[tokio::test(flavor = "multi_thread")]
async fn history_of_other_cohorts_only() {
    let mut r = rows();
    r.iter_mut().for_each(|r| r.cohort = "someone-else".into());
    let fx = Fixture::new(&[("other-cohort.parquet", parquet_bytes(&r))]);
    match history(replay_error(&fx).await) {
        HistoryError::Empty { what, .. } => assert!(what.contains("c1")),
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn null_in_required_column() {
    let b = with_column(
        &batch(&rows()),
        "window_id",
        Arc::new(StringArray::from(vec![Some("w1"), Some("w1"), None, Some("w2")])) as ArrayRef,
    );
    let fx = Fixture::new(&[("null-window.parquet", batch_bytes(&b))]);
    match history(replay_error(&fx).await) {
        HistoryError::NullValue { row, column, item, .. } => {
            assert_eq!((row, column.as_str(), item.0.as_deref()), (2, "window_id", Some("x3")));
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_kind() {
    let mut r = rows();
    r[1].kind = "flaky_test".into();
    let fx = Fixture::new(&[("unknown-kind.parquet", parquet_bytes(&r))]);
    assert!(
        matches!(history(replay_error(&fx).await), HistoryError::BadValue { column, found, .. } if column == "kind" && found.contains("flaky_test"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_profile_bytes_do_not_hash_to_their_id() {
    let fx = Fixture::new(&[("ok.parquet", parquet_bytes(&rows()))]);
    let pipeline = fx.pipeline();
    let path = fx.path(&format!("store/profiles/sha256-{}.json", pipeline.policy.baseline_revision.hex()));
    let tampered = std::fs::read_to_string(&path).unwrap().replace("t-live", "t-liv3");
    std::fs::write(&path, tampered).unwrap();
    assert!(matches!(
        replay_error(&fx).await,
        Error::Profile(ProfileError::RevisionMismatch { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_profile_not_stored() {
    let fx = Fixture::new(&[("ok.parquet", parquet_bytes(&rows()))]);
    let pipeline = fx.pipeline();
    std::fs::remove_file(fx.path(&format!("store/profiles/sha256-{}.json", pipeline.policy.baseline_revision.hex()))).unwrap();
    assert!(matches!(
        replay_error(&fx).await,
        Error::Store(scoregate::store::StoreError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn other_writers_types_are_accepted_and_non_parquet_objects_ignored() {
    // Dictionary strings, large strings, int features, second-unit timestamps with a zone.
    use arrow::array::{DictionaryArray, Int16Array, LargeStringArray, TimestampSecondArray};
    use arrow::datatypes::Int8Type;
    let b = batch(&rows());
    let b = with_column(
        &b,
        "signoff_class",
        Arc::new(
            vec!["sec", "ops", "ledger", "ops"]
                .into_iter()
                .collect::<DictionaryArray<Int8Type>>(),
        ) as ArrayRef,
    );
    let b = with_column(
        &b,
        "item_id",
        Arc::new(LargeStringArray::from(vec!["x1", "x2", "x3", "x4"])) as ArrayRef,
    );
    let b = with_column(&b, "a", Arc::new(Int16Array::from(vec![1, 2, 3, 0])) as ArrayRef);
    let b = with_column(
        &b,
        "window_start",
        Arc::new(TimestampSecondArray::from(vec![1_790_000_000; 4]).with_timezone("+02:00")) as ArrayRef,
    );
    let fx = Fixture::new(&[
        ("typed.parquet", batch_bytes(&b)),
        ("_SUCCESS", vec![]),
        ("notes.txt", b"hello".to_vec()),
    ]);
    let pipeline = fx.pipeline();
    let store = fx.store();
    let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
    let cand = Profile::parse("candidate", CANDIDATE.as_bytes()).unwrap();
    let out = replay_packet(&pipeline, &store, &live, &cand, None).await.unwrap();
    assert_eq!(out.packet.history.items, 4);
    assert_eq!(out.packet.history.objects.len(), 1);
    assert_eq!(out.packet.history.window_start_min.timestamp(), 1_790_000_000);
}
