"""`python -m bot sandbox`: the whole bot on one machine, without Telegram.

One process runs the Bot API emulator (bot.emulator), the real bot pointed at it (the same
create_application/run_bot path as production, its own SQLite file) and a web page where a
person plays the customers, an agent and an admin. Nothing in handlers or services knows.
"""
