"""What an operator runs against a deployment: `imagine-bot doctor`, `redrive` and `cost`."""
