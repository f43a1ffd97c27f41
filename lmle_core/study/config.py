"""The batch run's configuration: ``studies.yaml``, the profiles, and parameter validation.

Every parameter a run would give a notebook (the profile's common ``parameters``, its
per-study ``notebooks`` entries, and ``-p`` / ``-y`` on the command line) is checked BEFORE
any notebook starts against the notebook's own cell tagged ``parameters``:

- the name must be declared there (a misspelled name is an error, not silently ignored);
- the value must have the declared type (``name: int = 3``; without an annotation, the type of
  the default), lists element by element when the default's elements share one type, dicts
  key by key against the default's keys;
- a dict named ``budget`` or ``*_budget`` is checked against ``experiments.Budget`` (every key
  a field of it, every value of the field's type, and the merged dict's value ranges through
  ``Budget.from_dict``); such dicts MERGE key by key over the layers (profile common < profile
  per-study < command line), so ``-y 'budget: {knn_k: 3}'`` changes one key of the profile's budget;
- then the value ranges (:mod:`lmle_core.study.value_ranges`): budgets, non-empty lists, method
  names, positive counts.

A bad parameter raises :class:`ConfigError` naming the profile file (or the command line), the
study, the parameter and what is wrong (for a type: the expected and the given one).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from lmle_core.study.value_ranges import Declared, check_range, is_budget_parameter

INJECTED = ("data_root", "results_dir", "profile")
PROFILE_KEYS = ("timeout_s", "timeouts", "parameters", "notebooks")
_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_BASIC = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}


class ConfigError(Exception):
    """A usage or configuration problem (exit status 2)."""


def _load_yaml(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {path} is not valid YAML: {e}") from None


# ----------------------------------------------------------------------------------------------
# studies.yaml
# ----------------------------------------------------------------------------------------------
def load_studies(notebooks_dir: Path) -> list[dict]:
    """The studies of ``studies.yaml``, validated and with defaults filled in."""
    path = notebooks_dir / "studies.yaml"
    raw = _load_yaml(path, "studies file")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: expected a list of studies, got {type(raw).__name__}")
    studies, seen = [], set()
    for i, entry in enumerate(raw):
        where = f"{path}: study #{i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with name, notebook, title, paper_item, requires")
        for key in ("name", "notebook"):
            if not entry.get(key):
                raise ConfigError(f"{where}: missing '{key}'")
        name = str(entry["name"])
        if not re.fullmatch(_NAME_RE, name):
            raise ConfigError(f"{where}: invalid name {name!r} (letters, digits, '_', '-', '.')")
        if name in seen:
            raise ConfigError(f"{where}: duplicate name {name!r}")
        seen.add(name)
        requires = entry.get("requires") or []
        if not isinstance(requires, list) or not all(
                isinstance(alt, list) and alt and all(isinstance(d, str) for d in alt) for alt in requires):
            raise ConfigError(f"{where} ({name}): 'requires' must be a list of alternatives, each a non-empty "
                              f"list of dataset names, e.g. [[mnist_rot_back_image], [mnist, bsds500]]; "
                              f"got {requires!r}")
        studies.append({**entry, "name": name, "notebook": str(entry["notebook"]),
                        "title": str(entry.get("title") or name),
                        "paper_item": str(entry.get("paper_item") or ""), "requires": requires})
    return studies


def select_studies(studies: list[dict], only: Sequence[str] | None) -> list[dict]:
    """The studies named by ``only`` (``None``: every study; an empty list is an error: an empty
    ``--only ''`` or ``--only ,`` must not silently run everything)."""
    if only is None:
        return studies
    if not only:
        raise ConfigError("--only names no study (it was given empty); name one or more, e.g. --only digits_demo "
                          "(./run_all.sh --list shows them), or leave --only out to run every study")
    names = [s["name"] for s in studies]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ConfigError(f"unknown study name(s): {', '.join(unknown)}; valid names: "
                          f"{', '.join(names) if names else '(none: studies.yaml is empty)'}")
    wanted = set(only)
    return [s for s in studies if s["name"] in wanted]


# ----------------------------------------------------------------------------------------------
# Profiles
# ----------------------------------------------------------------------------------------------
def available_profiles(notebooks_dir: Path) -> list[str]:
    return sorted(p.stem for p in (notebooks_dir / "profiles").glob("*.yaml"))


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number of seconds or null, got {type(value).__name__} {value!r}")
    return float(value) if value > 0 else None


def load_profile(notebooks_dir: Path, profile: str, study_names: Sequence[str] | None = None) -> dict:
    """``notebooks/profiles/<profile>.yaml``, its structure checked (the values: :func:`check_parameters`)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", profile):
        raise ConfigError(f"invalid profile name {profile!r}")
    path = notebooks_dir / "profiles" / f"{profile}.yaml"
    if not path.is_file():
        avail = available_profiles(notebooks_dir)
        raise ConfigError(f"profile file not found: {path} (profile {profile!r}; available: "
                          f"{', '.join(avail) if avail else 'none'})")
    raw = _load_yaml(path, "profile file") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(PROFILE_KEYS)}")
    unknown = sorted(set(raw) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; a profile has "
                          f"{', '.join(PROFILE_KEYS)} (study parameters go under 'notebooks: {{study: {{...}}}}')")
    params = raw.get("parameters") or {}
    per_nb = raw.get("notebooks") or {}
    if not isinstance(params, dict) or not isinstance(per_nb, dict) or \
            not all(isinstance(v, dict) or v is None for v in per_nb.values()):
        raise ConfigError(f"{path}: 'parameters' must be a mapping and 'notebooks' a mapping "
                          f"of study name -> mapping of parameters")
    timeout = _seconds(raw.get("timeout_s"), f"{path}: timeout_s")
    timeouts = raw.get("timeouts") or {}
    if not isinstance(timeouts, dict):
        raise ConfigError(f"{path}: 'timeouts' must be a mapping of study name -> seconds")
    timeouts = {str(k): _seconds(v, f"{path}: timeouts.{k}") for k, v in timeouts.items()}
    for key in INJECTED:
        if key in params or any(key in (v or {}) for v in per_nb.values()):
            raise ConfigError(f"{path}: '{key}' is set by the runner; do not put it in a profile")
    if study_names is not None:
        unknown = sorted((set(per_nb) | set(timeouts)) - set(study_names))
        if unknown:
            raise ConfigError(f"{path}: settings for unknown stud{'ies' if len(unknown) > 1 else 'y'} "
                              f"{', '.join(map(repr, unknown))}; studies: {', '.join(study_names)}")
    return {"path": path, "timeout_s": timeout, "timeouts": timeouts, "parameters": params,
            "notebooks": {str(k): (v or {}) for k, v in per_nb.items()}}


