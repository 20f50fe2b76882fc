#!/usr/bin/env bash
# Starts `make run` in the background as a newcomer would (on CI's fresh clone that includes the
# first-time set-up), waits until every service answers through the router, then runs against it:
# the Postman smoke collections (`make smoke`), and the README's quick-start commands plus
# `make demo`, checking what each prints (tests/dev/test_quickstart.py). Then it stops the stack
# with the same Ctrl-C a person would send and checks that nothing it started is left listening.
# It prints how long `make run` took to say something and to be up.
set -euo pipefail
log=.run/ci-stack.log
mkdir -p .run
started=$(date +%s%N)
setsid make run >"$log" 2>&1 &
stack=$!
stop() {
  kill -INT -- "-$stack" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$stack" 2>/dev/null || break; sleep 0.5; done
}
trap stop EXIT
elapsed() { echo "$(( ($(date +%s%N) - started) / 1000000 ))"; }
first_output_ms=""
up_ms=""
# Up to 15 minutes: a cold start builds the venv first.
for _ in $(seq 1 4500); do
  if [ -z "$first_output_ms" ] && [ -s "$log" ]; then first_output_ms=$(elapsed); fi
  if curl -sf http://127.0.0.1:8000/topup/health >/dev/null \
    && curl -sf http://127.0.0.1:8000/treasury/health >/dev/null \
    && curl -sf http://127.0.0.1:8000/ledger/health >/dev/null \
    && grep -q '"stack is up"' "$log"; then
    up_ms=$(elapsed)
    break
  fi
  kill -0 "$stack" 2>/dev/null || { cat "$log"; echo "make run exited early" >&2; exit 1; }
  sleep 0.2
done
[ -n "$up_ms" ] || { tail -n 80 "$log"; echo "make run did not come up" >&2; exit 1; }
echo "make run: first output after $((first_output_ms))ms, stack up after $((up_ms))ms"
if [ "$first_output_ms" -gt 5000 ]; then
  echo "make run was silent for ${first_output_ms}ms before its first line" >&2
  exit 1
fi
make smoke || { tail -n 80 "$log"; exit 1; }
demo_started=$(date +%s%N)
BETFUZ_STACK_TESTS=1 .venv/bin/python -m pytest tests/dev/test_quickstart.py -q -p no:cacheprovider \
  || { tail -n 80 "$log"; exit 1; }
echo "quick-start and make demo (three demo runs): $(( ($(date +%s%N) - demo_started) / 1000000 ))ms"
# Piped, `make run` writes no colour codes (its terminal rendering is for terminals only).
if grep -q $'\x1b\\[' "$log"; then
  echo "make run wrote terminal escape codes into a pipe" >&2
  exit 1
fi
stop
trap - EXIT
if ss -ltnH | grep -E ':(8000|8001|8002|8003|9101|9102|8545)\b'; then
  echo "the stack left listeners behind after Ctrl-C" >&2
  exit 1
fi
echo "smoke and quick-start passed; the stack stopped cleanly"
