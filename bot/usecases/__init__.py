"""What a person can ask of the bot, shared by every way of asking and free of Bolt."""
