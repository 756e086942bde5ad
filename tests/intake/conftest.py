"""The Slack fixtures (fake Web API, served app, signed requests) for the integrations' tests."""

from __future__ import annotations

from tests.slack.conftest import (  # noqa: F401 - fixtures
    fake_slack,
    http,
    make_app,
    slack,
    slack_app,
    slack_settings,
)
