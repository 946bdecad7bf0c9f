"""What every role shares: /help, errors, and the catch-all fallback."""
