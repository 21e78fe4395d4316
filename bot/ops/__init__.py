"""Commands that act on a real deployment (``imagine-bot doctor``), apart from the local stack."""
