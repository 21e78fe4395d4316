"""Pure Block Kit: the messages, the form and the Home tab, built from plain values."""
