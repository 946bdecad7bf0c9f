"""The experience end to end (issue 20): customers are never stuck in a question, a ticket
closed moments ago comes back, and agents see their cards, histories and menus right."""

from __future__ import annotations

from handlers.callbacks import UsePoints
from tests.databases import rows
from tests.e2e.harness import buttons, buy, press
from tests.e2e.test_rewards_cashier import customer_with_points


async def test_a_menu_button_leaves_the_use_points_question(bot, emulator, api):
    una = await customer_with_points(emulator, api, "Una-menu", "40.00")  # 250 points
    una.send_text("/rewards")
    catalogue = await una.next_message()
    await press(emulator, una, catalogue, UsePoints().pack())
    assert "How many points" in (await una.next_message())["text"]
    # The review entry comes after the question's router: it used to be read as a number.
    una.press_reply_button("✍️ Review")
    question = await una.next_message()
    assert len(buttons(question)) == 5, question  # the stars of the review question
    una.send_text("100")  # the question was left: no code, the FAQ answers
    assert "browse the FAQ" in (await una.next_message())["text"]
    una.send_text("/rewards")
    assert "Your open codes" not in (await una.next_message())["text"]


async def test_a_menu_button_or_command_leaves_the_review_comment(bot, emulator, api):
    rosa = emulator.add_user(first_name="Rosa-menu", language_code="en")
    rosa.send_text("/start")
    await rosa.next_message()
    await buy(api, "MENU-REV-1", rosa.id, "10.00")
    await rosa.next_message()  # points earned
    rosa.send_text("/review")
    question = await rosa.next_message()
    await press(emulator, rosa, question, list(buttons(question).values())[-1])  # 5 stars
    assert "add a comment" in rosa.messages[-1]["text"]
    rosa.press_reply_button("📚 FAQ")
    assert "Pick a topic" in (await rosa.next_message())["text"]
    rosa.send_text("Where is the shop?")  # a question now, not the review's comment
    assert "added it to your review" not in (await rosa.next_message())["text"]
    review = rows(
        bot.database_url,
        "SELECT r.text FROM reviews r JOIN customers c ON c.id = r.customer_id "
        "WHERE c.telegram_id = ?",
        (rosa.id,),
    )
    assert review == [(None,)]


async def test_a_command_leaves_the_birthday_question(bot, emulator):
    bea = emulator.add_user(first_name="Bea-menu", language_code="en")
    bea.send_text("/start")
    await bea.next_message()
    bea.send_text("/profile")
    screen = await bea.next_message()
    await press(emulator, bea, screen, buttons(screen)["🎂 Add birthday"])
    assert "DD.MM" in (await bea.next_message())["text"]
    bea.send_text("/support")  # a command after the question's router
    assert "Ticket #" in (await bea.next_message())["text"]
    bea.send_text("/points")
    assert "points" in (await bea.next_message())["text"]
    bea.send_text("14.03")  # goes to the agents, not into the profile
    assert (await bot.customer(bea.id))["birthday"] is None
