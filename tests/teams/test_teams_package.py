"""The Teams app package: a manifest valid against the shared schema, and the zip for upload."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from handlers.teams.package import PLACEHOLDER_ID, build_package, developer_urls, template_file

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = REPO_ROOT.parent / "shared" / "schemas" / "MicrosoftTeams.v1.29.schema.json"
APP_ID = "6F1C2D3E-4B5A-4978-8695-A4B3C2D1E0F9"


def png_header(data: bytes) -> tuple[int, int, int]:
    """(width, height, colour type) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def png_alphas(data: bytes) -> set[int]:
    """Every alpha value of an 8-bit RGBA PNG (no interlace, filter type 0 rows)."""
    width, height, colour = png_header(data)
    assert colour == 6
    chunks, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"IDAT":
            chunks += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(chunks)
    stride = 1 + width * 4
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return {row[1 + x * 4 + 3] for row in rows for x in range(width)}


def template() -> dict[str, Any]:
    return json.loads(template_file("manifest.json"))


def test_the_manifest_is_valid_against_the_teams_schema() -> None:
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} is not here")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    manifest = template()
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(manifest), key=str)
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []
    for field in schema["required"]:
        assert field in manifest
    assert manifest["manifestVersion"] == schema["properties"]["manifestVersion"]["const"]
    assert manifest["$schema"].endswith(
        f"/v{manifest['manifestVersion']}/MicrosoftTeams.schema.json"
    )


def test_the_manifest_declares_the_bot_in_every_scope_with_its_commands() -> None:
    manifest = template()
    [bot] = manifest["bots"]
    assert bot["botId"] == manifest["id"] == PLACEHOLDER_ID
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    commands = {c["title"] for group in bot["commandLists"] for c in group["commands"]}
    assert {"start", "status", "list", "cancel", "help", "security channel here"} <= commands
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    for url in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert manifest["developer"][url].startswith("https://")


def test_build_package_fills_the_bot_id_and_zips_the_two_icons(tmp_path: Path) -> None:
    out = build_package(APP_ID, tmp_path / "out" / "verifybot-teams.zip", version="1.2.3")
    assert out == tmp_path / "out" / "verifybot-teams.zip"
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        color = package.read("color.png")
        outline = package.read("outline.png")
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID.lower()
    assert manifest["version"] == "1.2.3"
    assert PLACEHOLDER_ID not in json.dumps(manifest)
    assert png_header(color)[:2] == (192, 192)
    assert png_header(outline)[:2] == (32, 32)
    alphas = png_alphas(outline)
    assert 0 in alphas and 255 in alphas, "a transparent background around a white outline"


@pytest.mark.parametrize(
    "app_id",
    ["", "not-a-guid", "6f1c2d3e4b5a497886 95a4b3c2d1e0f9", PLACEHOLDER_ID, f"{APP_ID}x"],
)
def test_a_bad_app_id_is_refused_and_nothing_is_written(tmp_path: Path, app_id: str) -> None:
    out = tmp_path / "verifybot-teams.zip"
    with pytest.raises(ValueError, match="is not a Microsoft App ID"):
        build_package(app_id, out)
    assert not out.exists()


def test_a_bad_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a version"):
        build_package(APP_ID, tmp_path / "p.zip", version="1.0")


def test_the_package_files_ship_inside_the_python_package() -> None:
    folder = Path(__file__).resolve().parents[2] / "handlers" / "teams" / "app_package"
    assert sorted(p.name for p in folder.iterdir()) == ["color.png", "manifest.json", "outline.png"]
    assert template_file("color.png") == (folder / "color.png").read_bytes()


SITE = "https://a.example.org"


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        (("http://a.example.org", SITE, SITE), "--website-url must be an https:// URL"),
        ((SITE, "https://", SITE), "--privacy-url must be an https:// URL"),
        ((SITE, SITE, "https://u:pw@a.example.org/t"), "--terms-url must not carry a user"),
        ((f"{SITE}/{'x' * 2048}", SITE, SITE), "--website-url may be at most 2048 characters"),
    ],
)
def test_developer_urls_that_teams_would_refuse_are_refused(urls, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        developer_urls(*urls)


def test_developer_urls_go_into_the_manifest(tmp_path: Path) -> None:
    urls = developer_urls(
        "https://a.example.org", "https://a.example.org/p", "https://a.example.org/t"
    )
    out = build_package(APP_ID, tmp_path / "p.zip", developer=urls)
    with zipfile.ZipFile(out) as package:
        developer = json.loads(package.read("manifest.json"))["developer"]
    assert developer == {"name": "verifybot", **urls}
