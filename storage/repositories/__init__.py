"""Repositories: one per aggregate; they read and write, and never commit."""

from storage.repositories.customers import CustomerRepository, TelegramProfile
from storage.repositories.interactions import InteractionRepository, NewInteraction
from storage.repositories.updates import ClaimResult, ProcessedUpdateRepository

__all__ = [
    "ClaimResult",
    "CustomerRepository",
    "InteractionRepository",
    "NewInteraction",
    "ProcessedUpdateRepository",
    "TelegramProfile",
]
