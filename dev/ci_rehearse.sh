#!/usr/bin/env bash
# Starts `make run` in the background, runs the blue/green rehearsal test (tests/stack: both
# outcomes, with a request loop through :8000), prints its figures, then stops the stack with
# Ctrl-C and checks that nothing it started is left listening. Binds the stack's fixed ports:
# run it under the machine's stack lock.
set -euo pipefail
cd "$(dirname "$0")/.."
log=.run/ci-rehearse-stack.log
mkdir -p .run
setsid make run >"$log" 2>&1 &
stack=$!
stop() {
  kill -INT -- "-$stack" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$stack" 2>/dev/null || break; sleep 0.5; done
}
trap stop EXIT
for _ in $(seq 1 180); do
  if curl -sf http://127.0.0.1:8000/topup/health >/dev/null && curl -sf http://127.0.0.1:8443/health >/dev/null; then
    break
  fi
  kill -0 "$stack" 2>/dev/null || { cat "$log"; echo "make run exited early" >&2; exit 1; }
  sleep 1
done
rm -f .run/rehearsal/figures.json
BETFUZ_STACK_TESTS=1 .venv/bin/python -m pytest tests/stack -q -p no:cacheprovider \
  || { tail -n 60 "$log"; tail -n 40 .run/rehearsal/*.log; exit 1; }
echo "rehearsal figures (requests through :8000 during each deployment):"
cat .run/rehearsal/figures.json; echo
stop
trap - EXIT
if ss -ltnH | grep -E ':(8000|8001|8002|8003|8443|9101|9102|8545)\b'; then
  echo "the stack left listeners behind after Ctrl-C" >&2
  exit 1
fi
echo "rehearsal passed; the stack stopped cleanly"
