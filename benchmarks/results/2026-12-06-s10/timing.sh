#!/usr/bin/env bash
# The test suite one test at a time, then as scripts/test runs it, twice, interleaved, on one debug build
# (swift build --build-tests first). Needs a PostgreSQL: scripts/test-postgres start > /tmp/pg.env.
cd "$(dirname "$0")/../../.."
eval "$(cat /tmp/pg.env)"; export CONDUIT_TEST_POSTGRES_URL
for round in 1 2; do
  s=$(date +%s.%N); swift test --skip-build --no-parallel > /tmp/t-serial-$round.log 2>&1; e=$(date +%s.%N)
  echo "round $round serial $(echo "$e-$s"|bc) $(grep -c '✘' /tmp/t-serial-$round.log)"
  s=$(date +%s.%N); swift test --skip-build --skip EndToEnd > /tmp/t-par-$round.log 2>&1; swift test --skip-build --no-parallel --filter EndToEnd >> /tmp/t-par-$round.log 2>&1; e=$(date +%s.%N)
  echo "round $round parallel+e2e $(echo "$e-$s"|bc) $(grep -c '✘' /tmp/t-par-$round.log)"
done
