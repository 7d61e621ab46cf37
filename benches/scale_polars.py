"""A polars peer for the scale run: the replay a steward would write.

    python3 scale_polars.py HISTORY_GLOB LIVE.json CANDIDATE.json COHORT DEFAULT_CAPACITY PACKET.json

Lazy scan, both profiles' scores as expressions in the order SPEC §2 fixes,
sort by (window, score desc, item id), a row number per window, per-class
counts. Prints the seconds it took and checks its counts against
scoregate's packet, like scale_duckdb.py.
"""
import json
import sys
import time

import polars as pl

glob, live_path, cand_path, cohort, default_cap, packet_path = sys.argv[1:7]


def score(profile):
    s = pl.lit(0.0)
    for name in sorted(profile["features"], key=lambda n: n.encode()):
        f = profile["features"][name]
        x = pl.col(name).cast(pl.Float64).fill_null(0.0)
        if "cap" in f:
            x = pl.min_horizontal(x, pl.lit(float(f["cap"])))
        if f.get("transform") == "log1p":
            x = x.log1p()
        s = s + float(f["weight"]) * x
    for column, boosts in (("signoff_class", profile.get("class_boost", {})), ("kind", profile.get("kind_boost", {}))):
        for k, v in boosts.items():
            s = s + pl.when(pl.col(column).cast(pl.String) == k).then(float(v)).otherwise(0.0)
    ops = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__", "eq": "__eq__"}
    for r in profile.get("rules", []):
        x = pl.col(r["feature"]).cast(pl.Float64).fill_null(0.0)
        cond = getattr(x, ops[r["op"]])(float(r["value"]))
        s = s * pl.when(cond).then(float(r["multiply"])).otherwise(1.0)
    return s


def ranked(lf, side):
    return lf.sort(["window_id", side, "item_id"], descending=[False, True, False]).with_columns(
        pl.int_range(1, pl.len() + 1).over("window_id").alias("r_" + side)
    )


live = json.load(open(live_path))
cand = json.load(open(cand_path))
t0 = time.perf_counter()
base = (
    pl.scan_parquet(glob, hive_partitioning=False)
    .filter(pl.col("cohort").cast(pl.String) == cohort)
    .select(
        pl.col("item_id").cast(pl.String),
        pl.col("window_id").cast(pl.String),
        pl.col("signoff_class").cast(pl.String),
        pl.col("actionable"),
        pl.col("window_capacity").fill_null(int(default_cap)).alias("cap"),
        score(live).alias("live"),
        score(cand).alias("cand"),
    )
)
lf = ranked(ranked(base, "live"), "cand")
out = (
    lf.group_by("signoff_class")
    .agg(
        pl.len().alias("items"),
        pl.col("actionable").sum().alias("actionable"),
        (pl.col("r_live") <= pl.col("cap")).sum().alias("surfaced_live"),
        (pl.col("actionable") & (pl.col("r_live") <= pl.col("cap"))).sum().alias("tp_live"),
        (pl.col("r_cand") <= pl.col("cap")).sum().alias("surfaced_cand"),
        (pl.col("actionable") & (pl.col("r_cand") <= pl.col("cap"))).sum().alias("tp_cand"),
    )
    .sort("signoff_class")
    .collect()
)
elapsed = time.perf_counter() - t0

packet = json.load(open(packet_path))
by_class = {c["class"]: c for c in packet["classes"]}
mismatches = 0
for row in out.iter_rows(named=True):
    c = by_class[row["signoff_class"]]
    got = (c["live"]["items"], c["live"]["actionable"], c["live"]["surfaced"], c["live"]["tp"], c["candidate"]["surfaced"], c["candidate"]["tp"])
    want = (row["items"], row["actionable"], row["surfaced_live"], row["tp_live"], row["surfaced_cand"], row["tp_cand"])
    if got != want:
        mismatches += 1
        print(f"MISMATCH {row['signoff_class']}: polars {want} scoregate {got}", file=sys.stderr)
print(json.dumps({"polars_seconds": elapsed, "classes": out.height, "mismatches": mismatches}))
