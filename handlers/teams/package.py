"""The Teams app package: manifest.json with the bot's app id filled in, zipped with the icons."""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PACKAGE_FILES = ("manifest.json", "color.png", "outline.png")
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SEMVER = re.compile(r"^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)$")
MAX_URL_LENGTH = 2048  # the manifest schema's maxLength for the developer URLs
DEVELOPER_URLS = {
    "websiteUrl": "--website-url",
    "privacyUrl": "--privacy-url",
    "termsOfUseUrl": "--terms-url",
}


def developer_urls(website: str, privacy: str, terms: str) -> dict[str, str]:
    """The manifest's developer URLs; ValueError naming the option of one Teams would refuse."""
    urls = dict(zip(DEVELOPER_URLS, (website, privacy, terms), strict=True))
    for field, url in urls.items():
        option = DEVELOPER_URLS[field]
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in url):
            raise ValueError(f"{option} must be an https:// URL with a host name, not {url!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError(f"{option} must not carry a user name or password")
        if len(url) > MAX_URL_LENGTH:
            raise ValueError(f"{option} may be at most {MAX_URL_LENGTH} characters")
    return urls


def template_file(name: str) -> bytes:
    """A file of the package template shipped inside handlers/teams/app_package."""
    return files("handlers.teams").joinpath("app_package", name).read_bytes()


def manifest(
    app_id: str, version: str | None = None, developer: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The manifest for the Azure Bot `app_id` (also used as the Teams app id)."""
    app_id = app_id.strip()
    if not GUID.match(app_id) or app_id == PLACEHOLDER_ID:
        raise ValueError(
            f"{app_id!r} is not a Microsoft App ID: use the Azure Bot's app id, a GUID "
            "like 12345678-9abc-def0-1234-56789abcdef0"
        )
    if version is not None and not SEMVER.match(version):
        raise ValueError(f"{version!r} is not a version like 1.0.3")
    data = json.loads(template_file("manifest.json"))
    data["id"] = app_id.lower()
    for bot in data["bots"]:
        bot["botId"] = app_id.lower()
    if version is not None:
        data["version"] = version
    if developer:
        data["developer"] = {**data["developer"], **developer}
    return data


def build_package(
    app_id: str,
    out: Path,
    *,
    version: str | None = None,
    developer: Mapping[str, str] | None = None,
) -> Path:
    """Write the zip to upload to Teams and return its path.

    ValueError for a bad app id or an `out` that cannot be written; nothing is left behind.
    """
    data = manifest(app_id, version, developer)
    out = Path(out)
    hint = "give --out a new .zip file in a writable directory"
    if out.is_dir():
        raise ValueError(f"{out}: is a directory; {hint}, e.g. {out / 'verifybot-teams.zip'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as error:
        raise ValueError(f"{out}: cannot be written ({error.strerror}); {hint}") from None
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(data, indent=2) + "\n")
            for name in PACKAGE_FILES[1:]:
                zf.writestr(name, template_file(name))
        os.replace(partial, out)
    except OSError as error:
        Path(partial).unlink(missing_ok=True)
        raise ValueError(f"{out}: cannot be written ({error.strerror}); {hint}") from None
    return out
