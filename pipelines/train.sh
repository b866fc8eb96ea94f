#!/usr/bin/env bash
# The monthly training pipeline: retrain the linkage model and the risk model, then promote the
# challenger if it passes the gates (a refusal exits 1 and leaves the champion in place).
set -euo pipefail
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
RISKFLAG="${RISKFLAG:-riskflag}"
CONFIG="${RISKFLAG_CONFIG:?set RISKFLAG_CONFIG to the council config}"
"$RISKFLAG" validate --config "$CONFIG"
"$RISKFLAG" link train --config "$CONFIG"
"$RISKFLAG" link run --config "$CONFIG" --full
"$RISKFLAG" train --config "$CONFIG"
"$RISKFLAG" promote --config "$CONFIG"
