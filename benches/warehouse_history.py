"""Rewrite scoregate's own sample history the way a warehouse export looks.

    python3 warehouse_history.py SOURCE_HISTORY_DIR OUT_HISTORY_DIR [--files N] [--seed S]

Same logical rows (so the replay's counts must not change), different shape:
rows in arbitrary order (windows and item ids shuffled across files), plain
non-dictionary item ids, dictionary-encoded cohort/class/kind/window strings,
float32 and int32 features, nanosecond timestamps with a zone, a
`window_capacity` column, and a few large row groups per file. This is the
history `benches/scale.sh` calls "warehouse"; it cannot flatter a reader
that leans on sorted, small row groups.
"""
import argparse
import glob
import os

import random
import pyarrow as pa
import pyarrow.parquet as pq

ap = argparse.ArgumentParser()
ap.add_argument("source")
ap.add_argument("out")
ap.add_argument("--files", type=int, default=8)
ap.add_argument("--seed", type=int, default=20261126)
ap.add_argument("--row-group", type=int, default=1_000_000)
a = ap.parse_args()

files = sorted(glob.glob(os.path.join(a.source, "**", "*.parquet"), recursive=True))
table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
n = table.num_rows
order = list(range(n))
random.Random(a.seed).shuffle(order)
table = table.take(pa.array(order, pa.int64()))


def column(name, t):
    return table.column(name).cast(t)


def dictionary(name):
    return table.column(name).cast(pa.string()).dictionary_encode()


features = {}
for name in table.column_names:
    if name in ("item_id", "cohort", "window_id", "window_start", "kind", "signoff_class", "actionable",
                "board_override", "missed", "window_capacity", "live_revision", "queued_at", "signed_off_at"):
        continue
    t = table.schema.field(name).type
    features[name] = column(name, pa.int32() if pa.types.is_integer(t) else pa.float32())

out = pa.table({
    "item_id": column("item_id", pa.string()),
    "cohort": dictionary("cohort"),
    "window_id": dictionary("window_id"),
    "window_start": column("window_start", pa.timestamp("ns", tz="UTC")),
    "kind": dictionary("kind"),
    "signoff_class": dictionary("signoff_class"),
    "actionable": table.column("actionable"),
    "board_override": table.column("board_override"),
    "missed": table.column("missed"),
    **features,
    "window_capacity": column("window_capacity", pa.int32()),
})
os.makedirs(a.out, exist_ok=True)
per_file = -(-n // a.files)
for k in range(a.files):
    part = out.slice(k * per_file, per_file)
    pq.write_table(part, os.path.join(a.out, f"part-{k:05d}.parquet"), row_group_size=a.row_group,
                   use_dictionary=["cohort", "window_id", "kind", "signoff_class"], compression="snappy")
print(f"wrote {n} rows in {a.files} files under {a.out}")
