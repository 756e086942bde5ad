"""The strict YAML reader shared by case files and playbooks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.yamlfile import UniqueKeyLoader, YamlFileError, load_yaml, read_yaml


def test_the_loader_keeps_libyaml_when_it_is_installed() -> None:
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without libyaml")
    assert issubclass(UniqueKeyLoader, yaml.CSafeLoader)


def test_a_duplicate_key_in_a_nested_mapping_names_the_key_and_both_lines() -> None:
    with pytest.raises(YamlFileError) as raised:
        load_yaml("steps:\n  - id: a\n    title: A\n    id: b\n", "p.yml")
    assert str(raised.value) == "p.yml: line 4: duplicate key 'id' (first at line 2)"


def test_merge_keys_may_override_what_they_merge() -> None:
    text = "base: &b {a: 1, c: 2}\nx:\n  <<: *b\n  a: 3\n"
    assert load_yaml(text, "m.yml") == {"base": {"a": 1, "c": 2}, "x": {"a": 3, "c": 2}}


def test_only_safe_tags_are_constructed() -> None:
    with pytest.raises(YamlFileError, match=r"^t\.yml: line 1: not valid YAML: "):
        load_yaml("a: !!python/object/apply:os.system ['true']\n", "t.yml")


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text("a: " + "x" * 2048 + "\n", encoding="utf-8")
    with pytest.raises(YamlFileError, match=r"big\.yml: larger than 1 KiB$"):
        read_yaml(path, max_bytes=1024)
