#!/usr/bin/env bash
# Run every fuzz target for a bounded time (FUZZ_SECONDS, default 30) from
# seed corpora made of the project's own fixtures; exit non-zero on any crash.
# Needs the nightly toolchain and cargo-fuzz (.ci/run installs cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${FUZZ_SECONDS:-30}
TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/scoregate/fuzz-target}
CORPUS=${FUZZ_CORPUS:-$HOME/.cache/scoregate/fuzz-corpus}
seed() { # seed TARGET FILE...
  local t=$1; shift
  mkdir -p "$CORPUS/$t"
  for f in "$@"; do cp "$f" "$CORPUS/$t/seed-$(basename "$f")"; done
}
seed manifest ../tests/fixtures/approvals/*.toml
seed allowed_signers seeds/allowed_signers/*
seed profile ../data-samples/profiles/*.json
seed pipeline ../pipelines/*.toml
seed commit seeds/commit/*
seed history ../tests/fixtures/writers/*.parquet ../tests/fixtures/corrupt/*.parquet \
  "$(ls ../data-samples/store/history/payments-platform/*/*.parquet | head -1)"
cargo +nightly fuzz build -s none --fuzz-dir . --target-dir "$TARGET_DIR"
for t in manifest allowed_signers profile pipeline commit history; do
  echo "fuzz: $t for ${SECONDS_EACH}s"
  cargo +nightly fuzz run -s none --fuzz-dir . --target-dir "$TARGET_DIR" "$t" "$CORPUS/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -print_final_stats=1 2>&1 | tail -n 4
  # cargo fuzz exits non-zero on a crash, and pipefail carries it out.
done
echo "fuzz: every target ran ${SECONDS_EACH}s without a crash"
