#!/usr/bin/env bash
# The main job: execute every study notebook of a profile with papermill, then write
# results/<profile>/REPORT.md (tables, figures, comparison with the papers' numbers).
#
#   ./run_all.sh [--profile tiny|quick|full] [--data-root DIR] [--only NAME[,NAME]] [-p NAME VALUE] [-y YAML] [--list]
#   ./run_all.sh --lab [--data-root DIR] [--no-browser ...]     JupyterLab on the notebooks (scripts/lab.sh)
#
# Defaults: --profile quick; --data-root $LMLE_DATA_ROOT, else ./data of this repository.
# A study whose data is missing is skipped (the report says how to get the data); the exit
# status is 1 when a notebook failed, 2 for bad options or parameters (nothing starts), 130 / 143
# when interrupted (SIGINT / SIGTERM). More options: ./run_all.sh --help
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for arg in "$@"; do  # --lab anywhere: read and run the notebooks by hand (JupyterLab): scripts/lab.sh
    if [[ "$arg" == "--lab" ]]; then
        rest=()
        for a in "$@"; do [[ "$a" == "--lab" ]] || rest+=("$a"); done
        exec "$repo/scripts/lab.sh" "${rest[@]+"${rest[@]}"}"
    fi
done
venv="$("$repo/scripts/bootstrap.sh")"
if [[ "${LMLE_USE_CURRENT_ENV:-0}" == "1" ]]; then
    py="$(command -v "${PYTHON:-python3}")"
else
    py="$venv/bin/python"
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export LMLE_RUN_ALL=1
exec "$py" -m lmle_core.study.runner "$@"