# ----------------------------------------------------------------------------------------------
# A notebook's parameters cell
# ----------------------------------------------------------------------------------------------
def notebook_parameters(path: Path) -> dict[str, Declared]:
    """The names declared by the cell tagged ``parameters`` of notebook ``path``."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"notebook not found: {path}") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"notebook {path} cannot be read as JSON: {e}") from None
    cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ConfigError(f"notebook {path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    src = cells[0].get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        raise ConfigError(f"notebook {path}: the parameters cell is not valid Python: {e}") from None
    comments = _comments_by_line(src)
    out: dict[str, Declared] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, annotation, value = node.target.id, node.annotation, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, annotation, value = node.targets[0].id, None, node.value
        else:
            continue
        try:
            default = ast.literal_eval(value) if value is not None else None
        except ValueError:
            default = None
        declared = _BASIC.get(annotation.id) if isinstance(annotation, ast.Name) else None
        if declared is None and default is not None:
            declared = type(default) if type(default) in _BASIC.values() else None
        comment = " ".join(comments.get(line, "") for line in range(node.lineno, (node.end_lineno or node.lineno) + 1))
        out[name] = Declared(name, declared, default, comment.strip())
    return out


def _comments_by_line(src: str) -> dict[int, str]:
    import io
    import tokenize

    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


# ----------------------------------------------------------------------------------------------
# Type checks
# ----------------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _matches(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _hint(value: Any, expected: type) -> str:
    if isinstance(value, str) and expected in (int, float):
        try:
            float(value)
        except ValueError:
            return ""
        return (" (YAML reads it as text: write it without quotes, and floats in exponent form with a dot "
                "and a signed exponent, e.g. 3.0e-3, or as 0.003)")
    return ""


def _budget_fields() -> dict[str, type]:
    from lmle_core.experiments import Budget  # imported lazily: it brings torch

    out = {}
    for f in dataclasses.fields(Budget):
        t = f.type if isinstance(f.type, type) else _BASIC.get(str(f.type).split("[")[0])
        out[f.name] = t
    return out


def _budget_key_problem(value: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """(the key at fault, what is wrong) for a budget dict whose keys or types do not fit ``Budget``."""
    fields = _budget_fields()
    unknown = sorted(set(value) - set(fields) - {"preset"})
    if unknown:
        return unknown[0], f"unknown budget key(s) {', '.join(map(repr, unknown))}; Budget has: {', '.join(fields)}"
    if "preset" in value:
        from lmle_core.methods.budget import PRESETS   # imported lazily: it brings torch

        if value["preset"] not in PRESETS:
            return "preset", f"unknown budget preset {value['preset']!r}; presets: {', '.join(sorted(PRESETS))}"
    value = {k: v for k, v in value.items() if k != "preset"}
    for key, v in value.items():
        t = fields[key]
        if t is not None and not _matches(v, t):
            return key, f"budget key {key!r}: expected {t.__name__}, got {_type_name(v)} {v!r}" + _hint(v, t)
    return None


def check_value(name: str, value: Any, declared: Declared) -> str | None:
    """None when ``value`` fits ``declared``; else what is wrong (one line)."""
    expected = declared.type
    if expected is None:
        return None
    if not _matches(value, expected):
        return (f"expected {expected.__name__}, got {_type_name(value)} {value!r}" + _hint(value, expected))
    if expected is list and isinstance(declared.default, list) and declared.default:
        kinds = {type(v) for v in declared.default}
        if len(kinds) == 1 and next(iter(kinds)) in (int, float, str, bool):
            # element type inferred from the default: numbers stay interchangeable (int or float)
            elem = next(iter(kinds))
            elem = float if elem is int else elem
            for i, v in enumerate(value):
                if not _matches(v, elem):
                    kind = "number" if elem is float else elem.__name__
                    return (f"expected a list of {kind}s, but element {i} is {_type_name(v)} {v!r}"
                            + _hint(v, elem))
    if expected is dict:
        if is_budget_parameter(name):
            found = _budget_key_problem(value)
            return found[1] if found else None
        elif isinstance(declared.default, dict):
            for key, v in value.items():
                d = declared.default.get(key)
                if key in declared.default and d is not None and type(d) in _BASIC.values() and not _matches(v, type(d)):
                    return f"key {key!r}: expected {type(d).__name__}, got {_type_name(v)} {v!r}" + _hint(v, type(d))
    return None


def check_parameters(params: Mapping[str, Any], declared: Mapping[str, Declared], study: str,
                     sources: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` for the first parameter that the notebook does not declare or
    whose value does not fit. ``sources`` names where each parameter came from (a profile file,
    or the command line)."""
    for name, value in params.items():
        where = sources.get(name, "parameters")
        if name not in declared:
            close = [d for d in declared if d not in INJECTED and _similar(name, d)]
            raise ConfigError(
                f"{where}: study {study!r} has no parameter {name!r}"
                + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")
                + f"; its parameters: {', '.join(d for d in declared if d not in INJECTED)}")
        problem = check_value(name, value, declared[name])
        if problem:
            if is_budget_parameter(name) and isinstance(value, dict):
                key = (_budget_key_problem(value) or (None, ""))[0]
                where = sources.get(f"{name}.{key}", where)
            raise ConfigError(f"{where}: study {study!r}, parameter {name!r}: {problem}")
    for name, value in params.items():
        found = check_range(name, value, declared[name])
        if found:
            key, problem = found
            where = sources.get(f"{name}.{key}", sources.get(name, "parameters"))
            raise ConfigError(f"{where}: study {study!r}, parameter {name!r}: {problem}")


