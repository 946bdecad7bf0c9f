import aiohttp
import pytest

from bot.emulator import BotAPIEmulator
from tests.e2e.harness import TOKEN, BotProcess, rejected_calls

ADMIN_ID = 900_000_001
# The shared bot's agents' forum supergroup (SUPPORT_CHAT_ID).
SUPPORT_CHAT_ID = -1_009_000_000_001
# The scenarios' tills also correct balances by hand (/points/adjust), which a token does
# only when granted: every scope, as `api-token create --scope` spells them.
ALL_SCOPES = (
    "--scope",
    "purchases",
    "--scope",
    "refunds",
    "--scope",
    "customers:read",
    "--scope",
    "points:adjust",
)


@pytest.fixture(scope="session")
async def emulator():
    async with BotAPIEmulator(token=TOKEN, bot_username="loyalty_test_bot") as emu:
        yield emu


@pytest.fixture(scope="session")
async def admin(emulator):
    return emulator.add_user(
        first_name="Ada", username="ada_admin", language_code="en", user_id=ADMIN_ID
    )


@pytest.fixture(scope="session")
async def support_chat(emulator):
    """The agents' forum supergroup, there before the bot starts (its start-up checks it)."""
    return emulator.add_forum_supergroup("Support", chat_id=SUPPORT_CHAT_ID)


@pytest.fixture(scope="session")
async def bot(emulator, admin, support_chat, tmp_path_factory):
    """One bot process shared by the scenarios; each scenario speaks as new customers."""
    process = BotProcess(
        emulator,
        tmp_path_factory.mktemp("bot"),
        admin_ids=(ADMIN_ID,),
        env={"SUPPORT_CHAT_ID": str(support_chat.id)},
    )
    await process.start()
    yield process
    returncode = await process.stop()
    assert returncode == 0, process.log()
    assert rejected_calls(emulator) == []


@pytest.fixture(autouse=True)
async def _buttons_answered_before_the_next_test(request):
    """The shared emulator is served by this test process's event loop, so while a later test
    runs synchronous work (a unit test building a matcher, CREATE DATABASE on PostgreSQL) it
    answers nobody. A button the shared bot has not answered when its scenario ends would be
    answered late, past Telegram's 15 s, and rejected (seen twice in CI's PostgreSQL half).
    So each scenario ends once the bot has answered every button pressed in it."""
    yield
    if "emulator" in request.fixturenames:
        emulator = request.getfixturevalue("emulator")
        await emulator.wait_for(lambda: not emulator.unanswered_callback_queries(), timeout=10)


@pytest.fixture
async def own_emulator():
    """For scenarios that restart or kill the bot: a Telegram of their own."""
    async with BotAPIEmulator(token=TOKEN, bot_username="loyalty_test_bot") as emu:
        yield emu


@pytest.fixture(scope="session")
async def api_token(bot):
    """A token for the integration HTTP API of the shared bot, as an operator creates one
    (allowed every scope)."""
    result = await bot.cli("api-token", "create", "till-1", *ALL_SCOPES)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("lsb_")
    return token


@pytest.fixture
async def api(bot, api_token):
    """An HTTP session on the shared bot's API, authorised as a till."""
    async with aiohttp.ClientSession(
        bot.api_url, headers={"Authorization": f"Bearer {api_token}"}
    ) as session:
        yield session


@pytest.fixture
async def api_for():
    """For bots of a test's own: `await api_for(bot)` is an authorised API session on it."""
    sessions: list[aiohttp.ClientSession] = []

    async def open_for(process):
        result = await process.cli("api-token", "create", "till", *ALL_SCOPES)
        assert result.returncode == 0, result.stderr
        token = result.stdout.strip().splitlines()[-1]
        session = aiohttp.ClientSession(
            process.api_url, headers={"Authorization": f"Bearer {token}"}
        )
        sessions.append(session)
        return session

    yield open_for
    for session in sessions:
        await session.close()


@pytest.fixture(autouse=True)
async def _no_bot_left_behind():
    """A failed assertion must not leave a bot process of its test running (the session's
    shared bot was created before and is left alone)."""
    before = len(BotProcess.created)
    yield
    for created in BotProcess.created[before:]:
        process = created.process
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
    del BotProcess.created[before:]
