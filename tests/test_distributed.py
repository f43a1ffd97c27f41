"""Data-parallel training through torch.distributed: two CPU processes (gloo, launched by torchrun)
train the attribute heads exactly as one process does (same loss curve, same weights)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent("""
    import sys
    import torch
    import torch.distributed as dist
    from tests.test_attributes import FEAT, A, budget, problem, train_heads
    from lmle_core import distributed, nets

    method, out = sys.argv[1], sys.argv[2]
    if "RANK" in __import__("os").environ:
        dist.init_process_group("gloo")
    torch.set_num_threads(1)
    source, labels, val_labels = problem(2)
    torch.manual_seed(0)
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    res = train_heads(heads, source, labels, val_labels, method, budget(max_rounds=2, patience=2))
    if distributed.is_main():
        torch.save({"heads": heads.state_dict(), "losses": [h.mean_loss for h in res.history],
                    "world": distributed.world()[1]}, out)
    if dist.is_initialized():
        dist.destroy_process_group()
""")


def run(tmp_path: Path, method: str, processes: int) -> dict:
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    out = tmp_path / f"{method.replace('+', '_')}-{processes}.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(worker), method, str(out)]
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] + cmd[1:]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return torch.load(out)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["Quintuplet+resample+cost", "Triplet+resample+cost", "Softmax"])
def test_two_processes_train_like_one(tmp_path, method):
    one, two = run(tmp_path, method, 1), run(tmp_path, method, 2)
    assert one["world"] == 1 and two["world"] == 2
    assert len(one["losses"]) == len(two["losses"]) == 2
    torch.testing.assert_close(torch.tensor(two["losses"]), torch.tensor(one["losses"]), rtol=1e-5, atol=1e-6)
    for name, p in one["heads"].items():
        torch.testing.assert_close(two["heads"][name], p, rtol=1e-4, atol=1e-5, msg=name)


def test_shard_and_no_op_without_a_process_group():
    import numpy as np

    from lmle_core import distributed

    assert distributed.world() == (0, 1) and distributed.is_main()
    batch = np.arange(12).reshape(2, 6)
    assert distributed.shard(batch, axis=1) is batch
    g = torch.nn.Parameter(torch.ones(3))
    g.grad = torch.full((3,), 2.0)
    distributed.average_gradients([g])
    assert torch.equal(g.grad, torch.full((3,), 2.0))
