"""What handlers may ask for, in one typed place.

aiogram hands a handler every piece of the Dispatcher's workflow data whose name matches one
of its parameters; `Services` is the one definition of those names and their types, so a
handler's `loyalty: LoyaltyService` is checked against the field of the same name (and a
test checks that every handler asks only for what is here or what aiogram and our
middlewares add).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from bot.config import Settings
from bot.services.access import AuditLog, RoleService
from bot.services.analytics import AnalyticsService
from bot.services.broadcasts.service import BroadcastService
from bot.services.customers import CustomerService
from bot.services.faq.service import FaqService
from bot.services.intake import IntakeService
from bot.services.interactions import InteractionLog
from bot.services.loyalty.purchases import PurchaseService
from bot.services.loyalty.redemptions import RedemptionService
from bot.services.loyalty.service import LoyaltyService
from bot.services.privacy import PrivacyService
from bot.services.profile import ProfileService
from bot.services.reviews import NpsService, ReviewService
from bot.services.snippets import Snippets
from bot.services.support import SupportService
from bot.services.ticket_desk import TicketDesk
from bot.telegram.broadcasts.worker import BroadcastWorker
from bot.telegram.commands import CommandMenu
from bot.telegram.notices.worker import NoticeWorker
from bot.telegram.support_desk import SupportDesk


@dataclass(frozen=True)
class Services:
    settings: Settings
    log: InteractionLog
    intake: IntakeService
    customers: CustomerService
    command_menu: CommandMenu
    role_service: RoleService
    audit_log: AuditLog
    loyalty: LoyaltyService
    purchases: PurchaseService
    notices: NoticeWorker
    faq: FaqService
    redemptions: RedemptionService
    analytics: AnalyticsService
    reviews: ReviewService
    nps: NpsService
    broadcasts: BroadcastService
    broadcast_worker: BroadcastWorker
    privacy: PrivacyService
    profile: ProfileService
    support: SupportService
    desk: SupportDesk
    tickets: TicketDesk
    snippets: Snippets

    def workflow_data(self) -> dict[str, object]:
        """The Dispatcher's keyword data: each field under its own name."""
        return {field.name: getattr(self, field.name) for field in fields(self)}
