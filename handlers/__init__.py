"""Front ends: Slack, Teams and the terminal, each a thin adapter over bot.service."""
