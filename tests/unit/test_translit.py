"""Russian typed in Latin letters is read as Russian; English and Cyrillic are left alone."""

import pytest

from bot.services.faq.translit import cyrillic_word, to_cyrillic


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("komissiya za snyatie nalichnyh", "комиссия за снятие наличных"),
        ("poluchatel ne poluchil dengi", "получатель не получил деньги"),  # soft signs left out
        ("obmen valyuty v prilozhenii kak?", "обмен валюты в приложении как?"),
        ("skolko stoit dostavka", "сколько стоит доставка"),
        ("moj zakaz ne prishel, where is it??", "мой заказ не пришел, where is it??"),
        ("Vnesti nalichnye na schet", "внести наличные на счет"),
        ("de moye zamovlennya?", "де моє замовлення?"),
        ("yak povernuty hroshi za zamovlennya", "як повернути гроші за замовлення"),
        ("skilky koshtuye dostavka", "скільки коштує доставка"),
        ("vkraly kartku, shcho robyty", "вкрали картку, що робити"),
    ],
)
def test_transliterated_russian_and_ukrainian_come_back_in_cyrillic(typed, meant):
    assert to_cyrillic(typed) == meant


@pytest.mark.parametrize(
    "text",
    [
        "how do I reset my card pin",
        "I want to top up my account with cash",
        "Is there a fee for exchanging currency in the app",
        "can I get a spare card for my wife",
        "как поменять номер телефона",  # Cyrillic already
        "чи можна оплатити доставку бонусами",
        "ok",
        "",
        "12345 !!!",
    ],
)
def test_other_text_is_left_as_it_is(text):
    assert to_cyrillic(text) is None


def test_a_word_the_lexicon_does_not_know_stays_unread():
    assert cyrillic_word("qwrtzp") is None
    assert cyrillic_word("zhena") == "жена"
    assert cyrillic_word("hroshi", "uk") == "гроші"
