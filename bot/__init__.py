"""Loyalty & Support Bot: entry point, settings, app assembly and the domain services."""
