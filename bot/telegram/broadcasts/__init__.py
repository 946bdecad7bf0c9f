"""Broadcast delivery: the worker that sends queued broadcasts, and what it renders."""
