"""Errors that a person reads (an admin in Telegram, an operator at the CLI), written once
and shown in the reader's language: the message is a msgid with named parameters, marked
for extraction with N_, and translated where it is shown (no gettext here: the domain and
the services speak no language of their own)."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Marks a text for extraction; it is translated where it is shown."""
    return msgid


class ExplainedError(Exception):
    """`str(error)` is the English text (logs, the CLI); `explain(gettext)` the reader's.
    Parameters named in `translated` are msgids themselves (a state, a kind of thing)."""

    def __init__(self, msgid: str, *, translated: Iterable[str] = (), **params: object) -> None:
        self.msgid = msgid
        self.params = params
        self.translated = frozenset(translated)
        super().__init__(msgid.format(**params))

    def explain(self, gettext: Callable[[str], str]) -> str:
        params = {
            name: gettext(str(value)) if name in self.translated else value
            for name, value in self.params.items()
        }
        return gettext(self.msgid).format(**params)
