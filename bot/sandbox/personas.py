"""Who the sandbox's visitor can be, and the demo customers in the background.

Ids are fixed so that a sandbox restarted on the same data directory finds the same people.
"""

from __future__ import annotations

from dataclasses import dataclass

# The emulated bot: any token of the right shape works, the emulator accepts only this one.
TOKEN = "7000000001:AAH-sandbox-token-0000000000000000000"
BOT_USERNAME = "loyalty_sandbox_bot"
SUPPORT_CHAT_ID = -1_007_000_000_001
SUPPORT_CHAT_TITLE = "Support desk"


@dataclass(frozen=True)
class Persona:
    key: str
    user_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language: str
    role: str  # "customer", "agent" or "admin"
    label: str  # shown in the persona switch


PERSONAS = (
    Persona("anna", 7_100_000_101, "Anna", "Smith", "anna_s", "en", "customer", "Anna · customer"),
    Persona(
        "olena", 7_100_000_102, "Олена", "Коваль", "olena_k", "uk", "customer", "Олена · клієнтка"
    ),
    Persona("max", 7_100_000_201, "Max", "Agent", "max_agent", "en", "agent", "Max · agent"),
    Persona("ada", 7_100_000_301, "Ada", "Admin", "ada_admin", "en", "admin", "Ada · admin"),
)
BY_KEY = {persona.key: persona for persona in PERSONAS}
ADMIN = BY_KEY["ada"]
AGENT = BY_KEY["max"]


@dataclass(frozen=True)
class DemoCustomer:
    user_id: int
    first_name: str
    username: str
    language: str
    # (days ago, amount) of purchases recorded through the till API on first start.
    purchases: tuple[tuple[int, str], ...]


DEMO_CUSTOMERS = (
    DemoCustomer(
        7_100_000_401, "Boris", "boris_b", "ru", ((60, "120.00"), (32, "95.50"), (5, "140.00"))
    ),
    DemoCustomer(
        7_100_000_402,
        "Chen",
        "chen_w",
        "en",
        ((80, "420.00"), (40, "310.00"), (12, "280.00"), (2, "64.90")),
    ),
    DemoCustomer(7_100_000_403, "Darya", "darya_p", "uk", ((20, "18.40"),)),
    DemoCustomer(7_100_000_404, "Emil", "emil_r", "en", ()),
)
