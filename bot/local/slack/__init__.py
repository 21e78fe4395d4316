"""The pieces of the local Slack Web API stand-in (:mod:`bot.local.slack.recorder`): Block Kit
validation, the image fetcher, file uploads and ``response_url`` limits."""
