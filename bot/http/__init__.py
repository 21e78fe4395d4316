"""The HTTP side of the Lambda: Slack's requests, the image links, and the API Gateway event shapes."""
