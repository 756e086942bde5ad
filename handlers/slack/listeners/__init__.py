"""Bolt listeners, one module per kind of request; each has `register(app, ctx)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers.slack.context import SlackContext
from handlers.slack.listeners import actions, chase, commands, events, intake, views


def register_all(app: AsyncApp, ctx: SlackContext) -> None:
    for module in (commands, actions, views, events, intake, chase):
        module.register(app, ctx)
