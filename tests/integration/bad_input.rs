//! SPEC §9 for history and profiles: every bad input gets its own typed
//! error naming the object, row, item and column, and nothing is written.
//! Fixtures are named after the failure they provoke.

use crate::support::{batch, batch_bytes, int32, list_files, parquet_bytes, with_column, without_column, Fixture, Row, CANDIDATE};
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

/// Every file below `root` with the sha256 of its bytes: equal before and
/// after means nothing was written, edited or removed.
pub fn tree_digest(root: &std::path::Path) -> Vec<(String, String)> {
    list_files(root)
        .into_iter()
        .map(|f| (f.clone(), scoregate::canonical::sha256_hex(&std::fs::read(root.join(&f)).unwrap())))
        .collect()
}

/// The bad input through the library (for the exact error variant) and
/// through the binary as a steward runs it: exit 3, a message naming what
/// is wrong, and nothing written to the store or the output paths.
async fn replay_error(fx: &Fixture) -> Error {
    let pipeline = fx.pipeline();
    let store = fx.store();
    let before = tree_digest(&fx.path("store"));
    let err = match load_profile(&store, &pipeline.policy.baseline_revision).await {
        Err(e) => e,
        Ok(live) => {
            let cand = Profile::parse("candidate", CANDIDATE.as_bytes()).unwrap();
            match replay_packet(&pipeline, &store, &live, &cand, None).await {
                Ok(_) => panic!("replay accepted bad input"),
                Err(e) => e,
            }
        }
    };
    let out = fx.path("out");
    let items = out.join("items.parquet");
    let o = tokio::task::block_in_place(|| steward_replay(fx, &["--items", items.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&err.to_string()), "the binary says what the library says: {stderr}");
    assert_eq!(before, tree_digest(&fx.path("store")), "nothing written to the store on bad input");
    assert!(list_files(&out).is_empty(), "no packet, page or items table on bad input");
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

/// Features written as 32-bit floats or integers (kept narrow in memory),
/// or as 64-bit integers (narrow when every value fits)
/// are refused exactly as doubles are: the row, item, column, expectation
/// and the value as a double.
#[tokio::test(flavor = "multi_thread")]
async fn narrow_feature_columns_refuse_what_doubles_refuse() {
    use arrow::array::{Float32Array, Int64Array};
    let cases: [(&str, ArrayRef, u64, &str); 5] = [
        ("a", Arc::new(Float32Array::from(vec![0.5, 1.0, 2.0, f32::NAN])), 3, "NaN"),
        (
            "b",
            Arc::new(Float32Array::from(vec![Some(0.5), None, Some(f32::INFINITY), Some(1.0)])),
            2,
            "inf",
        ),
        ("a", int32(vec![1, 2, -3, 4]), 2, "-3"),
        // 64-bit integers: kept in 32 bits when all fit, as doubles when not.
        ("a", Arc::new(Int64Array::from(vec![1, 2, -3, 4])), 2, "-3"),
        ("a", Arc::new(Int64Array::from(vec![1, 1 << 40, -3, 4])), 2, "-3"),
    ];
    for (column, values, bad_row, shown) in cases {
        let b = with_column(&batch(&rows()), column, values);
        let fx = Fixture::new(&[("narrow-feature.parquet", batch_bytes(&b))]);
        match history(replay_error(&fx).await) {
            HistoryError::BadValue {
                row,
                column: c,
                item,
                found,
                ..
            } => {
                assert_eq!((row, c.as_str(), found.as_str()), (bad_row, column, shown));
                assert_eq!(item.0.as_deref(), Some(format!("x{}", bad_row + 1).as_str()));
            }
            e => panic!("{column}: {e:?}"),
        }
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

/// A null in each required column, at row 2, after a row of another cohort
/// (so only some of the batch's rows are kept): named by row, column and item.
#[tokio::test(flavor = "multi_thread")]
async fn null_in_each_required_column_after_another_cohorts_row() {
    use arrow::array::{BooleanArray, TimestampMicrosecondArray};
    let mut r = rows();
    r[0].cohort = "c9".into();
    let strings = |v: [&str; 4]| {
        Arc::new(StringArray::from(
            v.iter().enumerate().map(|(i, s)| (i != 2).then_some(*s)).collect::<Vec<_>>(),
        )) as ArrayRef
    };
    let cases: Vec<(&str, ArrayRef)> = vec![
        ("item_id", strings(["x1", "x2", "x3", "x4"])),
        ("window_id", strings(["w1", "w1", "w2", "w2"])),
        ("signoff_class", strings(["sec", "ops", "ledger", "ops"])),
        ("kind", strings(["build_regression"; 4])),
        (
            "window_start",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_790_000_000_000_000),
                Some(1_790_000_000_000_000),
                None,
                Some(1),
            ])) as ArrayRef,
        ),
        (
            "missed",
            Arc::new(BooleanArray::from(vec![Some(false), Some(false), None, Some(true)])) as ArrayRef,
        ),
        (
            "board_override",
            Arc::new(BooleanArray::from(vec![Some(false), Some(false), None, Some(true)])) as ArrayRef,
        ),
    ];
    for (column, array) in cases {
        let b = with_column(&batch(&r), column, array);
        let fx = Fixture::new(&[("null.parquet", batch_bytes(&b))]);
        match history(replay_error(&fx).await) {
            HistoryError::NullValue { row, column: c, item, .. } => {
                let item_named = if column == "item_id" { None } else { Some("x3") };
                assert_eq!((row, c.as_str(), item.0.as_deref()), (2, column, item_named), "{column}");
            }
            e => panic!("{column}: {e:?}"),
        }
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
        load_profile(&fx.store(), &pipeline.policy.baseline_revision).await,
        Err(Error::Store(scoregate::store::StoreError::NotFound { .. }))
    ));
    // The binary turns it into advice (see `cli::a_fresh_store_without_the_baseline_profile_says_how_to_fix_it`).
    let before = tree_digest(&fx.path("store"));
    let o = tokio::task::block_in_place(|| steward_replay(&fx, &[]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(pipeline.policy.baseline_revision.as_str()) && stderr.contains("profile put"),
        "{stderr}"
    );
    assert_eq!(before, tree_digest(&fx.path("store")));
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

#[test]
fn replay_whose_items_table_cannot_be_written_stores_no_evidence() {
    let fx = Fixture::new(&[("ok.parquet", parquet_bytes(&rows()))]);
    let before = tree_digest(&fx.path("store"));
    // The items table's folder is a file: the write fails after the replay succeeded.
    std::fs::write(fx.path("blocked"), b"a file, not a folder").unwrap();
    let blocked = fx.path("blocked/items.parquet");
    let o = steward_replay(&fx, &["--items", blocked.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(before, tree_digest(&fx.path("store")), "no evidence stored without its items table");
    assert!(list_files(&fx.path("out")).is_empty(), "no packet or page written");
}

/// `scoregate [GLOBAL…] replay` over the fixture as a steward runs it, the
/// packet aimed at `out/packet.json`; `args` go before the subcommand when
/// they are global flags, after it otherwise.
fn steward_replay(fx: &Fixture, args: &[&str]) -> std::process::Output {
    let (global, local): (Vec<&str>, Vec<&str>) = match args.first() {
        Some(&"--threads") => (args.to_vec(), vec![]),
        _ => (vec![], args.to_vec()),
    };
    std::process::Command::new(env!("CARGO_BIN_EXE_scoregate"))
        .args(global)
        .args(["replay", "--pipeline"])
        .arg(&fx.pipeline)
        .arg("--candidate")
        .arg(fx.path("candidate.json"))
        .arg("--out")
        .arg(fx.path("out/packet.json"))
        .args(local)
        .output()
        .unwrap()
}

/// The binary's error message for the fixture's history at `threads` threads.
fn replay_stderr(fx: &Fixture, threads: &str) -> String {
    let o = steward_replay(fx, &["--threads", threads]);
    assert_eq!(o.status.code(), Some(3));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_first_problem_is_the_first_in_object_path_then_row_order_on_any_thread_count() {
    // a.parquet: a null window at row 3 and a NaN feature at row 1 (a column
    // checked later, an earlier row); b.parquet lacks a required column
    // (found while planning, before any decoding); c.parquet has a null
    // cohort at row 0. The first problem is a.parquet's row 1.
    let mut a = rows();
    a.extend(rows().into_iter().map(|mut r| {
        r.item_id.push('b');
        r
    }));
    a[1].a = Some(f64::NAN);
    let a = with_column(
        &batch(&a),
        "window_id",
        Arc::new(StringArray::from(vec![
            Some("w1"),
            Some("w1"),
            Some("w2"),
            None,
            Some("w3"),
            Some("w3"),
            Some("w4"),
            Some("w4"),
        ])) as ArrayRef,
    );
    let mut b = rows();
    b.iter_mut().for_each(|r| r.item_id.push('c'));
    let b = without_column(&batch(&b), "missed");
    let mut c = rows();
    c.iter_mut().for_each(|r| r.item_id.push('d'));
    let c = with_column(
        &batch(&c),
        "cohort",
        Arc::new(StringArray::from(vec![None, Some("c1"), Some("c1"), Some("c1")])) as ArrayRef,
    );
    let fx = Fixture::new(&[
        ("c.parquet", batch_bytes(&c)),
        ("b.parquet", batch_bytes(&b)),
        ("a.parquet", batch_bytes(&a)),
    ]);
    let first = replay_stderr(&fx, "1");
    assert!(
        first.contains("history/c1/a.parquet, row 1") && first.contains("column `a`"),
        "{first}"
    );
    for threads in ["2", "3", "8"] {
        assert_eq!(replay_stderr(&fx, threads), first, "{threads} threads");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn columns_the_replay_does_not_use_are_never_decoded() {
    // A nested list and a struct column that scoregate has no decoder for.
    use arrow::array::{Array, Int32Array, ListArray, StructArray};
    use arrow::datatypes::{DataType, Field, Int32Type};
    let b = batch(&rows());
    let list =
        ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)]), None, Some(vec![]), Some(vec![Some(3)])]);
    let strukt = StructArray::from(vec![(
        Arc::new(Field::new("depth", DataType::Int32, true)),
        Arc::new(Int32Array::from(vec![1, 2, 3, 4])) as ArrayRef,
    )]);
    let mut fields: Vec<Field> = b.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("tags", list.data_type().clone(), true));
    fields.push(Field::new("provenance", strukt.data_type().clone(), true));
    let mut cols = b.columns().to_vec();
    cols.push(Arc::new(list));
    cols.push(Arc::new(strukt));
    let b = arrow::record_batch::RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols).unwrap();
    let fx = Fixture::new(&[("nested.parquet", batch_bytes(&b))]);
    let plain = Fixture::new(&[("nested.parquet", parquet_bytes(&rows()))]);
    let (pipeline, store) = (fx.pipeline(), fx.store());
    let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
    let cand = Profile::parse("candidate", CANDIDATE.as_bytes()).unwrap();
    let nested = replay_packet(&pipeline, &store, &live, &cand, None).await.unwrap();
    let flat = replay_packet(&plain.pipeline(), &plain.store(), &live, &cand, None).await.unwrap();
    assert_eq!(nested.packet.history.items, 4);
    assert_eq!(nested.packet.classes, flat.packet.classes, "the unused columns change nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn integer_feature_beyond_2_53_is_refused() {
    use arrow::array::{Int64Array, UInt64Array};
    let exact = 1u64 << 53;
    let b = with_column(
        &batch(&rows()),
        "a",
        Arc::new(UInt64Array::from(vec![1, exact + 1, 3, 4])) as ArrayRef,
    );
    let fx = Fixture::new(&[("huge.parquet", batch_bytes(&b))]);
    match history(replay_error(&fx).await) {
        HistoryError::BadValue {
            row, column, found, item, ..
        } => {
            assert_eq!(
                (row, column.as_str(), found.as_str(), item.0.as_deref()),
                (1, "a", "9007199254740993", Some("x2"))
            );
        }
        e => panic!("{e:?}"),
    }
    let b = with_column(
        &batch(&rows()),
        "a",
        Arc::new(Int64Array::from(vec![1, 2, -(exact as i64) - 1, 4])) as ArrayRef,
    );
    let fx = Fixture::new(&[("negative.parquet", batch_bytes(&b))]);
    assert!(matches!(history(replay_error(&fx).await), HistoryError::BadValue { row: 2, .. }));
    // 2^53 itself converts exactly and is accepted (the candidate takes
    // log1p of `a`, so the edge is tried on the positive side).
    let b = with_column(
        &batch(&rows()),
        "a",
        Arc::new(Int64Array::from(vec![1, exact as i64, 3, 4])) as ArrayRef,
    );
    let fx = Fixture::new(&[("edge.parquet", batch_bytes(&b))]);
    let (pipeline, store) = (fx.pipeline(), fx.store());
    let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
    let cand = Profile::parse("candidate", CANDIDATE.as_bytes()).unwrap();
    assert!(replay_packet(&pipeline, &store, &live, &cand, None).await.is_ok());
}
