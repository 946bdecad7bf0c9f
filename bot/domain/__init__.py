"""Rules and records of the business: pure values and functions, no I/O, no Telegram."""
