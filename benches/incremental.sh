#!/usr/bin/env bash
# Incremental cycle: on the scale history (benches/scale.sh's own shape)
# with a bounded window activated and a day of live rows added, times a
# cycle (`cycle --dry-run`: log, inbox and guardrail readings, which fetch
# only footers and the row groups that can hold live-window rows) against
# a full replay of the same store. Prints medians and their ratio, and the
# row groups the cycle pruned.
#
#   benches/incremental.sh [ROWS]    (default 10000000; history cached in $SCALE_DIR)
#
# Needs ssh-keygen and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
DIR=${SCALE_DIR:-${TMPDIR:-/tmp}/scoregate-scale-$ROWS}
REPEAT=${REPEAT:-3}
cargo build --release --quiet
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release/scoregate")
if [ ! -d "$DIR/store/history" ]; then
  echo "generating $ROWS items into $DIR/store ..."
  "$BIN" sample-data --out "$DIR/store" --rows "$ROWS" --seed 42
fi
W="$DIR/incremental"
rm -rf "$W" && mkdir -p "$W"
cp -al "$DIR/store" "$W/store"          # hard links: sample-data and the cycle only add objects
sed -e 's#^store = .*#store = "store"#' pipelines/payments-platform.toml > "$W/pipeline.toml"
P="$W/pipeline.toml"
ssh-keygen -q -t ed25519 -N '' -C rm-bench -f "$W/rm-bench"
echo "rm-bench@example.com namespaces=\"scoregate-approval\" $(cat "$W/rm-bench.pub")" > "$W/allowed_signers"
"$BIN" profile put --pipeline "$P" data-samples/profiles/live.json > /dev/null

"$BIN" replay --pipeline "$P" --candidate data-samples/profiles/candidate.json --out "$W/packet.json" > /dev/null
"$BIN" manifest draft --pipeline "$P" --packet "$W/packet.json" --window 7d --approver rm-bench@example.com \
    --out "$W/approval.toml" --now 2026-11-02T23:00:00Z > /dev/null
ssh-keygen -q -Y sign -f "$W/rm-bench" -n scoregate-approval "$W/approval.toml" 2> /dev/null
"$BIN" manifest submit --pipeline "$P" --now 2026-11-03T00:00:00Z "$W/approval.toml" > /dev/null
"$BIN" cycle --pipeline "$P" --now 2026-11-03T00:00:00Z > /dev/null
DAY=$((ROWS / 30))
"$BIN" sample-data --out "$W/store" --rows "$DAY" --seed 9 \
    --live-revision "$("$BIN" profile hash data-samples/profiles/candidate.json)" \
    --live-from 2026-11-03T00:00:00Z --live-to 2026-11-04T00:00:00Z > /dev/null
echo "history: $ROWS items plus a day of $DAY live rows, $(find "$W/store/history" -name '*.parquet' | wc -l) objects"

cy=""; rp=""
for i in $(seq "$REPEAT"); do
  /usr/bin/time -f "%e %M" -o "$W/time.txt" "$BIN" -v cycle --dry-run --pipeline "$P" --now 2026-11-04T00:00:00Z \
      > /dev/null 2> "$W/cycle.log" || true
  read -r secs rss_kb < "$W/time.txt"
  pruned=$(sed 's/\x1b\[[0-9;]*m//g' "$W/cycle.log" | grep -o 'items=[0-9]* pruned_row_groups=[0-9]*' | head -1 || true)
  echo "cycle  run $i: ${secs}s, peak RSS $((rss_kb / 1024)) MB, $pruned"
  cy="$cy $secs"
  /usr/bin/time -f "%e %M" -o "$W/time.txt" "$BIN" replay --no-store --pipeline "$P" \
      --candidate data-samples/profiles/candidate.json --out "$W/packet-bench.json" > /dev/null
  read -r secs rss_kb < "$W/time.txt"
  echo "replay run $i: ${secs}s, peak RSS $((rss_kb / 1024)) MB"
  rp="$rp $secs"
done
python3 - "$cy" "$rp" <<'PYEOF'
import statistics, sys
cy, rp = ([float(x) for x in a.split()] for a in sys.argv[1:3])
m_cy, m_rp = statistics.median(cy), statistics.median(rp)
print(f"median cycle {m_cy:.2f}s, full replay {m_rp:.2f}s: the cycle takes {100 * m_cy / m_rp:.1f}% of a replay (target <= 10%)")
PYEOF
