#!/usr/bin/env bash
# Growth of a full replay's time and peak RSS with the history's size:
# scoregate's own sample history at 1M, 10M and 100M items (generated once,
# cached in ${TMPDIR:-/tmp}/scoregate-scale-ROWS like benches/scale.sh's),
# one replay per size after a warm-up read of the files, within the default
# --memory-budget (4 GiB: a history estimated larger is replayed in window
# partitions, README "Memory budget"). Prints a table row per size.
#
#   benches/growth.sh [SIZES]     (default "1000000 10000000 100000000")
#   BUDGET=32GiB benches/growth.sh  (another budget: 32GiB reads 100M whole)
#
# 100M items take about 2 GB on disk; read whole, about 15 GB of memory.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"1000000 10000000 100000000"}
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/scoregate
BUDGET=${BUDGET:-4GiB}
echo "| items | partitions | replay | items/s | peak RSS | RSS per item |"
echo "|---|---|---|---|---|---|"
for ROWS in $SIZES; do
  DIR=${TMPDIR:-/tmp}/scoregate-scale-$ROWS
  if [ ! -d "$DIR/store/history" ]; then
    "$BIN" sample-data --out "$DIR/store" --rows "$ROWS" --seed 42 > /dev/null
  fi
  sed -e "s#^store = .*#store = \"$DIR/store\"#" pipelines/payments-platform.toml > "$DIR/pipeline-growth.toml"
  "$BIN" profile put --pipeline "$DIR/pipeline-growth.toml" data-samples/profiles/live.json > /dev/null
  cat "$DIR"/store/history/payments-platform/*/*.parquet > /dev/null   # warm the page cache
  /usr/bin/time -f "%e %M" -o "$DIR/growth-time.txt" "$BIN" replay --json --no-store --pipeline "$DIR/pipeline-growth.toml" \
      --candidate data-samples/profiles/candidate.json --out "$DIR/packet-growth.json" --memory-budget "$BUDGET" > "$DIR/growth-report.json"
  read -r secs rss_kb < "$DIR/growth-time.txt"
  python3 -c "
import json
rows, secs, kb = $ROWS, $secs, $rss_kb
parts = json.load(open('$DIR/growth-report.json'))['history_partitions']
print(f'| {rows / 1e6:g}M | {parts} | {secs:.2f} s | {rows / secs / 1e6:.2f}M | {kb / 1024 / 1024:.2f} GB | {kb * 1024 / rows:.0f} B |')"
done
