"""Importing lmle_core makes OpenMP threads sleep while they wait (unless the environment says
otherwise): spinning threads made a tiny Table 5 run 6x slower on a shared 2-core machine."""
import os
import subprocess
import sys

CODE = "import lmle_core, os; print(os.environ['OMP_WAIT_POLICY'])"


def _run(env):
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_sets_passive_waits_when_unset():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _run(env) == "PASSIVE"


def test_a_value_in_the_environment_wins():
    assert _run({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
