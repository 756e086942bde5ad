"""The Slack front end: a bolt AsyncApp behind POST /slack/events, or in Socket Mode."""
