"""The README's "Use the pieces" block runs as written (extracted verbatim by its marker)."""
import math
import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- readme-pieces -->"


def _pieces_block() -> str:
    text = README.read_text(encoding="utf-8")
    assert text.count(MARKER) == 1, f"README.md must hold exactly one {MARKER}"
    match = re.search(re.escape(MARKER) + r"\n```python\n(.*?)\n```", text, re.S)
    assert match, f"{MARKER} must be followed by a ```python block"
    return match.group(1)


def test_the_block_is_short():
    assert len(_pieces_block().splitlines()) <= 16


def test_readme_pieces_run_verbatim(capsys):
    ns = {}
    exec(compile(_pieces_block(), str(README), "exec"), ns)
    out = capsys.readouterr().out
    assert out.startswith("LMLE loss ")
    loss = float(ns["loss"])
    assert math.isfinite(loss) and loss > 0            # random digits features violate some margins
    table, y = ns["table"], ns["y"]
    assert table.shape == (len(y), 5) and (table[:, 0] == np.arange(len(y))).all()
    assert (y[table[:, 4]] != y).all()                  # the negative is of another class
    scores = ns["scores"]
    assert scores.shape == (len(y) - 1200, 10)
    # the Eq. 3 scores rank the predicted class first, and kNN on digits pixels is far above chance
    knn, feats = ns["knn"], ns["feats"]
    np.testing.assert_array_equal(knn.classes_[scores.argmax(1)], knn.predict(feats[1200:]))
    assert ns["metrics"].balanced_accuracy(y[1200:], knn.predict(feats[1200:])) > 0.8
