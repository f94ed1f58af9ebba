"""The machinery every command's settings share: ``setting`` (a dataclass field with its help text),
YAML presets read into typed values, the checks of field types and ranges, and ``config_dict``.

Each command's own dataclass lives next to its stage (tru/train/config.py, tru/unlearn/config.py,
tru/evaluate/config.py, ...); tru/config.py re-exports them all.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from tru.core.errors import ConfigError, InputError
from tru.core.files import json_kind, read_text_file


def setting(default: Any, help: str, **kwargs) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


# YAML 1.1 reads these words, unquoted, as booleans; quoted they mean the same, never Python truthiness
BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def type_name(f: dataclasses.Field) -> str:
    """A field's type as written ('int', 'float', ...), whether or not annotations are postponed."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _as_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)  # "1e3"
            except ValueError:
                pass
    if isinstance(number, float) and number.is_integer():
        return int(number)
    raise ValueError(f"expected a whole number, got {value!r}")


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)  # "1e-3": YAML 1.1 reads exponents without a dot as text
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in BOOL_WORDS:
        return BOOL_WORDS[value.strip().lower()]
    raise ValueError(f"expected true or false, got {value!r}")


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        raise ValueError("has no value; give one or remove the line")
    if isinstance(value, bool):
        raise ValueError(
            f"expected text, got {value!r} (quote it: YAML reads an unquoted yes, no, on, off, "
            "true or false as true or false)"
        )
    raise ValueError(f"expected text, got {value!r} (quote it)")


def _scalar_text(value: Any) -> str:
    """A KEY=VALUE value as the command line would give it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"expected a single value, got {value!r}")


def _as_dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of KEY: VALUE, got {value!r}")
    out = {}
    for key, item in value.items():
        try:
            out[str(key)] = _scalar_text(item)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return out


YAML_CONVERTERS = {"int": _as_int, "float": _as_float, "bool": _as_bool, "str": _as_str, "dict": _as_dict}


def _read_yaml_mapping(path: Path) -> list[tuple[str, Any, int]]:
    """(key, value, 1-based line of the value) for each top-level entry of a YAML file."""
    text = read_text_file(path, what="YAML file", hint="check the --config path")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return []
        if not isinstance(node, yaml.MappingNode):
            raise InputError(path, "expected a mapping of setting names to values", line=node.start_mark.line + 1)
        return [
            (
                str(loader.construct_object(key, deep=True)),
                loader.construct_object(value, deep=True),
                value.start_mark.line + 1,
            )
            for key, value in node.value
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            path, f"invalid YAML ({getattr(exc, 'problem', None) or exc})", line=None if mark is None else mark.line + 1
        ) from None
    finally:
        loader.dispose()


def _nearest_setting(name: str, fields: dict) -> str:
    match = difflib.get_close_matches(name, list(fields), n=1)
    return f"did you mean '{match[0]}'?" if match else f"known settings: {', '.join(sorted(fields))}"


def load_yaml_settings(path: str | Path, config_type: type) -> dict:
    """Read a YAML preset and convert each value to its setting's type.

    Unknown or repeated keys and values of the wrong type are an InputError naming the file, the line and
    the key. Numbers may be quoted ("1e-3", "3"); an int setting takes no fraction; a bool setting takes
    true/false (or yes/no/on/off, quoted or not), never another value's truthiness."""
    path = Path(path).expanduser()
    fields = {f.name: type_name(f) for f in dataclasses.fields(config_type)}
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key, value, line in _read_yaml_mapping(path):
        name = key.replace("-", "_")
        if name not in fields:
            raise InputError(
                path, f"unknown setting '{key}'", line=line, field=key, hint=_nearest_setting(name, fields)
            )
        if name in lines:
            raise InputError(path, f"given twice (first on line {lines[name]})", line=line, field=key)
        convert = YAML_CONVERTERS.get(fields[name])
        try:
            values[name] = convert(value) if convert else value
        except ValueError as exc:
            raise InputError(path, str(exc), line=line, field=key) from None
        lines[name] = line
    return values


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


# what each field type must hold (bool is an int in Python, so it is ruled out for numbers)
FIELD_CHECKS = {
    "int": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "float": (
        "a finite number",
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    ),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "str": ("text", lambda v: isinstance(v, str)),
    "dict": ("a mapping of KEY=VALUE", lambda v: isinstance(v, dict)),
}


def check_field_values(config) -> None:
    """Every setting holds a value of its type, and every float setting is finite: nan passes every
    range check (nan <= 0 is false), and a string or a truthy 'no' from the Python API would too."""
    for f in dataclasses.fields(config):
        what, ok = FIELD_CHECKS.get(type_name(f), (None, None))
        value = getattr(config, f.name)
        if ok is not None and not ok(value):
            raise ConfigError(f"{flag_name(f.name)} must be {what}, got {value!r}")


def check_at_least(config, minimum: int, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if value < minimum:
            wanted = "0 or positive" if minimum == 0 else f"at least {minimum}"
            raise ConfigError(f"{flag_name(name)} must be {wanted}, got {value}")


def check_out_folder(out: str, flag: str = "--out") -> None:
    """The folder a command writes must not be (or lie under) an existing file."""
    path = Path(out).expanduser()
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                where = "is a file" if part == path else f"lies under {part}, which is a file"
                raise ConfigError(f"{flag} {out} {where}; give a folder path")
            return


def check_text_file(path: str, flag: str) -> None:
    """A small input file (an API key, a translations table) exists and is UTF-8 text."""
    read_text_file(path, what=f"file for {flag}", hint=f"check the {flag} path")


def check_json_object(path: str | Path, flag: str) -> None:
    """An earlier result a command reads (an evaluation's EVAL.json or SUMMARY.json) is a JSON object."""
    try:
        data = json.loads(read_text_file(path, what=f"JSON file for {flag}", hint=f"check the {flag} path"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({exc.msg})", line=exc.lineno, hint=f"check the {flag} path") from None
    if not isinstance(data, dict):
        raise InputError(path, f"expected a JSON object, got a JSON {json_kind(data)}", hint=f"check the {flag} path")


def eval_file(folder: str, name: str) -> Path:
    """The file of an earlier evaluation that a flag names by its folder (or directly)."""
    path = Path(folder).expanduser()
    return path / name if path.is_dir() or not path.suffix else path


# settings recorded only when set to other than their default, so that runs and evaluations made before
# they existed still resume
RECORDED_WHEN_SET = ("question_field", "answer_field", "scorer")


def config_dict(config) -> dict:
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in RECORDED_WHEN_SET or v != defaults[k]}
