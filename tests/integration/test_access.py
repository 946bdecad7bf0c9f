import pytest

from bot.services.access import CLI, AccessDenied, Actor, AuditLog, Role, RoleService

BOOTSTRAP_ADMIN = 1


async def test_admin_ids_are_admins_without_any_grant(storage):
    roles = RoleService(storage, frozenset({BOOTSTRAP_ADMIN}))
    assert await roles.roles_of(BOOTSTRAP_ADMIN) == {Role.ADMIN}
    assert await roles.roles_of(2) == frozenset()


async def test_only_admins_grant_and_every_change_is_audited(storage):
    roles = RoleService(storage, frozenset({BOOTSTRAP_ADMIN}))
    with pytest.raises(AccessDenied):
        await roles.grant(Actor.telegram(2), Role.ADMIN, 2)
    assert await roles.roles_of(2) == frozenset()

    assert await roles.grant(Actor.telegram(BOOTSTRAP_ADMIN), Role.AGENT, 2) is True
    assert await roles.roles_of(2) == {Role.AGENT}  # visible at once, no cache delay
    assert await roles.grant(CLI, Role.CASHIER, 2) is True
    assert await roles.revoke(Actor.telegram(BOOTSTRAP_ADMIN), Role.AGENT, 2) is True
    assert await roles.roles_of(2) == {Role.CASHIER}

    trail = await AuditLog(storage).find()
    assert [(e.action, e.actor, e.via) for e in trail] == [
        ("role.grant", BOOTSTRAP_ADMIN, "telegram"),
        ("role.grant", None, "cli"),
        ("role.revoke", BOOTSTRAP_ADMIN, "telegram"),
    ]
    assert trail[0].after == {"role": "agent"} and trail[2].before == {"role": "agent"}


async def test_configured_admins_cannot_be_revoked(storage):
    roles = RoleService(storage, frozenset({BOOTSTRAP_ADMIN}))
    with pytest.raises(AccessDenied):
        await roles.revoke(CLI, Role.ADMIN, BOOTSTRAP_ADMIN)


async def test_a_granted_admin_may_grant(storage):
    roles = RoleService(storage, frozenset({BOOTSTRAP_ADMIN}))
    await roles.grant(CLI, Role.ADMIN, 7)
    assert await roles.grant(Actor.telegram(7), Role.CASHIER, 8) is True
