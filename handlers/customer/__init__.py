"""What customers do in their private chat with the bot, one router per feature."""
