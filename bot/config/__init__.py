"""Settings from the environment and the secrets they name: read once, checked, kept current."""
