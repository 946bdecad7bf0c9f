"""What the bots' fork server holds before it forks them (tests/e2e/harness.py), beside the
imports: simplemma's en, ru and uk lexicons, read into their compact form
(bot/services/faq/lemmas.py). Reading them costs a process ~1.4 s of CPU, which every bot
paid at every start in its FAQ warm-up (some 70 starts per run); forked, each bot inherits
them. Reading them is tested on its own in tests/unit/test_lemmas.py."""

from bot.services.faq.lemmas import LEXICONS

for language in ("en", "ru", "uk"):
    LEXICONS.get_dictionary(language)
