"""Errors raised by the dataset readers.

Two kinds only, both subclasses of standard exceptions so callers that do not
know this module still catch them:

* :class:`DatasetMissingError` (a ``FileNotFoundError``): a file or folder of
  an official layout is absent. The message names it and the exact command
  that fetches the data.
* :class:`CorruptFileError` (a ``ValueError``): a file is there but cannot be
  read as the official format. The message names the file, the line when
  there is one, and what is wrong.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, "os.PathLike[str]"]


def download_command(dataset: str, data_root: PathLike) -> str:
    """The shell command that downloads ``dataset`` into ``data_root``."""
    root = os.fspath(data_root)
    return f"python -m lmle_core.data.download {dataset} --root {shlex.quote(root)}"


class DatasetMissingError(FileNotFoundError):
    """A dataset file or folder is missing.

    Attributes: ``dataset`` (name as in ``DATASET_NAMES``), ``path`` (the
    missing file or folder), ``download_command`` (the command that gets it).
    """

    def __init__(
        self,
        dataset: str,
        path: PathLike,
        download_command: Optional[str] = None,
        hint: Optional[str] = None,
    ):
        self.dataset = dataset
        self.path = Path(path)
        self.download_command = download_command or ""
        self.hint = hint
        lines = [f"{dataset}: missing {self.path}"]
        if hint:
            lines.append(hint)
        if self.download_command:
            lines.append(f"Get the data with:\n    {self.download_command}")
        lines.append(
            "(the data root comes from the data_root argument, else $LMLE_DATA_ROOT, "
            "else ./data; see data/README.md for the official layouts)"
        )
        super().__init__("\n".join(lines))

    def __reduce__(self):  # keep picklable (multiprocessing, pytest-xdist)
        return (type(self), (self.dataset, self.path, self.download_command, self.hint))


class CorruptFileError(ValueError):
    """A file exists but is not valid in its official format.

    Attributes: ``path``, ``problem`` (what is wrong), ``line`` (1-based line
    number for text files, or None).
    """

    def __init__(self, path: PathLike, problem: str, line: Optional[int] = None):
        self.path = Path(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"corrupt file {where}: {problem}")

    def __reduce__(self):
        return (type(self), (self.path, self.problem, self.line))
