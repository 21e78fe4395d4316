"""The local stack: the same code against moto, a Slack recorder and the placeholder backend."""
