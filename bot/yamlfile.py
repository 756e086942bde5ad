"""YAML files read strictly: UTF-8, no duplicate keys, each error in one line with its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(ValueError):
    """A file that is not usable YAML; the message is one line naming the file and the line."""


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping: YAML forbids it, and the second would win silently."""


class UniqueKeyLoader(_BASE_LOADER):
    """The safe loader (libyaml's parser when installed) refusing a key repeated in a mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable: the base constructor says so
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise DuplicateKeyError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def describe_yaml_error(source: str, error: yaml.YAMLError) -> str:
    """`source: line N: problem`, in one line."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or str(error)
    where = f"{source}: line {mark.line + 1}" if mark is not None else source
    kind = "" if isinstance(error, DuplicateKeyError) else "not valid YAML: "
    return f"{where}: {kind}{' '.join(str(problem).split())}"


def load_yaml(text: str, source: str) -> object:
    """The document in `text`; YamlFileError names `source` and the line of the problem."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise YamlFileError(describe_yaml_error(source, error)) from None


def read_yaml(path: Path, max_bytes: int | None = None) -> object:
    """The YAML document in the UTF-8 file `path`, at most `max_bytes` long."""
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise YamlFileError(f"{path}: larger than {max_bytes // 1024} KiB")
        data = path.read_bytes()
    except OSError as error:
        raise YamlFileError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise YamlFileError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "save the file as UTF-8"
        ) from None
    return load_yaml(text, str(path))
