"""Routers for administrators: `handlers/__init__.py` nests them under one parent that
filters on the admin role once, so no admin handler can be reached without it."""
