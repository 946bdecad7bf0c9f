"""Start-up: the bot answers at once while its FAQ model warms up in the background, a
restart loads the model's graph from the cache instead of building it again, and a database
of the releases before Alembic is taken over as it is."""

import asyncio

import aiohttp

from bot.app import FAQ_WARM_UP_GATE_VARIABLE
from bot.services.access import CLI
from bot.services.faq.onnx_e5 import OnnxE5Embedder
from bot.services.faq.service import SAMPLE_FAQ, FaqService
from storage.migrations import HEAD, current_revision
from storage.unit_of_work import open_storage
from tests import databases
from tests.e2e.harness import FAQ_WARMED_UP, BotProcess
from tests.tuned_weights import nudged_top_layer
from tests.yoyo_era import yoyo_era_database

# The model-free matcher only half-recognises this (it offers a choice); the model answers.
PARAPHRASE = "my parcel hasn't shown up yet"
ORDER_STATUS_ANSWER = "The courier's link comes by SMS once your order leaves us."
WARMING_UP = "The FAQ is warming up after a restart: ask again in a few seconds, please."
OFFICIAL = "Where is my order?"  # one of the entry's own phrasings: no model needed


def recorded(bot, telegram_id):
    return databases.rows(
        bot.database_url,
        "SELECT q.text, q.outcome, q.entry_id FROM faq_queries q "
        "JOIN customers c ON c.id = q.customer_id WHERE c.telegram_id = ? ORDER BY q.id",
        (telegram_id,),
    )


async def test_the_bot_answers_while_the_faq_model_warms_up(own_emulator, tmp_path):
    gate = tmp_path / "let-the-model-load"
    bot = BotProcess(
        own_emulator,
        tmp_path / "bot",
        env={FAQ_WARM_UP_GATE_VARIABLE: str(gate)},
        faq_model_cache=False,  # a first start: it builds the graph
    )
    await bot.start(wait_for_faq=False)

    # /start and the menu: at once, with the model not loaded.
    mia = own_emulator.add_user(first_name="Mia", language_code="en")
    mia.send_text("/start")
    welcome = await mia.next_message(timeout=10)
    assert welcome["text"]
    # The integration API is up too.
    async with aiohttp.ClientSession(bot.api_url) as http, http.get("/healthz") as health:
        assert health.status == 200
        assert (await health.json())["faq"] == {"warming_up": True}

    # A question the model-free matcher is unsure of: "warming up", and recorded.
    mia.send_text(PARAPHRASE)
    reply = await mia.next_message(timeout=10)
    assert reply["text"] == WARMING_UP
    assert "ONNX graph" not in bot.log()
    await own_emulator.wait_for(lambda: len(recorded(bot, mia.id)) == 1, timeout=10)
    assert recorded(bot, mia.id) == [(PARAPHRASE, "warming_up", None)]

    # Once the model-free index is there, what it is sure of is answered without the model.
    await own_emulator.wait_for(lambda: "FAQ model held back" in bot.log(), timeout=30)
    assert "phrasings, lexical" in bot.log()
    mia.send_text(OFFICIAL)
    answer = await mia.next_message(timeout=10)
    assert ORDER_STATUS_ANSWER in answer["text"]

    # Model in: the same question gets the FAQ's answer.
    gate.touch()
    await own_emulator.wait_for(lambda: FAQ_WARMED_UP in bot.log(), timeout=60)
    assert "ONNX graph built" in bot.log()
    async with aiohttp.ClientSession(bot.api_url) as http, http.get("/healthz") as health:
        assert (await health.json())["faq"] == {"warming_up": False}
    mia.send_text(PARAPHRASE)
    answer = await mia.next_message(timeout=10)
    assert ORDER_STATUS_ANSWER in answer["text"]
    assert await bot.stop() == 0


async def test_a_restart_loads_the_model_from_the_cache(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path / "bot", faq_model_cache=False)
    await bot.start()
    assert bot.log().count("ONNX graph built") == 1
    assert await bot.stop() == 0

    await bot.start()
    assert bot.log().count("ONNX graph built") == 1  # not a second time
    assert "ONNX graph loaded from the cache" in bot.log()
    leo = own_emulator.add_user(first_name="Leo", language_code="en")
    leo.send_text(PARAPHRASE)
    answer = await leo.next_message(timeout=10)
    assert ORDER_STATUS_ANSWER in answer["text"]
    assert await bot.stop() == 0


async def test_a_bot_on_a_database_of_the_yoyo_releases_starts_and_knows_its_customers(
    own_emulator, tmp_path
):
    (tmp_path / "bot").mkdir()
    url = databases.fresh_database_url(tmp_path / "bot")
    yoyo_era_database(url)
    ann = own_emulator.add_user(first_name="Ann", language_code="en")
    first_seen = "2026-01-02 03:04:05.000000"
    databases.query(
        url,
        "INSERT INTO customers (telegram_id, first_name, language, first_seen, last_seen)"
        " VALUES (?, ?, ?, ?, ?)",
        (ann.id, "Ann", "en", first_seen, first_seen),
    )
    bot = BotProcess(own_emulator, tmp_path / "bot", env={"DATABASE_URL": url})
    await bot.start(wait_for_faq=False)
    assert current_revision(url) == HEAD

    ann.send_text("/start")
    assert (await ann.next_message(timeout=10))["text"]
    await own_emulator.wait_for(
        lambda: (
            databases.value(
                url,
                "SELECT COUNT(*) FROM interactions i JOIN customers c ON c.id = i.customer_id"
                " WHERE c.telegram_id = ? AND i.direction = 'in'",
                (ann.id,),
            )
            == 1
        ),
        timeout=10,
    )
    # The same customer as before the upgrade, not a new one.
    assert databases.rows(
        url, "SELECT first_name, first_seen FROM customers WHERE telegram_id = ?", (ann.id,)
    ) == [("Ann", first_seen)]
    shown = await bot.customer(ann.id)
    assert shown["first_seen"].startswith("2026-01-02")
    assert await bot.stop() == 0


async def test_the_bot_answers_with_the_encoder_tuned_on_its_faq(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path / "bot")
    result = await bot.cli("faq", "import", str(SAMPLE_FAQ))
    assert result.returncode == 0, result.stderr
    # A tuning of this FAQ in the bot's database, as `faq tune` leaves it (the weights stand
    # in for PyTorch's).
    embedder = await asyncio.to_thread(OnnxE5Embedder)
    weights = await asyncio.to_thread(nudged_top_layer, embedder, 5)
    storage = await open_storage(bot.database_url)
    try:
        faq = FaqService(storage, None)
        await faq.load()
        await faq.store_tuning(faq.entries, weights, (0.62, 0.59), {}, CLI)
    finally:
        await storage.close()

    await bot.start()
    warmed = next(line for line in bot.log().splitlines() if FAQ_WARMED_UP in line)
    assert f"+tuned-{weights.digest[:16]}" in warmed
    leo = own_emulator.add_user(first_name="Leo", language_code="en")
    leo.send_text(PARAPHRASE)
    answer = await leo.next_message(timeout=10)
    assert ORDER_STATUS_ANSWER in answer["text"]
    assert await bot.stop() == 0
