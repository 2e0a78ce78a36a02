"""Read a YAML configuration file into `CutoverConfig`, or explain in one paragraph why not.

Called by the CLI (the composition root) and by tests. `${NAME}` placeholders in string values are
replaced from the environment mapping passed in (`${NAME:-default}` gives a fallback); a missing
variable is an error, because a silently empty secret would only fail later and further away.

Errors::

    ConfigError            the one exception; its message names the file, the key path, the line,
                           the value found and what was expected.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from cutover.config import CutoverConfig

_PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
KeyPath = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration file that cannot be used; the message is meant for the user as it is."""


def load_config(path: Path, environ: Mapping[str, str]) -> CutoverConfig:
    """Parse, substitute and validate `path`; raise `ConfigError` with a readable message."""
    text = _read(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_message(path, exc)) from None
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            f"{path}: expected a mapping of sections (targets, databases, shadow, tenants, load, "
            f"reports) at the top level, found {found}. See cutover.example.yaml for the layout."
        )
    written = data
    data = _substitute(data, environ, path, node, ())
    try:
        return CutoverConfig.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_validation_message(path, node, written, exc)) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such configuration file. Pass an existing file with --config, or start "
            f"from cutover.example.yaml."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc}).") from None


def _yaml_message(path: Path, exc: yaml.YAMLError) -> str:
    where = ""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        where = f" at line {mark.line + 1}, column {mark.column + 1}"
    problem = getattr(exc, "problem", None) or str(exc)
    return (
        f"{path}: malformed YAML{where}: {problem}. Fix the syntax there (check indentation, "
        f"colons and quotes) and run `cutover config check {path}` again."
    )


def _substitute(
    value: Any, environ: Mapping[str, str], path: Path, node: yaml.Node | None, at: KeyPath
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, environ, path, node, (*at, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, environ, path, node, (*at, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{path}: {_describe(at)}{_line(node, at)} uses the environment variable ${{{name}}}, "
            f"which is not set. Export {name} before running cutover (secrets belong in the "
            f"environment, not in the file), or write ${{{name}:-default}} to give a fallback."
        )

    return _PLACEHOLDER.sub(replace, value)


def _validation_message(
    path: Path, node: yaml.Node | None, written: Any, exc: ValidationError
) -> str:
    problems = [_problem(node, written, error) for error in exc.errors(include_url=False)]
    head = f"{path}: " + ("" if len(problems) == 1 else f"{len(problems)} problems: ")
    return (
        head + "; ".join(problems) + f". Fix the file and run `cutover config check {path}` again "
        "(cutover.example.yaml documents every key)."
    )


def _problem(node: yaml.Node | None, written: Any, error: ErrorDetails) -> str:
    at: KeyPath = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        parent_fields = _fields_at(at[:-1])
        hint = ""
        close = difflib.get_close_matches(str(at[-1]), parent_fields, n=1)
        if close:
            hint = f" (did you mean '{close[0]}'?)"
        expected = ", ".join(parent_fields) if parent_fields else "no keys here"
        return f"{_describe(at)}{_line(node, at)} is not a known key{hint}; expected one of: " + (
            expected
        )
    if error["type"] == "missing":
        return f"{_describe(at)} is required but missing{_line(node, at[:-1], 'in the mapping at')}"
    expected = error["msg"].replace("Input should be", "expected").replace("Value error, ", "")
    shown = _show(_as_written(written, at, error["input"]))
    return f"{_describe(at)}{_line(node, at)} is {shown}: {expected}"


def _describe(at: KeyPath) -> str:
    if not at:
        return "the top level"
    text = ""
    for part in at:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _as_written(written: Any, at: KeyPath, found: Any) -> Any:
    """The value at `at` as the file writes it: `${NAME}` rather than the secret it stands for,
    since messages end up in terminals and CI logs. `found` when the path is not in the file."""
    value = written
    for part in at:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return found
    return value


# The password of a URL (scheme://user:password@host) that a file holds as it is, not as a
# ${NAME} placeholder (which is worth showing: it says which variable to look at).
_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)(?!\$\{)[^/@\s]+@")


# Keys whose values are not shown when a message quotes the mapping that holds them.
_SECRET_KEY = re.compile(r"secret|password|passwd|token|api_?key", re.IGNORECASE)


def _show(value: Any) -> str:
    text = _URL_PASSWORD.sub(r"\1***@", repr(_masked(value)))
    return text if len(text) <= 60 else text[:57] + "..."


def _masked(value: Any) -> Any:
    """`value` with the values of secret keys in it replaced, unless written as `${NAME}`: a
    message about a mapping (`shadow.redaction`) must not print the secret it holds."""
    if isinstance(value, dict):
        return {
            key: "***"
            if _SECRET_KEY.search(str(key)) and not _is_placeholder(item)
            else _masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def _fields_at(at: KeyPath) -> list[str]:
    """The keys allowed at `at`, found by walking the model classes (lists are stepped through)."""
    model: type[BaseModel] | None = CutoverConfig
    for part in at:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return sorted(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _line(node: yaml.Node | None, at: KeyPath, prefix: str = "at") -> str:
    """' (line N)' for the deepest part of `at` that exists in the YAML document."""
    line: int | None = None
    current = node
    for part in at:
        found = _child(current, part)
        if found is None:
            break
        line, current = found
    return "" if line is None else f" ({prefix} line {line})"


def _child(node: yaml.Node | None, part: str | int) -> tuple[int, yaml.Node] | None:
    """The line where `part` is written (its key, for a mapping) and the node it holds."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return key.start_mark.line + 1, value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return item.start_mark.line + 1, item
    return None
