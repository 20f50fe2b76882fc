#!/usr/bin/env bash
# Starts `make run` in the background, waits until every service answers through the router,
# runs `make smoke` against it, then stops the stack with the same Ctrl-C a person would send
# and checks that nothing it started is left listening.
set -euo pipefail
log=.run/ci-stack.log
mkdir -p .run
setsid make run >"$log" 2>&1 &
stack=$!
stop() {
  kill -INT -- "-$stack" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$stack" 2>/dev/null || break; sleep 0.5; done
}
trap stop EXIT
for _ in $(seq 1 180); do
  if curl -sf http://127.0.0.1:8000/topup/health >/dev/null \
    && curl -sf http://127.0.0.1:8000/treasury/health >/dev/null \
    && curl -sf http://127.0.0.1:8000/ledger/health >/dev/null; then
    break
  fi
  kill -0 "$stack" 2>/dev/null || { cat "$log"; echo "make run exited early" >&2; exit 1; }
  sleep 1
done
make smoke || { tail -n 80 "$log"; exit 1; }
stop
trap - EXIT
if ss -ltnH | grep -E ':(8000|8001|8002|8003|9101|9102|8545)\b'; then
  echo "the stack left listeners behind after Ctrl-C" >&2
  exit 1
fi
echo "smoke passed; the stack stopped cleanly"
