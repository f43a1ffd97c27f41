#!/usr/bin/env python3
"""Clear outputs, execution counts and papermill metadata of notebooks, in place.

    python scripts/strip_notebook_outputs.py notebooks/*.ipynb
    python scripts/strip_notebook_outputs.py --check notebooks/*.ipynb   # exit 1 if any has outputs

Same as ``python scripts/py_to_notebook.py --strip ...``.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from py_to_notebook import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--strip", *sys.argv[1:]]))
