"""Edits to a copy of the shipped pre-offer playbook, shared by the playbook-version tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def edit(directory: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """Apply `change` to pre_offer.yml's data and write it back; the file's path."""
    path = directory / "pre_offer.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def step(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in data["steps"] if s["id"] == step_id)


def rename_drop_and_bump(data: dict[str, Any]) -> None:
    """Rename the camera step, drop an education option, and bump the version."""
    camera = step(data, "camera_interview")
    camera["id"], camera["title"] = "video_interview", "Video interview"
    education = step(data, "education_history")
    education["options"] = [o for o in education["options"] if o["value"] != "unverified"]
    data["version"] = 3


def reword_without_bump(data: dict[str, Any]) -> None:
    step(data, "camera_interview")["title"] = "Video interview"
