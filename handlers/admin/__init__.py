"""Routers for administrators; the role filter sits on each router, not in handlers."""
