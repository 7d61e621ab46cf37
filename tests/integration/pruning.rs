//! Incremental cycles (README "Incremental cycles"): a cycle's guardrail
//! readings fetch only footers and the row groups whose parquet statistics
//! allow live-window rows, and the readings are exactly those of a full
//! read, on every writer shape: tight or loose statistics, none at all,
//! timestamps in ms, µs or ns, naive or UTC, `live_revision` plain or
//! dictionary-encoded, objects without live columns.

use crate::cycle::Ops;
use crate::readings::{live_batch, mixed_rows, t, LiveRow, ACTIVATED};
use arrow::datatypes::TimeUnit;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use scoregate::release::log::read_state;
use scoregate::release::readings::{live_history, readings_of, window_history};
use scoregate::replay::history::HistoryError;

/// Write `batch` under the cohort's history as `name`, `rows_per_group` rows per row group.
fn write(o: &Ops, name: &str, batch: &RecordBatch, rows_per_group: usize, statistics: EnabledStatistics) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .set_statistics_enabled(statistics)
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    let dir = o.a.path("store/history/payments-platform/live");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), out).unwrap();
}

/// Live rows of two stretches of the window, every kind of row the window
/// must include or leave out, in the order `key` sorts them.
fn rows_sorted_by<K: Ord>(key: impl Fn(&LiveRow) -> K) -> Vec<LiveRow> {
    let mut rows = mixed_rows(t("2026-11-03T20:00:00Z"));
    rows.extend(mixed_rows(t("2026-11-05T00:00:00Z")));
    rows.sort_by_key(key);
    rows
}

/// Four objects, four writer shapes, beside the sample's history (which has no live columns).
fn write_every_shape(o: &Ops) {
    let by_queued = rows_sorted_by(|r| (r.queued.is_none(), r.queued));
    write(
        o,
        "tight-micros-utc.parquet",
        &live_batch("tight", &by_queued, TimeUnit::Microsecond, Some("UTC"), false),
        8,
        EnabledStatistics::Chunk,
    );
    let by_revision = rows_sorted_by(|r| r.revision);
    write(
        o,
        "by-revision-nanos-naive-dictionary.parquet",
        &live_batch("rev", &by_revision, TimeUnit::Nanosecond, None, true),
        16,
        EnabledStatistics::Page,
    );
    write(
        o,
        "no-statistics-millis.parquet",
        &live_batch("nostats", &by_queued, TimeUnit::Millisecond, Some("UTC"), false),
        8,
        EnabledStatistics::None,
    );
    let unsorted = mixed_rows(t("2026-11-04T06:00:00Z"));
    write(
        o,
        "loose-seconds.parquet",
        &live_batch("loose", &unsorted, TimeUnit::Second, Some("UTC"), false),
        64,
        EnabledStatistics::Chunk,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pruned_readings_equal_a_full_read_on_every_writer_shape_and_window_end() {
    let o = Ops::new();
    o.activate_sample("7d");
    o.cycle(ACTIVATED, 0);
    write_every_shape(&o);
    let (pipeline, store) = (o.a.pipeline(), o.a.store());
    let bounded = read_state(&pipeline, &store).await.unwrap().bounded.expect("a bounded window");
    let full = live_history(&pipeline, &store).await.unwrap();
    assert_eq!(full.pruned_row_groups, 0);
    let mut seen_items = 0;
    for now in [
        "2026-11-03T00:30:00Z",
        "2026-11-03T20:00:00Z",
        "2026-11-04T06:00:00Z",
        "2026-11-05T00:00:00Z",
        "2026-11-09T00:00:00Z",
    ] {
        let now = t(now);
        let pruned = window_history(&pipeline, &store, &bounded, now).await.unwrap();
        let (want, got) = (
            readings_of(&pipeline, &full, &bounded, now),
            readings_of(&pipeline, &pruned, &bounded, now),
        );
        assert_eq!(got, want, "readings at {now}: pruned read against full read");
        assert!(pruned.pruned_row_groups > 0, "at {now} nothing was pruned");
        assert!(pruned.len() < full.len(), "at {now} the pruned read decoded every row");
        seen_items += want.items;
        if want.items > 0 {
            assert!(want.protected_misses > 0 && want.canary_misses > 0, "{want:?}");
        }
    }
    assert!(seen_items > 0, "the windows hold live rows");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pruned_read_prunes_the_sample_history_and_the_rows_before_activation() {
    let o = Ops::new();
    o.activate_sample("7d");
    o.cycle(ACTIVATED, 0);
    // Only rows queued before the activation, of the live revision and others.
    let before: Vec<LiveRow> = mixed_rows(t("2026-11-03T20:00:00Z"))
        .into_iter()
        .filter(|r| r.queued.is_some_and(|q| q < t(ACTIVATED)))
        .collect();
    assert!(!before.is_empty());
    write(
        &o,
        "before.parquet",
        &live_batch("before", &before, TimeUnit::Microsecond, Some("UTC"), false),
        4,
        EnabledStatistics::Chunk,
    );
    let (pipeline, store) = (o.a.pipeline(), o.a.store());
    let bounded = read_state(&pipeline, &store).await.unwrap().bounded.unwrap();
    let pruned = window_history(&pipeline, &store, &bounded, t("2026-11-04T00:00:00Z"))
        .await
        .unwrap();
    // Nothing can hold a live-window row: every row group is pruned, the
    // read is empty (not an error), and the readings are zero.
    assert!(pruned.is_empty());
    assert!(pruned.pruned_row_groups >= before.len() / 4);
    let r = readings_of(&pipeline, &pruned, &bounded, t("2026-11-04T00:00:00Z"));
    assert_eq!(r.items, 0);
    // The cycle says the same through the binary: zero live items.
    let c = o.cycle("2026-11-03T12:00:00Z", 0);
    assert_eq!(c["readings"]["items"], 0, "{c}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_with_an_unreadable_footer_is_refused_by_a_pruned_read_as_by_a_full_one() {
    let o = Ops::new();
    o.activate_sample("7d");
    o.cycle(ACTIVATED, 0);
    let dir = o.a.path("store/history/payments-platform/live");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.parquet"), b"PAR1 this is not a parquet footer PAR1").unwrap();
    let (pipeline, store) = (o.a.pipeline(), o.a.store());
    let bounded = read_state(&pipeline, &store).await.unwrap().bounded.unwrap();
    let pruned = window_history(&pipeline, &store, &bounded, t("2026-11-04T00:00:00Z")).await;
    let full = live_history(&pipeline, &store).await;
    for r in [pruned.map(|_| ()), full.map(|_| ())] {
        match r {
            Err(scoregate::Error::History(HistoryError::Corrupt { object, .. })) => assert!(object.ends_with("broken.parquet"), "{object}"),
            other => panic!("expected the corrupt object named, got {other:?}"),
        }
    }
}
