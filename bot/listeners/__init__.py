"""Slack-facing listeners, grouped by kind; each module has ``register(app, services)``."""
