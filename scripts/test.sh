#!/usr/bin/env bash
# The project's test command:  ./scripts/test.sh [pytest args...]
# Bootstraps the cached environment (once per machine), then runs pytest from the repository
# root with the repository on PYTHONPATH (the package is not installed into the shared venv).
# Real-data tests run when LMLE_DATA_ROOT points at the datasets; they are skipped otherwise.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$("$repo/scripts/bootstrap.sh")"
if [[ "${LMLE_USE_CURRENT_ENV:-0}" == "1" ]]; then
    py="$(command -v "${PYTHON:-python3}")"
else
    py="$venv/bin/python"
fi
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
# sleeping OpenMP waits: spinning threads starve a shared CPU (lmle_core/__init__.py says why)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec "$py" -m pytest "$@"
