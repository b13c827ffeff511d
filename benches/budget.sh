#!/usr/bin/env bash
# Runs every scenario of the performance budget (docs/performance.md) with a
# release build and prints one summary line each; the full JSON reports are
# kept in $OUT. Close other work first: the load average is printed and
# recorded in each report, and numbers taken under load are not comparable.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/budget}
SECS=${SECS:-10}
mkdir -p "$OUT"
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/pyconchat
echo "$(uptime)"

run() {
    local name=$1
    shift
    "$BIN" bench --quiet --json "$@" >"$OUT/$name.json"
    python3 - "$OUT/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency"]
rss = (r.get("server_peak_rss_bytes") or 0) / 2**20
print(f"{sys.argv[2]:<12} deliveries/s {r['deliveries_per_s']:>12,.0f}  accepted/s {r['accepted_per_s']:>9,.0f}  "
      f"p50 {l['p50_us']/1000:.3f} ms  p99 {l['p99_us']/1000:.3f} ms  p99.9 {l['p999_us']/1000:.3f} ms  "
      f"gaps {r['gaps']}  dups {r['duplicates']}  peak RSS {rss:.1f} MiB  set-up {r['setup_s']:.2f} s  "
      f"load {r['load_average_before'][0]:.2f}  other CPU {100 * (r.get('other_cpu_s') or 0) / r['elapsed_s']:.0f}% of a core")
PY
}

run fanout-10x100 -n 1000 -g 10 -p 1 -s 64 -t "$SECS"
run fanout-1x1000 -n 1000 -g 1 -p 1 -s 64 -t "$SECS"
run latency-20k -n 1000 -g 10 -p 1 -s 64 -r 200 -t "$SECS"
run idle-10k -n 10000 -g 100 -p 0 -t 2 --spawn
run conv-100x100x10 -n 1000 -g 100 -k 10 -p 1 -s 64 -t "$SECS" --spawn
run idle-10k-x10 -n 10000 -g 1000 -k 10 -p 0 -t 2 --spawn
