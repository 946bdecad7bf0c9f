"""Cashiers at the till: sales by card and redemption codes."""
