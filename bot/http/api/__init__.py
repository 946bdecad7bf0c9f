"""The integration HTTP API (aiohttp, in the bot's process): purchases, refunds, customers."""
