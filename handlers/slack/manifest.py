"""The Slack app manifest (app_manifest.yml) with the request URLs of a deployment."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

MANIFEST_NAME = "app_manifest.yml"
PLACEHOLDER = "https://verifybot.example.com"
PACKAGE_DIR = Path(__file__).resolve().parent
SEARCH_PATH = (PACKAGE_DIR / MANIFEST_NAME, PACKAGE_DIR.parents[1] / MANIFEST_NAME)

# Every Web API method verifybot calls and the bot scope it needs; None: no bot scope (a bot
# token is enough, or for Socket Mode's apps.connections.open the xapp- token's
# connections:write).
METHOD_SCOPES: dict[str, str | None] = {
    "apps.connections.open": None,
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "functions.completeSuccess": None,
    "functions.completeError": None,
    "views.open": None,
    "views.publish": None,
    "usergroups.users.list": "usergroups:read",
    "users.lookupByEmail": "users:read.email",
}


class ManifestError(ValueError):
    """The manifest cannot be found or the URL cannot go into it."""


def manifest_path() -> Path:
    """Next to this module (a wheel built with it force-included), else the checkout's root."""
    for path in SEARCH_PATH:
        if path.is_file():
            return path
    searched = ", ".join(str(path) for path in SEARCH_PATH)
    raise ManifestError(f"{MANIFEST_NAME} not found (looked at {searched})")


def base_url(url: str) -> str:
    """`https://host[/prefix]` without a trailing slash; ManifestError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ManifestError(f"--url must be an https:// URL with a host name, not {url!r}")
    if parts.query or parts.fragment or any(ch.isspace() for ch in url.strip()):
        raise ManifestError(f"--url must be a plain base URL without query or spaces: {url!r}")
    return url.strip().rstrip("/")


def render_manifest(url: str | None = None) -> str:
    """app_manifest.yml, its request URLs pointing at `url` when given."""
    text = manifest_path().read_text(encoding="utf-8")
    if url is None:
        return text
    return text.replace(PLACEHOLDER, base_url(url))
