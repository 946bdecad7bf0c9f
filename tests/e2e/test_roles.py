"""Roles and the audit trail, as an admin and a customer would meet them."""

import json

from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import settled


async def test_admin_grants_and_revokes_a_role_and_it_is_audited(bot, emulator, admin):
    cara = emulator.add_user(first_name="Cara", language_code="en")
    cara.send_text("/start")
    await cara.next_message()

    admin.send_text(f"/grant cashier {cara.id}")
    assert (await admin.next_message())["text"] == f"{cara.id} is now cashier."
    admin.send_text(f"/grant cashier {cara.id}")
    assert (await admin.next_message())["text"] == f"{cara.id} already was cashier."
    admin.send_text("/roles")
    listing = (await admin.next_message())["text"]
    assert f"cashier: {cara.id} — granted by {ADMIN_ID}" in listing
    assert f"admin: {ADMIN_ID} — configured" in listing
    admin.send_text(f"/revoke cashier {cara.id}")
    assert (await admin.next_message())["text"] == f"{cara.id} is no longer cashier."
    admin.send_text(f"/revoke admin {ADMIN_ID}")
    assert "configured" in (await admin.next_message())["text"]
    admin.send_text("/grant wizard 5")
    assert "ROLE is one of: admin, agent, cashier" in (await admin.next_message())["text"]

    audit = await bot.cli("audit", "--actor", str(ADMIN_ID), "--json")
    assert audit.returncode == 0, audit.stderr
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    actions = [(entry["action"], entry["subject"]) for entry in entries]
    assert ("role.grant", f"user:{cara.id}") in actions
    assert ("role.revoke", f"user:{cara.id}") in actions
    grant = next(
        entry
        for entry in entries
        if entry["action"] == "role.grant" and entry["subject"] == f"user:{cara.id}"
    )
    assert grant["after"] == {"role": "cashier"} and grant["via"] == "telegram"


async def test_a_customer_typing_admin_commands_is_refused_and_nothing_changes(bot, emulator):
    mallory = emulator.add_user(first_name="Mallory", language_code="ru")
    mallory.send_text(f"/grant admin {mallory.id}")
    assert "только администраторам" in (await mallory.next_message())["text"]
    mallory.send_text("/roles")
    await mallory.next_message()
    mallory.send_text(f"/customer {mallory.id}")
    await mallory.next_message()
    await settled(bot)
    mallory.send_text(f"/grant admin {mallory.id}")  # still not an admin
    assert "только администраторам" in (await mallory.next_message())["text"]
    audit = await bot.cli("audit", "--actor", str(mallory.id))
    refusals = [line for line in audit.stdout.splitlines() if "refused" in line]
    assert len(refusals) == 4
    assert any("/grant" in line for line in refusals)
    assert "role.grant" not in audit.stdout
