"""Read scoregate's parquet outputs with pyarrow, polars and DuckDB.

    python3 read_outputs.py ITEMS.parquet HISTORY.parquet

Prints one JSON object: for each library, what it saw in both files. The
Rust test `consumers` compares it with what scoregate computed.
"""
import json
import sys

import duckdb
import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq

items, history = sys.argv[1], sys.argv[2]
out = {}

t = pq.read_table(items)
h = pq.read_table(history)
out["pyarrow"] = {
    "columns": t.column_names,
    "rows": t.num_rows,
    "unjudged": t.column("actionable").null_count,
    "actionable": sum(1 for v in t.column("actionable").to_pylist() if v),
    "missed": sum(t.column("missed").to_pylist()),
    "candidate_surfaced": sum(t.column("candidate_surfaced").to_pylist()),
    "window_start_min_us": int(pc.min(t.column("window_start")).cast("int64").as_py()),
    "metadata": {k.decode(): v.decode() for k, v in pq.read_metadata(items).metadata.items()},
    "history_rows": h.num_rows,
    "history_windows": len(set(h.column("window_id").to_pylist())),
}

df = pl.read_parquet(items)
hf = pl.read_parquet(history)
out["polars"] = {
    "columns": df.columns,
    "rows": df.height,
    "unjudged": df["actionable"].null_count(),
    "actionable": int(df["actionable"].sum()),
    "missed": int(df["missed"].sum()),
    "candidate_surfaced": int(df["candidate_surfaced"].sum()),
    "window_start_min_us": int(df["window_start"].min().timestamp() * 1_000_000),
    "metadata": pl.read_parquet_metadata(items),
    "history_rows": hf.height,
    "history_windows": hf["window_id"].n_unique(),
}

con = duckdb.connect()
cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{items}')").fetchall()]
rows, unjudged, actionable, missed, surfaced, ws_min = con.execute(
    f"""SELECT count(*), count(*) FILTER (WHERE actionable IS NULL), count(*) FILTER (WHERE actionable),
        count(*) FILTER (WHERE missed), count(*) FILTER (WHERE candidate_surfaced), epoch_us(min(window_start))
        FROM read_parquet('{items}')"""
).fetchone()
metadata = {
    k.decode(): v.decode()
    for k, v in con.execute(f"SELECT key, value FROM parquet_kv_metadata('{items}')").fetchall()
}
hrows, hwin = con.execute(f"SELECT count(*), count(DISTINCT window_id) FROM read_parquet('{history}')").fetchone()
# The surfaced flag must agree with rank and capacity on every row.
bad = con.execute(
    f"SELECT count(*) FROM read_parquet('{items}') WHERE live_surfaced <> (live_rank <= capacity)"
).fetchone()[0]
out["duckdb"] = {
    "columns": cols,
    "rows": rows,
    "unjudged": unjudged,
    "actionable": actionable,
    "missed": missed,
    "candidate_surfaced": surfaced,
    "window_start_min_us": ws_min,
    "metadata": metadata,
    "history_rows": hrows,
    "history_windows": hwin,
    "surfaced_disagreements": bad,
}
print(json.dumps(out))
