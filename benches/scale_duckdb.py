"""The reference for the scale run: the same replay as one DuckDB query.

    python3 scale_duckdb.py HISTORY_GLOB LIVE.json CANDIDATE.json COHORT DEFAULT_CAPACITY PACKET.json

Builds each profile's score as a SQL expression in the order SPEC §2 fixes,
ranks every window with row_number() over (partition by window_id order by
score desc, item_id), counts per class, prints the seconds the query took,
and checks its counts against scoregate's packet.
"""
import json
import sys
import time

import duckdb

glob, live_path, cand_path, cohort, default_cap, packet_path = sys.argv[1:7]


def score_sql(profile):
    terms = "0.0"
    for name in sorted(profile["features"], key=lambda s: s.encode()):
        f = profile["features"][name]
        x = f"coalesce(CAST({name} AS DOUBLE), 0.0)"
        if "cap" in f:
            x = f"least({x}, {float(f['cap'])!r})"
        if f.get("transform") == "log1p":
            x = f"ln(1 + {x})"
        terms = f"({terms} + {float(f['weight'])!r} * {x})"
    cb = profile.get("class_boost", {})
    if cb:
        cases = " ".join(f"WHEN '{k}' THEN {float(v)!r}" for k, v in cb.items())
        terms = f"({terms} + CASE signoff_class {cases} ELSE 0.0 END)"
    kb = profile.get("kind_boost", {})
    if kb:
        cases = " ".join(f"WHEN '{k}' THEN {float(v)!r}" for k, v in kb.items())
        terms = f"({terms} + CASE kind {cases} ELSE 0.0 END)"
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "="}
    for r in profile.get("rules", []):
        x = f"coalesce(CAST({r['feature']} AS DOUBLE), 0.0)"
        terms = f"({terms} * CASE WHEN {x} {ops[r['op']]} {float(r['value'])!r} THEN {float(r['multiply'])!r} ELSE 1.0 END)"
    return terms


live = json.load(open(live_path))
cand = json.load(open(cand_path))
query = f"""
WITH h AS (
  SELECT item_id, window_id, signoff_class, actionable,
         coalesce(window_capacity, {int(default_cap)}) AS cap,
         {score_sql(live)} AS s_live, {score_sql(cand)} AS s_cand
  FROM read_parquet('{glob}', hive_partitioning = false)
  WHERE cohort = '{cohort}'
), r AS (
  SELECT signoff_class, actionable, cap,
         row_number() OVER (PARTITION BY window_id ORDER BY s_live DESC, item_id) AS r_live,
         row_number() OVER (PARTITION BY window_id ORDER BY s_cand DESC, item_id) AS r_cand
  FROM h
)
SELECT signoff_class, count(*) AS items, count(*) FILTER (WHERE actionable) AS actionable,
       count(*) FILTER (WHERE r_live <= cap) AS surfaced_live, count(*) FILTER (WHERE actionable AND r_live <= cap) AS tp_live,
       count(*) FILTER (WHERE r_cand <= cap) AS surfaced_cand, count(*) FILTER (WHERE actionable AND r_cand <= cap) AS tp_cand
FROM r GROUP BY signoff_class ORDER BY signoff_class
"""
con = duckdb.connect()
t0 = time.perf_counter()
rows = con.execute(query).fetchall()
elapsed = time.perf_counter() - t0

packet = json.load(open(packet_path))
by_class = {c["class"]: c for c in packet["classes"]}
mismatches = 0
for cls, items, actionable, s_l, tp_l, s_c, tp_c in rows:
    c = by_class[cls]
    got = (c["live"]["items"], c["live"]["actionable"], c["live"]["surfaced"], c["live"]["tp"], c["candidate"]["surfaced"], c["candidate"]["tp"])
    if got != (items, actionable, s_l, tp_l, s_c, tp_c):
        mismatches += 1
        print(f"MISMATCH {cls}: duckdb {(items, actionable, s_l, tp_l, s_c, tp_c)} scoregate {got}", file=sys.stderr)
print(json.dumps({"duckdb_seconds": elapsed, "classes": len(rows), "mismatches": mismatches}))
