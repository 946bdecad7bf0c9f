"""The database schema, once for both engines: SQLAlchemy Core tables that Alembic builds and
migrates (storage/migrations/README.md).

Only migrations read this module: the repositories write their SQL by hand (see
storage/migrations/README.md for the subset both engines accept), and the bot never imports
SQLAlchemy. Where the engines differ, the types say so per dialect:

- integers are BIGINT on PostgreSQL (Telegram ids need 64 bits) and INTEGER on SQLite, where
  ``INTEGER PRIMARY KEY`` is the rowid; a surrogate key is an identity column on PostgreSQL;
- timestamps (``Moment``) are ``timestamptz`` on PostgreSQL and UTC text
  ``YYYY-MM-DD HH:MM:SS.ffffff`` on SQLite (it sorts in time order there); JSON documents
  (``Json``) are ``jsonb`` on PostgreSQL and text on SQLite. The code sees the same values on
  both: storage/postgres.py reads and writes both types as that same text (docs/design.md);
- flags are 0/1 integers;
- SQLite's triggers and PostgreSQL's functions are raw DDL (``_SQLITE_DDL``, ``_POSTGRESQL_DDL``),
  created after the tables.

tests/integration/test_schema.py checks that what this builds is what the numbered SQL
migrations 0001…0022 built (tests/data/schema_0022_*.sql), changed only by the later Alembic
revisions (on PostgreSQL, 0024_pg_types: those types), and that a database upgraded through
them ends exactly where a new one starts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    DDL,
    REAL,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, JSONB, TIMESTAMP
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql.compiler import DDLCompiler
from sqlalchemy.types import TypeEngine

metadata = MetaData()

# An integer column: ids, counts, amounts, 0/1 flags.
Int = BigInteger().with_variant(Integer(), "sqlite")
Real: TypeEngine[float] = REAL().with_variant(DOUBLE_PRECISION(), "postgresql")
# Only where the SQLite migrations said BIGINT too (tables added for both engines at once).
BigInt = BigInteger()
Blob = LargeBinary()
# Timestamps and JSON documents: see the module docstring.
Moment = Text().with_variant(TIMESTAMP(timezone=True), "postgresql")
Json = Text().with_variant(JSONB(), "postgresql")

ONLY_POSTGRESQL = {"dialects": {"postgresql"}}


def key(name: str = "id") -> Column[Any]:
    """A surrogate key: the rowid on SQLite, an identity column on PostgreSQL."""
    return Column(name, Int, Identity(), primary_key=True)


def ref(
    name: str, target: str, *, nullable: bool = False, ondelete: str | None = None
) -> Column[Any]:
    return Column(name, Int, ForeignKey(target, ondelete=ondelete), nullable=nullable)


def required(name: str, type_: Any = Moment, *args: Any, **kwargs: Any) -> Column[Any]:
    return Column(name, type_, *args, nullable=False, **kwargs)


def optional(name: str, type_: Any = Moment, *args: Any, **kwargs: Any) -> Column[Any]:
    return Column(name, type_, *args, nullable=True, **kwargs)


def one_of(column: str, *values: str) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(value) for value in values)})")


def default(value: str | int) -> Any:
    """A server-side default: a number, or a text literal."""
    return text(str(value)) if isinstance(value, int) else value


# The customer record, every interaction, and the inbox that makes update handling idempotent.
customers = Table(
    "customers",
    metadata,
    key(),
    # NULL once the customer has been forgotten: the row stays for anonymous aggregates.
    optional("telegram_id", Int, unique=True),
    optional("first_name", Text),
    optional("last_name", Text),
    optional("username", Text),
    optional("telegram_language", Text),
    optional("language", Text),
    required("first_seen"),
    required("last_seen"),
    required("consent_promotions", Int, server_default=default(1)),
    required("consent_surveys", Int, server_default=default(1)),
    optional("start_payload", Text),
    required("reachable", Int, server_default=default(1)),
    optional("unreachable_since"),
    optional("card_code", Text),
    optional("referral_code", Text),
    # The tier last announced to the customer: a change is what triggers "you reached Gold".
    optional("tier", Text),
    # 'MM-DD' (the year is not needed for a birthday bonus and is less personal data).
    optional("birthday", Text),
    # The customer's own number, shared with Telegram's contact button ('+' and digits).
    optional("phone", Text),
    # When the customer last changed a consent (promotions, surveys) themselves.
    optional("consents_changed_at"),
    # Set by /forget: every personal field is NULL from then on, telegram_id included.
    optional("forgotten_at"),
    # Staff receive promotions only once they asked with /subscribe; NULL after /stop.
    optional("promotions_opted_in_at"),
)

interactions = Table(
    "interactions",
    metadata,
    key(),
    ref("customer_id", "customers.id", ondelete="CASCADE"),
    required("at"),
    required("direction", Text, one_of("direction", "in", "out")),
    required("kind", Text),
    optional("text", Text),
    optional("update_id", Int),
    optional("message_id", Int),
    # Outbound rows are written before the call ('pending') so a crash after Telegram
    # delivered cannot lose them; the answer turns them into 'sent' or 'failed'.
    required("status", Text, server_default=default("received")),
    optional("error", Text),
    optional("meta", Json),
    # Chosen by the sender before the call, so the outcome can be recorded without waiting
    # for the row id (outbound rows are written in batches).
    optional("outbound_key", Text),
)

processed_updates = Table(
    "processed_updates",
    metadata,
    Column("update_id", Int, primary_key=True, autoincrement=False),
    required("received_at"),
    required(
        "state",
        Text,
        one_of("state", "received", "done", "orphaned"),
        server_default=default("received"),
    ),
    # Which flush claimed it: tells a fresh claim from an earlier one in a batched INSERT.
    optional("claim", Text),
    optional("finished_at"),
)

# FAQ content, cached phrasing embeddings, and every question customers asked.
faq_entries = Table(
    "faq_entries",
    metadata,
    Column("id", Text, primary_key=True),
    required("position", Int),
    # The entry as imported (the file format of bot/services/faq/content.py), as JSON.
    required("document", Json),
    required("updated_at"),
)

# Embeddings are the slow part of an import; keyed by model and text so a re-import or a
# restart embeds only phrasings it has never seen.
faq_vectors = Table(
    "faq_vectors",
    metadata,
    required("model", Text),
    required("text_hash", Text),
    required("vector", Blob),
    PrimaryKeyConstraint("model", "text_hash"),
)

# The FAQ model's encoder tuned on the FAQ's own phrasings (`python -m bot faq tune`; one
# row, the latest): the bot uses it while the FAQ's phrasings are the ones it learned.
faq_tuning = Table(
    "faq_tuning",
    metadata,
    key(),
    required("phrasings_sha256", Text),
    required("weights_sha256", Text),
    # The tuned layers' tensors, an .npz archive of float16 arrays (onnx_e5.TunedWeights).
    required("weights", Blob),
    # The matcher's thresholds for this encoder: confident above `floor`, or above
    # `with_lead` with a lead over the runner-up.
    required("floor", Real),
    required("with_lead", Real),
    # How it was tuned and what it measured, for the operator (JSON).
    required("report", Json),
    required("created_at"),
)

faq_queries = Table(
    "faq_queries",
    metadata,
    key(),
    ref("customer_id", "customers.id", nullable=True, ondelete="SET NULL"),
    required("at"),
    optional("language", Text),
    required("text", Text),
    optional("entry_id", Text),
    optional("score", Real),
    required("confident", Int),
    # answered | suggested | declined
    required("outcome", Text),
    # helpful | unhelpful, when the customer pressed a button
    optional("feedback", Text),
)

# Who may do what (beyond ADMIN_IDS, which always holds admins), and the trail of every
# privileged action.
roles = Table(
    "roles",
    metadata,
    required("telegram_id", Int),
    required("role", Text, one_of("role", "admin", "agent", "cashier")),
    optional("granted_by", Int),
    required("granted_at"),
    PrimaryKeyConstraint("telegram_id", "role"),
)

audit = Table(
    "audit",
    metadata,
    key(),
    required("at"),
    # Telegram id of who did it; NULL for the operator CLI or the system itself.
    optional("actor", Int),
    # telegram | cli | api | system
    required("via", Text),
    required("action", Text),
    optional("subject", Text),
    optional("before", Json),
    optional("after", Json),
)

# The loyalty engine: an append-only points ledger with FIFO lots, purchases and refunds,
# referrals, redemption codes, API tokens, the notice outbox and once-a-day job runs.

# Every movement of points. Rows are never updated nor deleted: the balance is their sum.
points_entries = Table(
    "points_entries",
    metadata,
    key(),
    ref("customer_id", "customers.id"),
    required("at"),
    required("delta", Int, CheckConstraint("delta <> 0")),
    # Ledger reasons: purchase, refund, welcome, review, birthday, referral, adjust, redeem,
    # redeem_return, expire, referral_reversed
    required("reason", Text),
    # What caused it: 'order:A-1', 'redemption:12345678', 'audit:7', ...
    optional("source", Text),
    # Makes every credit and debit safe to retry: the same key never lands twice.
    optional("idempotency_key", Text, unique=True),
    # A credit that opens a lot (is_lot = 1) burns at expires_at (NULL: never).
    required("is_lot", Int, server_default=default(0)),
    optional("expires_at"),
    optional("note", Text),
)

# Which lots a debit consumed (points > 0) or a restoration gave back (points < 0): a lot's
# remainder is its delta minus its usage; debits take the lots that burn first (FIFO).
lot_usage = Table(
    "lot_usage",
    metadata,
    # SQLite's implicit rowid, made explicit on PostgreSQL: the code reads a debit's usage
    # in the order it was written (ORDER BY rowid), on both engines.
    Column("rowid", BigInt, Identity(always=True), primary_key=True, info=ONLY_POSTGRESQL),
    ref("entry_id", "points_entries.id"),
    ref("lot_id", "points_entries.id"),
    required("points", Int, CheckConstraint("points <> 0")),
)

purchases = Table(
    "purchases",
    metadata,
    key(),
    required("order_id", Text, unique=True),
    ref("customer_id", "customers.id"),
    required("amount_minor", Int, CheckConstraint("amount_minor > 0")),
    required("currency", Text),
    required("purchased_at"),
    required("recorded_at"),
    required("points", Int),
    # The balance right after this purchase: what a replay of the order answers again.
    required("balance_after", Int),
    optional("tier", Text),
    # 'api:<token name>' or 'cashier:<telegram id>'
    required("recorded_by", Text),
    # purchased_at as Unix seconds: compares twice as fast as the text in retention
    # figures (benchmarks/stats.py, 1.4 s -> 0.7 s of SQL for 1,000,000 purchases).
    optional("purchased_epoch", Int),
)

refunds = Table(
    "refunds",
    metadata,
    key(),
    required("refund_key", Text, unique=True),
    ref("purchase_id", "purchases.id"),
    required("amount_minor", Int, CheckConstraint("amount_minor > 0")),
    required("points_reversed", Int),
    # Points the refund should have taken back but the customer had already spent.
    required("points_uncollected", Int, server_default=default(0)),
    required("balance_after", Int),
    required("at"),
)

referrals = Table(
    "referrals",
    metadata,
    Column("referee_id", Int, ForeignKey("customers.id"), primary_key=True),
    ref("referrer_id", "customers.id"),
    required("attributed_at"),
    optional("converted_at"),
    optional("order_id", Text),
    required("referrer_points", Int, server_default=default(0)),
    required("referee_points", Int, server_default=default(0)),
    # A converted referral whose qualifying purchase was refunded below the minimum:
    # both rewards taken back, and it stays closed.
    optional("reversed_at"),
)

redemptions = Table(
    "redemptions",
    metadata,
    key(),
    required("code", Text, unique=True),
    ref("customer_id", "customers.id"),
    # A catalogue reward's id, or NULL for "use N points" against a sale.
    optional("reward_id", Text),
    required("points", Int, CheckConstraint("points > 0")),
    required("created_at"),
    required("expires_at"),
    required(
        "state",
        Text,
        one_of("state", "issued", "confirmed", "expired", "cancelled"),
        server_default=default("issued"),
    ),
    optional("closed_at"),
    optional("confirmed_by", Int),
    optional("sale_amount_minor", Int),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    key(),
    required("name", Text),
    # SHA-256 of the token: tokens are long random strings, so a fast hash is enough.
    required("token_hash", Text, unique=True),
    # The first characters, shown by `api-token list` to tell tokens apart.
    required("prefix", Text),
    required("created_at"),
    optional("revoked_at"),
    optional("last_used_at"),
    # What the token may do (space-separated). Tokens from before scopes keep the three a
    # till needs; adjusting points by hand has to be granted explicitly.
    required("scopes", Text, server_default=default("purchases refunds customers:read")),
)

# Messages to customers decided inside a transaction (points earned, tier up, ...) and sent
# after it commits by the outbox worker: a crash between the two loses nothing.
outbox = Table(
    "outbox",
    metadata,
    key(),
    ref("customer_id", "customers.id"),
    required("kind", Text),
    required("payload", Json),
    # The same notice is never queued twice (e.g. one expiry reminder per lot date).
    optional("dedupe_key", Text, unique=True),
    required("created_at"),
    required("not_before"),
    required("state", Text, one_of("state", "pending", "sent", "failed"), server_default="pending"),
    required("attempts", Int, server_default=default(0)),
    optional("sent_at"),
    optional("error", Text),
)

# A daily job claims (job, day) before it runs: it never runs twice for the same day, even
# across restarts or several processes.
job_runs = Table(
    "job_runs",
    metadata,
    required("job", Text),
    required("run_key", Text),
    required("started_at"),
    optional("finished_at"),
    optional("result", Json),
    PrimaryKeyConstraint("job", "run_key"),
)

# Human support: one forum topic per customer in the agents' supergroup, and tickets.

# The customer's topic in the support chat; reused by every later ticket, replaced when
# somebody deletes it (the old thread id then stops resolving to the customer).
support_topics = Table(
    "support_topics",
    metadata,
    Column("customer_id", Int, ForeignKey("customers.id"), primary_key=True),
    required("chat_id", Int),
    required("thread_id", Int),
    required("created_at"),
)

tickets = Table(
    "tickets",
    metadata,
    key(),
    ref("customer_id", "customers.id"),
    # open | closed
    required("status", Text, server_default=default("open")),
    # command, menu, faq, message (written after a close), ...
    required("source", Text),
    required("opened_at"),
    # The agent (Telegram user id and name as shown) who took it or answered first.
    optional("assignee_id", Int),
    optional("assignee_name", Text),
    optional("first_response_at"),
    optional("closed_at"),
    optional("closed_by", Int),
    optional("rating", Int, CheckConstraint("rating BETWEEN 1 AND 5")),
    optional("rating_comment", Text),
    optional("rated_at"),
    # When the agents (and admins) were reminded that it waits for a first reply: once.
    optional("reminded_at"),
    # The card at the top of the ticket's topic, edited in place as the ticket changes.
    optional("card_message_id", Int),
)

# Which message in the topic is the copy of which in the private chat (both directions), so
# an edit on one side is mirrored on the other.
support_relays = Table(
    "support_relays",
    metadata,
    required("source_chat_id", Int),
    required("source_message_id", Int),
    required("target_chat_id", Int),
    required("target_message_id", Int),
    ref("customer_id", "customers.id"),
    PrimaryKeyConstraint("source_chat_id", "source_message_id"),
)

# Broadcasts: a message, who gets it (a segment expression) and when; the per-recipient queue
# is materialised when sending starts, so a restart resumes where it stopped. Automated
# campaigns are delivered as broadcasts too.
broadcasts = Table(
    "broadcasts",
    metadata,
    key(),
    # Telegram HTML, exactly as delivered (a photo's caption when there is a photo).
    required("text", Text),
    # A file path (uploaded once), a Telegram file_id or an http(s) URL.
    optional("photo", Text),
    # The file_id Telegram gave the first upload: every later recipient reuses it.
    optional("photo_file_id", Text),
    # JSON: [[{"text": ..., "url": ...}, ...], ...] URL buttons above Unsubscribe.
    optional("buttons", Json),
    required("segment", Text, server_default=default("all")),
    required(
        "state",
        Text,
        one_of("state", "draft", "scheduled", "sending", "paused", "done", "cancelled"),
        server_default=default("draft"),
    ),
    # 'cli' or 'telegram:<id>'
    required("created_by", Text),
    required("created_at"),
    # When to start (UTC); NULL for a draft.
    optional("send_at"),
    optional("started_at"),
    optional("finished_at"),
    # Recipients materialised at the start (including those known unreachable).
    optional("total", Int),
    # Messages that were in flight when the bot stopped and were sent again after restart.
    required("resent", Int, server_default=default(0)),
    # Where the live progress message lives (a broadcast composed in Telegram).
    optional("progress_chat_id", Int),
    optional("progress_message_id", Int),
    # NULL for an admin's broadcast; the campaign's name for one a campaign run queued.
    optional("campaign", Text),
    # The texts in other languages beside the default, as JSON {"ru": "…", "uk": "…"}.
    optional("texts", Json),
)

broadcast_recipients = Table(
    "broadcast_recipients",
    metadata,
    ref("broadcast_id", "broadcasts.id"),
    ref("customer_id", "customers.id"),
    required(
        "state",
        Text,
        one_of("state", "pending", "sending", "sent", "failed", "blocked", "skipped"),
        server_default=default("pending"),
    ),
    required("attempts", Int, server_default=default(0)),
    # A retry after a 5xx or network error waits until then (UTC).
    optional("not_before"),
    optional("message_id", Int),
    optional("error", Text),
    optional("at"),
    # JSON: what a campaign message says to this recipient (points, dates), rendered in
    # their language when sent. NULL for an admin's broadcast (one text for everyone).
    optional("payload", Json),
    # (broadcast, customer) is the delivery's idempotency key.
    PrimaryKeyConstraint("broadcast_id", "customer_id"),
    sqlite_with_rowid=False,
)

# Free-form labels an operator puts on customers, for segments such as tag=vip.
customer_tags = Table(
    "customer_tags",
    metadata,
    ref("customer_id", "customers.id"),
    required("tag", Text),
    PrimaryKeyConstraint("customer_id", "tag"),
    sqlite_with_rowid=False,
)

# At most one message per campaign, customer and period (a year for the birthday, an
# inactivity spell for reactivation, a burn date for expiry reminders, 'once' for the welcome
# follow-up): the primary key is the idempotency key, so a repeated run queues nothing twice.
campaign_deliveries = Table(
    "campaign_deliveries",
    metadata,
    required("campaign", Text),
    ref("customer_id", "customers.id"),
    required("period", Text),
    ref("broadcast_id", "broadcasts.id"),
    required("queued_at"),
    PrimaryKeyConstraint("campaign", "customer_id", "period"),
    sqlite_with_rowid=False,
)

# Customers' ratings (1-5 stars) with an optional comment and photo: at most one per purchase,
# or one per 30 days for a customer without purchases to rate.
reviews = Table(
    "reviews",
    metadata,
    key(),
    ref("customer_id", "customers.id"),
    ref("purchase_id", "purchases.id", nullable=True),
    required("stars", Int, CheckConstraint("stars BETWEEN 1 AND 5")),
    optional("text", Text),
    # Telegram file_id of the photo the customer attached.
    optional("photo", Text),
    # 'command' (/review) or 'request' (asked after a purchase)
    required("source", Text),
    required("created_at"),
    required("updated_at"),
    # A 5-star review with text is published to REVIEWS_CHANNEL_ID once an admin approves
    # it: claimed by setting published_at (at most once), the channel post's id kept.
    optional("published_at"),
    optional("published_message_id", Int),
)

# "How likely are you to recommend us?" 0-10, then why: one answer per customer per survey,
# sent to a segment and on a schedule.
nps_surveys = Table(
    "nps_surveys",
    metadata,
    key(),
    required("created_at"),
    optional("created_by", Int),
    required("recipients", Int),
    required("segment", Text, server_default=default("all")),
    # 'admin' (/nps send) or 'schedule' (the daily job)
    required("origin", Text, server_default=default("admin")),
)

nps_responses = Table(
    "nps_responses",
    metadata,
    ref("survey_id", "nps_surveys.id"),
    ref("customer_id", "customers.id"),
    required("score", Int, CheckConstraint("score BETWEEN 0 AND 10")),
    optional("reason", Text),
    required("answered_at"),
    PrimaryKeyConstraint("survey_id", "customer_id"),
)

# Who was asked when: a customer is asked at most once per NPS_SURVEY_EVERY_DAYS by the
# scheduled survey.
nps_invitations = Table(
    "nps_invitations",
    metadata,
    ref("survey_id", "nps_surveys.id"),
    ref("customer_id", "customers.id"),
    required("invited_at"),
    PrimaryKeyConstraint("survey_id", "customer_id"),
    sqlite_with_rowid=False,
)

# Webhook mode: every update is stored here before Telegram gets its 200, then handled by
# whichever process claims it. update_id is unique, so a redelivery (or a delivery to a
# second replica) is stored once. The payload is dropped once the update is handled.
webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("update_id", BigInt, primary_key=True, autoincrement=False),
    # The request's body as received, text on both engines: Python's json, which vets it,
    # accepts what jsonb refuses (NaN, "\u0000"), and a refused store would answer Telegram
    # 500 and hold the queue; nothing queries it, and it is dropped once handled.
    optional("payload", Text),
    required("received_at"),
    required("state", Text, one_of("state", "pending", "done"), server_default="pending"),
    # The process handling it and when it last said it still is (its lease).
    optional("claimed_by", Text),
    optional("claimed_at"),
    required("attempts", Integer(), server_default=default(0)),
    optional("finished_at"),
)

# Conversation state (aiogram FSM) outside the process: a restart mid-conversation continues
# where the customer was. One row per aiogram storage key.
fsm_states = Table(
    "fsm_states",
    metadata,
    Column("storage_key", Text, primary_key=True),
    required("chat_id", BigInt),
    required("user_id", BigInt),
    optional("state", Text),
    required("data", Json, server_default=default("{}")),
    required("updated_at"),
)

# Idempotency keys belong to one request: each key the API (or an agent's /points) accepts
# is stored with a digest of every field of its request, so the same key sent with another
# order, customer or amount is refused (409) instead of answering the first result.
request_fingerprints = Table(
    "request_fingerprints",
    metadata,
    # purchase (key: order_id), refund (refund_id, or order and amount), adjust (its key)
    required("kind", Text),
    required("request_key", Text),
    # JSON {field: digest}: which field differs can be named without keeping the values.
    required("fields", Json),
    # JSON of the first answer when no other table keeps it (adjustments' balances).
    optional("result", Json),
    required("created_at"),
    PrimaryKeyConstraint("kind", "request_key"),
)

# Random values made once per installation, on first need (never leave the database).
installation_secrets = Table(
    "installation_secrets",
    metadata,
    Column("name", Text, primary_key=True),
    required("value", Text),
    required("created_at"),
)

# HMAC-SHA256 of each erased Telegram id, keyed by installation_secrets 'erased-ids': who was
# forgotten can be recognised on return, but not read off this table.
erased_telegram_ids = Table(
    "erased_telegram_ids",
    metadata,
    Column("id_hash", Text, primary_key=True),
    required("erased_at"),
)


def _partial(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both engines."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


Index("interactions_by_customer", interactions.c.customer_id, interactions.c.id)
Index(
    "interactions_by_outbound_key",
    interactions.c.outbound_key,
    unique=True,
    **_partial("outbound_key IS NOT NULL"),
)
Index("processed_updates_by_state", processed_updates.c.state, processed_updates.c.received_at)
Index("faq_queries_by_outcome", faq_queries.c.confident, faq_queries.c.at)
Index("faq_queries_by_entry", faq_queries.c.entry_id)
Index("audit_by_time", audit.c.at)
Index("audit_by_actor", audit.c.actor, audit.c.at)
Index("customers_by_card", customers.c.card_code, unique=True, **_partial("card_code IS NOT NULL"))
Index(
    "customers_by_referral_code",
    customers.c.referral_code,
    unique=True,
    **_partial("referral_code IS NOT NULL"),
)
Index("points_by_customer", points_entries.c.customer_id, points_entries.c.id)
Index("points_lots_by_expiry", points_entries.c.expires_at, **_partial("is_lot = 1"))
Index("points_by_time", points_entries.c.at)
Index("lot_usage_by_lot", lot_usage.c.lot_id)
Index("lot_usage_by_entry", lot_usage.c.entry_id)
Index("purchases_by_customer", purchases.c.customer_id, purchases.c.purchased_at)
# With the amount in the index, retention figures never touch the table.
Index(
    "purchases_by_customer_epoch",
    purchases.c.customer_id,
    purchases.c.purchased_epoch,
    purchases.c.amount_minor,
)
Index("purchases_by_recorded", purchases.c.recorded_at)
Index("refunds_by_purchase", refunds.c.purchase_id)
Index("referrals_by_referrer", referrals.c.referrer_id, referrals.c.converted_at)
Index("redemptions_open", redemptions.c.expires_at, **_partial("state = 'issued'"))
Index("api_tokens_active_name", api_tokens.c.name, unique=True, **_partial("revoked_at IS NULL"))
Index("outbox_due", outbox.c.not_before, outbox.c.id, **_partial("state = 'pending'"))
Index("support_topics_by_thread", support_topics.c.chat_id, support_topics.c.thread_id, unique=True)
# One open ticket per customer: a second open is a conflict, not a second row.
Index("tickets_one_open", tickets.c.customer_id, unique=True, **_partial("status = 'open'"))
Index("tickets_by_customer", tickets.c.customer_id, tickets.c.id)
Index("tickets_by_opened", tickets.c.opened_at)
Index("tickets_by_closed", tickets.c.closed_at, **_partial("closed_at IS NOT NULL"))
Index(
    "broadcasts_active",
    broadcasts.c.state,
    broadcasts.c.send_at,
    **_partial("state IN ('scheduled', 'sending')"),
)
# The queue: only the rows still to send, so reading the next chunk never walks sent ones.
Index(
    "broadcast_recipients_queue",
    broadcast_recipients.c.broadcast_id,
    broadcast_recipients.c.customer_id,
    **_partial("state IN ('pending', 'sending')"),
)
Index("customer_tags_by_tag", customer_tags.c.tag)
Index("campaign_deliveries_by_customer", campaign_deliveries.c.customer_id)
Index(
    "reviews_one_per_purchase",
    reviews.c.purchase_id,
    unique=True,
    **_partial("purchase_id IS NOT NULL"),
)
Index("reviews_by_customer", reviews.c.customer_id, reviews.c.created_at)
Index("reviews_by_time", reviews.c.created_at)
Index("nps_by_time", nps_responses.c.answered_at)
Index("nps_invitations_by_customer", nps_invitations.c.customer_id, nps_invitations.c.invited_at)
Index("webhook_inbox_by_state", webhook_inbox.c.state, webhook_inbox.c.update_id)
Index("fsm_states_by_user", fsm_states.c.user_id)


# Nothing is recorded against a forgotten customer, whatever still holds their old row in
# memory (another process's cache, an update in flight while they were forgotten); a question
# is kept for the FAQ's statistics, but neither its text nor its asker.
_SQLITE_DDL = (
    """
