#!/usr/bin/env bash
# The nightly pipeline: one `riskflag nightly` (validate, link, score, explain, publish).
# Exit 0: a list was published (ok or degraded); 1: stopped, yesterday's list stands and the
# status page says why; 2: a configuration or argument error; 3: another run holds the lock.
set -euo pipefail
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
RISKFLAG="${RISKFLAG:-riskflag}"
CONFIG="${RISKFLAG_CONFIG:?set RISKFLAG_CONFIG to the council config}"
exec "$RISKFLAG" nightly --config "$CONFIG" ${RISKFLAG_AS_OF:+--as-of "$RISKFLAG_AS_OF"}