def _similar(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.6


def parse_cli_parameters(pairs: Sequence[Sequence[str]] | None, yamls: Sequence[str] | None) -> dict:
    """``-p NAME VALUE`` (VALUE read as YAML, as papermill does) and ``-y YAML`` (a mapping)."""
    out: dict[str, Any] = {}
    for text in yamls or []:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"-y {text!r} is not valid YAML: {e}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"-y {text!r}: expected a YAML mapping such as 'seeds: [0, 1, 2]'")
        out.update(value)
    for name, text in pairs or []:
        try:
            out[name] = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"-p {name} {text!r}: the value is not valid YAML: {e}") from None
    for key in INJECTED:
        if key in out:
            raise ConfigError(f"'{key}' is set by the runner (use --data-root / --results-root / --profile)")
    return out


def study_parameters(study: dict, profile: dict, cli: Mapping[str, Any]) -> tuple[dict, dict]:
    """(parameters, where each came from) that ``study`` gets: profile common < profile per-study < CLI.

    A budget dict (``budget``, ``*_budget``) given by several layers is merged key by key (a higher
    layer changes only the keys it names); ``sources`` then also holds ``"<name>.<key>"`` entries.
    """
    params: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = str(profile["path"])
    layers = [(profile["parameters"], f"{path} (parameters)"),
              (profile["notebooks"].get(study["name"], {}), f"{path} (notebooks: {study['name']})"),
              (cli, "command line (-p / -y)")]
    for values, where in layers:
        for name, value in values.items():
            if is_budget_parameter(name) and isinstance(value, dict):
                below = params.get(name)
                params[name] = {**below, **value} if isinstance(below, dict) else dict(value)
                sources.update({f"{name}.{key}": where for key in value})
            else:
                params[name] = value
            sources[name] = where
    return params, sources


def validate_run(studies: Sequence[dict], profile: dict, cli: Mapping[str, Any], notebooks_dir: Path) -> dict:
    """Check every selected study's parameters; returns {study name: parameters}."""
    out = {}
    for study in studies:
        declared = notebook_parameters(notebooks_dir / study["notebook"])
        missing = [k for k in INJECTED if k not in declared]
        if missing:
            raise ConfigError(f"notebook {notebooks_dir / study['notebook']}: its parameters cell must declare "
                              f"{', '.join(missing)} (the runner sets them)")
        params, sources = study_parameters(study, profile, cli)
        check_parameters(params, declared, study["name"], sources)
        out[study["name"]] = params
    return out
