"""/grant, /revoke, /roles: admins manage who may do what. Audited in RoleService."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.access import AccessDenied, Actor, Role, RoleService

router = Router(name=__name__)

_ROLE_NAMES = ", ".join(role.value for role in Role)


def _parse(command: CommandObject) -> tuple[Role, int] | None:
    parts = (command.args or "").split()
    if len(parts) != 2 or parts[0].lower() not in {role.value for role in Role}:
        return None
    if not parts[1].isdigit():
        return None
    return Role(parts[0].lower()), int(parts[1])


@router.message(Command("grant", "revoke"))
async def change_role(message: Message, command: CommandObject, role_service: RoleService) -> None:
    assert message.from_user is not None
    parsed = _parse(command)
    if parsed is None:
        await message.answer(
            _("Usage: /{command} ROLE TELEGRAM_ID, where ROLE is one of: {roles}").format(
                command=command.command, roles=_ROLE_NAMES
            )
        )
        return
    role, telegram_id = parsed
    actor = Actor.telegram(message.from_user.id)
    try:
        if command.command == "grant":
            changed = await role_service.grant(actor, role, telegram_id)
            text = _("{id} is now {role}.") if changed else _("{id} already was {role}.")
        else:
            changed = await role_service.revoke(actor, role, telegram_id)
            text = _("{id} is no longer {role}.") if changed else _("{id} was not {role}.")
    except AccessDenied as refusal:
        await message.answer(html.quote(str(refusal)))
        return
    await message.answer(text.format(id=telegram_id, role=role.value))


@router.message(Command("roles"))
async def list_roles(message: Message, role_service: RoleService) -> None:
    grants = await role_service.grants()
    lines = [_("Roles (admins from ADMIN_IDS are marked “configured”):")]
    for grant in grants:
        origin = (
            _("configured")
            if grant.granted_at is None
            else _("granted by {by} on {date}").format(
                by=grant.granted_by or "CLI", date=f"{grant.granted_at:%Y-%m-%d}"
            )
        )
        lines.append(f"{grant.role}: {grant.telegram_id} — {origin}")
    await message.answer("\n".join(lines))
