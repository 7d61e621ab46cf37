"""Read scoregate's parquet outputs with pyarrow, polars and DuckDB.

    python3 read_outputs.py ITEMS.parquet HISTORY.parquet

Prints one JSON object: for each library, what it saw in both files. The
Rust test `consumers` compares it with what scoregate computed.
"""
import json
import sys

import duckdb
import polars as pl
import pyarrow.parquet as pq

items, history = sys.argv[1], sys.argv[2]
out = {}

t = pq.read_table(items)
h = pq.read_table(history)
out["pyarrow"] = {
    "columns": t.column_names,
    "rows": t.num_rows,
    "live_rank_sum": sum(t.column("live_rank").to_pylist()),
    "candidate_surfaced": sum(t.column("candidate_surfaced").to_pylist()),
    "first_item": t.column("item_id")[0].as_py(),
    "history_rows": h.num_rows,
    "history_windows": len(set(h.column("window_id").to_pylist())),
}

df = pl.read_parquet(items)
hf = pl.read_parquet(history)
out["polars"] = {
    "columns": df.columns,
    "rows": df.height,
    "live_rank_sum": int(df["live_rank"].sum()),
    "candidate_surfaced": int(df["candidate_surfaced"].sum()),
    "first_item": df["item_id"][0],
    "history_rows": hf.height,
    "history_windows": hf["window_id"].n_unique(),
}

con = duckdb.connect()
cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{items}')").fetchall()]
rows, rank_sum, surfaced = con.execute(
    f"SELECT count(*), sum(live_rank), count(*) FILTER (WHERE candidate_surfaced) FROM read_parquet('{items}')"
).fetchone()
first = con.execute(f"SELECT item_id FROM read_parquet('{items}') LIMIT 1").fetchone()[0]
hrows, hwin = con.execute(f"SELECT count(*), count(DISTINCT window_id) FROM read_parquet('{history}')").fetchone()
# The surfaced flag must agree with rank and capacity on every row.
bad = con.execute(
    f"SELECT count(*) FROM read_parquet('{items}') WHERE live_surfaced <> (live_rank <= capacity)"
).fetchone()[0]
out["duckdb"] = {
    "columns": cols,
    "rows": rows,
    "live_rank_sum": int(rank_sum),
    "candidate_surfaced": surfaced,
    "first_item": first,
    "history_rows": hrows,
    "history_windows": hwin,
    "surfaced_disagreements": bad,
}
print(json.dumps(out))
