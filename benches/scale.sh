#!/usr/bin/env bash
# Scale run: scoregate's full replay against two peers on the same files, in
# the same run: DuckDB (one SQL query) and polars (what a steward would
# write: lazy scan, scores as expressions, sort, row number per window).
# Prints medians, the ratio to the faster peer, items/s and peak RSS.
#
#   benches/scale.sh [ROWS]          (default 10000000; data cached in $SCALE_DIR)
#   SHAPE=warehouse benches/scale.sh (the same rows rewritten as a warehouse
#                                     export: shuffled, few large row groups;
#                                     see benches/warehouse_history.py)
#
# Needs python3 with duckdb, polars and pyarrow (SCOREGATE_PYTHON names
# another interpreter) and GNU time (/usr/bin/time, Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
DIR=${SCALE_DIR:-${TMPDIR:-/tmp}/scoregate-scale-$ROWS}
PY=${SCOREGATE_PYTHON:-python3}
REPEAT=${REPEAT:-3}
SHAPE=${SHAPE:-own}
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/scoregate
if [ ! -d "$DIR/store/history" ]; then
  echo "generating $ROWS items into $DIR/store ..."
  "$BIN" sample-data --out "$DIR/store" --rows "$ROWS" --seed 42
fi
STORE="$DIR/store"
GLOB="$DIR/store/history/payments-platform/*/*.parquet"
if [ "$SHAPE" = warehouse ]; then
  STORE="$DIR/warehouse/store"
  GLOB="$STORE/history/payments-platform/*.parquet"
  if [ ! -d "$STORE/history" ]; then
    echo "rewriting the history as a warehouse export into $STORE ..."
    "$PY" benches/warehouse_history.py "$DIR/store/history/payments-platform" "$STORE/history/payments-platform"
  fi
fi
sed -e "s#^store = .*#store = \"$STORE\"#" pipelines/payments-platform.toml > "$DIR/pipeline-$SHAPE.toml"
"$BIN" profile put --pipeline "$DIR/pipeline-$SHAPE.toml" data-samples/profiles/live.json > /dev/null
BYTES=$(du -sb "$STORE/history" | cut -f1)
echo "history ($SHAPE): $ROWS items, $(find "$STORE/history" -name '*.parquet' | wc -l) files, $((BYTES / 1000000)) MB"

sg=""; rss=""; db=""; pl=""
PEER_ARGS=(data-samples/profiles/live.json data-samples/profiles/candidate.json payments-platform 25 "$DIR/packet-$SHAPE.json")
for i in $(seq "$REPEAT"); do
  /usr/bin/time -f "%e %M" -o "$DIR/time.txt" "$BIN" replay --no-store --pipeline "$DIR/pipeline-$SHAPE.toml" \
      --candidate data-samples/profiles/candidate.json --out "$DIR/packet-$SHAPE.json" > /dev/null
  read -r secs rss_kb < "$DIR/time.txt"
  echo "scoregate run $i: ${secs}s, peak RSS $((rss_kb / 1024)) MB"
  sg="$sg $secs"; rss="$rss $rss_kb"
  out=$("$PY" benches/scale_duckdb.py "$GLOB" "${PEER_ARGS[@]}")
  echo "duckdb    run $i: $out"
  db="$db $(echo "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["duckdb_seconds"])')"
  out=$("$PY" benches/scale_polars.py "$GLOB" "${PEER_ARGS[@]}")
  echo "polars    run $i: $out"
  pl="$pl $(echo "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["polars_seconds"])')"
done
"$PY" - "$ROWS" "$SHAPE" "$sg" "$db" "$pl" "$rss" <<'PYEOF'
import statistics, sys
rows, shape = int(sys.argv[1]), sys.argv[2]
sg, db, pl = ([float(x) for x in a.split()] for a in sys.argv[3:6])
rss = max(int(x) for x in sys.argv[6].split())
m_sg, m_db, m_pl = statistics.median(sg), statistics.median(db), statistics.median(pl)
faster = min(m_db, m_pl)
print(f"{shape}: median scoregate {m_sg:.2f}s ({rows / m_sg / 1e6:.2f}M items/s), duckdb {m_db:.2f}s, polars {m_pl:.2f}s; "
      f"ratio to the faster peer {m_sg / faster:.2f} (target <= 0.35), peak RSS {rss / 1024:.0f} MB")
PYEOF
