#!/usr/bin/env bash
# Scale run: 10M items over ~250k windows, replayed live against candidate
# from local parquet by scoregate, then the same computation in DuckDB on the
# same files, in the same run. Prints items/s, peak RSS and the ratio.
#
#   benches/scale.sh [ROWS]        (default 10000000; data cached in $SCALE_DIR)
#
# Needs python3 with duckdb (SCOREGATE_PYTHON names another interpreter) and
# GNU time (/usr/bin/time, Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
DIR=${SCALE_DIR:-${TMPDIR:-/tmp}/scoregate-scale-$ROWS}
PY=${SCOREGATE_PYTHON:-python3}
REPEAT=${REPEAT:-3}
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/scoregate
if [ ! -d "$DIR/store/history" ]; then
  echo "generating $ROWS items into $DIR/store ..."
  "$BIN" sample-data --out "$DIR/store" --rows "$ROWS" --seed 42
fi
sed -e "s#^store = .*#store = \"$DIR/store\"#" pipelines/payments-platform.toml > "$DIR/pipeline.toml"
"$BIN" profile put --pipeline "$DIR/pipeline.toml" data-samples/profiles/live.json > /dev/null
BYTES=$(du -sb "$DIR/store/history" | cut -f1)
echo "history: $ROWS items, $(find "$DIR/store/history" -name '*.parquet' | wc -l) files, $((BYTES / 1000000)) MB"

best_sg=""; best_rss=""
for i in $(seq "$REPEAT"); do
  /usr/bin/time -f "%e %M" -o "$DIR/time.txt" "$BIN" replay --no-store --pipeline "$DIR/pipeline.toml" \
      --candidate data-samples/profiles/candidate.json --out "$DIR/packet.json" > /dev/null
  read -r secs rss_kb < "$DIR/time.txt"
  echo "scoregate run $i: ${secs}s, peak RSS $((rss_kb / 1024)) MB"
  best_sg="$best_sg $secs"; best_rss="$best_rss $rss_kb"
  out=$("$PY" benches/scale_duckdb.py "$DIR/store/history/payments-platform/*/*.parquet" data-samples/profiles/live.json \
      data-samples/profiles/candidate.json payments-platform 25 "$DIR/packet.json")
  echo "duckdb    run $i: $out"
  best_db="${best_db:-} $(echo "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["duckdb_seconds"])')"
done
"$PY" - "$ROWS" "$best_sg" "$best_db" "$best_rss" <<'PYEOF'
import statistics, sys
rows = int(sys.argv[1]); sg = [float(x) for x in sys.argv[2].split()]; db = [float(x) for x in sys.argv[3].split()]
rss = max(int(x) for x in sys.argv[4].split())
m_sg, m_db = statistics.median(sg), statistics.median(db)
print(f"median scoregate {m_sg:.2f}s ({rows / m_sg / 1e6:.2f}M items/s), median duckdb {m_db:.2f}s, "
      f"ratio scoregate/duckdb {m_sg / m_db:.2f} (target <= 0.50), peak RSS {rss / 1024:.0f} MB (target < 3072)")
PYEOF
