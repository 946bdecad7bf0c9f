"""Support agents in the forum supergroup: tickets, replies, notes, history, points."""