CREATE TRIGGER interactions_not_for_forgotten BEFORE INSERT ON interactions
WHEN (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE);
END
""",
    """
CREATE TRIGGER faq_queries_not_for_forgotten AFTER INSERT ON faq_queries
WHEN NEW.customer_id IS NOT NULL
    AND (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL
BEGIN
    UPDATE faq_queries SET customer_id = NULL, text = '[erased]' WHERE id = NEW.id;
END
""",
    """
CREATE TRIGGER outbox_not_for_forgotten BEFORE INSERT ON outbox
WHEN (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE);
END
""",
)

JULIANDAY_OF_TIMESTAMPTZ = """
CREATE FUNCTION julianday(moment TIMESTAMP WITH TIME ZONE) RETURNS DOUBLE PRECISION
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT EXTRACT(EPOCH FROM moment) / 86400.0 + 2440587.5 $$
"""

_POSTGRESQL_DDL = (
    # SQLite functions the repositories' SQL uses, with SQLite's results, so one SQL text
    # runs on both engines (storage/migrations/README.md).
    # julianday(text): days since noon UTC, 24 November 4714 BC, as a fraction.
    """
CREATE FUNCTION julianday(moment TEXT) RETURNS DOUBLE PRECISION
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT EXTRACT(EPOCH FROM CAST(moment AS TIMESTAMP)) / 86400.0 + 2440587.5 $$
""",
    # The same for a timestamp column (timestamptz); a text argument or a `?` still picks the
    # text one (PostgreSQL prefers text for a literal of unknown type).
    JULIANDAY_OF_TIMESTAMPTZ,
    # ROUND(x, digits) on a floating-point value (PostgreSQL has it for NUMERIC only).
    """
CREATE FUNCTION round(value DOUBLE PRECISION, digits INTEGER) RETURNS DOUBLE PRECISION
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CAST(ROUND(CAST(value AS NUMERIC), digits) AS DOUBLE PRECISION) $$
""",
    # Segments bind a JSON array of customer ids and read it with `SELECT value FROM
    # json_each(?)`, SQLite's table-valued function; PostgreSQL's own json_each takes an
    # object, so this overload for text reads an array of ids the same way.
    """
CREATE FUNCTION json_each(ids TEXT) RETURNS TABLE (value BIGINT)
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CAST(e AS BIGINT) FROM json_array_elements_text(CAST(ids AS json)) AS e
    $$
""",
    # The forgotten-customer triggers (see _SQLITE_DDL): SQLite's RAISE(IGNORE) is a BEFORE
    # trigger returning NULL here, which skips the row.
    """
CREATE FUNCTION skip_if_customer_forgotten() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$$
""",
    """
CREATE TRIGGER interactions_not_for_forgotten BEFORE INSERT ON interactions
FOR EACH ROW EXECUTE FUNCTION skip_if_customer_forgotten()
""",
    """
CREATE FUNCTION erase_faq_query_if_forgotten() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id IS NOT NULL
        AND (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL THEN
        NEW.customer_id := NULL;
        NEW.text := '[erased]';
    END IF;
    RETURN NEW;
END;
$$
""",
    """
CREATE TRIGGER faq_queries_not_for_forgotten BEFORE INSERT ON faq_queries
FOR EACH ROW EXECUTE FUNCTION erase_faq_query_if_forgotten()
""",
    """
CREATE TRIGGER outbox_not_for_forgotten BEFORE INSERT ON outbox
FOR EACH ROW EXECUTE FUNCTION skip_if_customer_forgotten()
""",
)

for _dialect, _statements in (("sqlite", _SQLITE_DDL), ("postgresql", _POSTGRESQL_DDL)):
    for _statement in _statements:
        _ddl = DDL(_statement)  # type: ignore[no-untyped-call]
        event.listen(metadata, "after_create", _ddl.execute_if(dialect=_dialect))


@compiles(CreateColumn, "sqlite")
def _sqlite_column(create: CreateColumn, compiler: DDLCompiler, **kw: Any) -> str | None:
    column = create.element
    if "sqlite" not in column.info.get("dialects", {"sqlite"}):
        return None  # the column exists on the other engine only
    spec: str | None = compiler.visit_create_column(create, **kw)  # type: ignore[no-untyped-call]
    if spec is not None and column.primary_key and len(column.table.primary_key.columns) == 1:
        # A lone key column is declared without NOT NULL on SQLite, as `INTEGER PRIMARY KEY`
        # always was here: the rowid fills it in.
        spec = spec.replace(" NOT NULL", "", 1)
    return spec


@compiles(PrimaryKeyConstraint, "sqlite")
def _sqlite_primary_key(
    constraint: PrimaryKeyConstraint, compiler: DDLCompiler, **kw: Any
) -> str | None:
    if all("sqlite" not in column.info.get("dialects", {"sqlite"}) for column in constraint):
        return None  # a key on columns of the other engine only (lot_usage's rowid)
    result: str = compiler.visit_primary_key_constraint(constraint, **kw)
    return result


def create(connection: Any) -> None:
    """Build every table, index, trigger and function on an empty database."""
    metadata.create_all(connection)
