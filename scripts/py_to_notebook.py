#!/usr/bin/env python3
"""Author notebooks as "percent format" Python scripts and convert them to .ipynb.

    python scripts/py_to_notebook.py src.py notebooks/NAME.ipynb     # convert
    python scripts/py_to_notebook.py --strip notebooks/*.ipynb       # clear outputs in place
    python scripts/py_to_notebook.py --strip --check notebooks/*.ipynb   # exit 1 if any has outputs
    python scripts/py_to_notebook.py --to-py notebooks/NAME.ipynb NAME.py  # back to percent format (edit, convert)

Percent format (as jupytext writes it):

    # %% [markdown]
    # # Title
    # Some prose; each line starts with "# " (or is just "#").

    # %% tags=["parameters"]
    profile = "tiny"
    data_root = "data"

    # %%
    print("a code cell")

A ``# %% [raw]`` cell becomes a raw cell; ``key=value`` pairs after the marker (JSON or
Python literals) become cell metadata; other text on the marker line is ignored. A jupytext
header (``# ---`` ... ``# ---``) at the top is dropped.

The notebook gets the ``lmle`` kernelspec, no outputs and no execution counts, and
deterministic cell ids (``cell-001``...), so regenerating it gives a byte-identical file.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

KERNELSPEC = {"name": "lmle", "display_name": "Python (lmle)", "language": "python"}
_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
_KIND = re.compile(r"^\s*\[(?P<kind>markdown|md|raw)\]")
_META = re.compile(r"(\w+)=(\[[^\]]*\]|\"[^\"]*\"|'[^']*'|\S+)")


def _parse_marker(rest: str) -> tuple[str, dict]:
    kind = "code"
    m = _KIND.match(rest)
    if m:
        kind = "markdown" if m.group("kind") in ("markdown", "md") else "raw"
        rest = rest[m.end():]
    meta: dict = {}
    for key, value in _META.findall(rest):
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            try:
                meta[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                meta[key] = value
    return kind, meta


def _strip_blank_edges(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    if line.rstrip() == "#":
        return ""
    return line


def parse_percent(text: str) -> list[tuple[str, dict, str]]:
    """Split a percent-format script into (kind, metadata, source) cells."""
    lines = text.splitlines()
    # Drop a jupytext header at the very top.
    if lines and lines[0].strip() == "# ---":
        for j in range(1, len(lines)):
            if lines[j].strip() == "# ---":
                lines = lines[j + 1:]
                break
    cells: list[tuple[str, dict, list[str]]] = []
    kind, meta, buf = "code", {}, []
    started = False
    for line in lines:
        m = _MARKER.match(line)
        if m:
            if started or _strip_blank_edges(buf):
                cells.append((kind, meta, buf))
            kind, meta = _parse_marker(m.group("rest"))
            buf, started = [], True
        else:
            buf.append(line)
    if started or _strip_blank_edges(buf):
        cells.append((kind, meta, buf))
    out = []
    for kind, meta, buf in cells:
        buf = _strip_blank_edges(buf)
        if kind == "markdown":
            buf = [_uncomment(l) for l in buf]
        out.append((kind, meta, "\n".join(buf)))
    return out


def make_notebook(cells: list[tuple[str, dict, str]]):
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for i, (kind, meta, source) in enumerate(cells, 1):
        meta = dict(meta)
        if "tags" in meta and not isinstance(meta["tags"], list):
            meta["tags"] = [meta["tags"]]
        if kind == "markdown":
            cell = v4.new_markdown_cell(source, metadata=meta)
        elif kind == "raw":
            cell = v4.new_raw_cell(source, metadata=meta)
        else:
            cell = v4.new_code_cell(source, metadata=meta)
            cell.outputs = []
            cell.execution_count = None
        cell["id"] = f"cell-{i:03d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def convert(src: Path, dst: Path) -> Path:
    import nbformat

    cells = parse_percent(src.read_text(encoding="utf-8"))
    if not cells:
        raise SystemExit(f"{src}: no cells found")
    nb = make_notebook(cells)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(dst)
    return dst


def to_percent(path: Path) -> str:
    """The percent-format script of notebook ``path`` (the inverse of :func:`convert`: converting it
    back gives the same cells)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        meta = {k: v for k, v in cell.get("metadata", {}).items() if k == "tags"}
        marker = "# %%" + {"markdown": " [markdown]", "raw": " [raw]"}.get(cell["cell_type"], "")
        marker += "".join(f" {k}={json.dumps(v)}" for k, v in meta.items())
        if cell["cell_type"] == "markdown":
            source = "\n".join(f"# {line}" if line else "#" for line in source.split("\n"))
        parts.append(marker + "\n" + source)
    return "\n\n".join(parts) + "\n"


def strip_outputs(path: Path, check: bool = False) -> bool:
    """Clear outputs, execution counts and run metadata of ``path``; True if it had any."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    after = nbformat.writes(nb)
    changed = after != before
    if changed and not check:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(after if after.endswith("\n") else after + "\n", encoding="utf-8")
        tmp.replace(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path, help="SRC.py DST.ipynb, or notebooks with --strip")
    p.add_argument("--strip", action="store_true", help="clear outputs of the given notebooks in place")
    p.add_argument("--check", action="store_true", help="with --strip: change nothing, exit 1 if any notebook has outputs")
    p.add_argument("--to-py", action="store_true", help="NOTEBOOK.ipynb DST.py: write the notebook in percent format")
    args = p.parse_args(argv)
    if args.to_py:
        if len(args.paths) != 2:
            p.error("--to-py takes exactly two paths: NOTEBOOK.ipynb DST.py")
        args.paths[1].write_text(to_percent(args.paths[0]), encoding="utf-8")
        return 0
    if args.strip:
        dirty = [path for path in args.paths if strip_outputs(path, check=args.check)]
        for path in dirty:
            print(f"{'has outputs' if args.check else 'stripped'}: {path}", file=sys.stderr)
        return 1 if (args.check and dirty) else 0
    if len(args.paths) != 2:
        p.error("convert takes exactly two paths: SRC.py DST.ipynb")
    src, dst = args.paths
    if dst.suffix != ".ipynb":
        p.error(f"destination must end in .ipynb: {dst}")
    convert(src, dst)
    print(f"wrote {dst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
