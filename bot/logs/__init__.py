"""Log records: secrets and phone numbers masked, update ids added, text or JSON lines."""
