#!/usr/bin/env bash
# Sweep run: `replay` with 8 candidates against `replay` with 1, alternated
# on the same history (benches/scale.sh's, cached in $SCALE_DIR). The 8
# candidates are the sample candidate with `canary_drift` weighted 1.0 to
# 4.5. Prints each run and the ratio of the medians (target <= 2).
#
#   benches/sweep.sh [ROWS]          (default 10000000)
#   SHAPE=warehouse benches/sweep.sh (after SHAPE=warehouse benches/scale.sh made it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
DIR=${SCALE_DIR:-${TMPDIR:-/tmp}/scoregate-scale-$ROWS}
REPEAT=${REPEAT:-3}
SHAPE=${SHAPE:-own}
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/scoregate
P="$DIR/pipeline-$SHAPE.toml"
[ -f "$P" ] || { echo "no $P: run SHAPE=$SHAPE benches/scale.sh $ROWS first" >&2; exit 2; }
mkdir -p "$DIR/sweep"
python3 - "$DIR/sweep" <<'PYEOF'
import json, sys
c = json.load(open("data-samples/profiles/candidate.json"))
for k in range(8):
    d = json.loads(json.dumps(c))
    d["name"] = f"sweep-{k}"
    d["features"]["canary_drift"] = {"weight": 1.0 + 0.5 * k}
    json.dump(d, open(f"{sys.argv[1]}/c{k}.json", "w"), indent=1)
PYEOF
EIGHT=(); for k in 0 1 2 3 4 5 6 7; do EIGHT+=(--candidate "$DIR/sweep/c$k.json"); done
one=""; eight=""
for i in $(seq "$REPEAT"); do
  /usr/bin/time -f "%e %M" -o "$DIR/sweep/t1" "$BIN" replay --no-store --pipeline "$P" \
      --candidate "$DIR/sweep/c0.json" --out "$DIR/sweep/one/packet.json" > /dev/null
  /usr/bin/time -f "%e %M" -o "$DIR/sweep/t8" "$BIN" replay --no-store --pipeline "$P" \
      "${EIGHT[@]}" --out "$DIR/sweep/eight/packet.json" > /dev/null
  read -r s1 r1 < "$DIR/sweep/t1"; read -r s8 r8 < "$DIR/sweep/t8"
  echo "run $i: 1 candidate ${s1}s ($((r1 / 1024)) MB), 8 candidates ${s8}s ($((r8 / 1024)) MB)"
  one="$one $s1"; eight="$eight $s8"
done
python3 - "$SHAPE" "$ROWS" "$one" "$eight" <<'PYEOF'
import statistics, sys
shape, rows = sys.argv[1], int(sys.argv[2])
one, eight = (statistics.median(float(x) for x in a.split()) for a in sys.argv[3:5])
print(f"{shape} {rows / 1e6:g}M: median 1 candidate {one:.2f}s, 8 candidates {eight:.2f}s, ratio {eight / one:.2f} (target <= 2)")
PYEOF
