"""Talking to Slack's Web API: the client with current tokens, and the poster that places results."""
