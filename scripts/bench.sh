#!/usr/bin/env bash
# Builds the release provider and the benchmark, then runs the benchmark (docs/benchmarks.md).
# Arguments go to the benchmark, e.g. `bash scripts/bench.sh --backend postgres --only refresh`;
# `bash scripts/bench.sh --help` lists them. Needs PostgreSQL and Redis for the PostgreSQL + Redis run
# (TEST_DATABASE_URL / TEST_REDIS_URL, defaults 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p dingtalk-oidc -p dingtalk-oidc-bench
exec target/release/bench "$@"
