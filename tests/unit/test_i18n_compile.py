"""The gettext catalogues compile on start-up; processes starting together must not trip
over each other (a fresh clone under `pytest -n 2`, replicas sharing a volume)."""

import shutil
import threading
from pathlib import Path

from babel.messages.mofile import read_mo

from bot.i18n import LOCALES_DIR, compile_catalogs


def test_compiling_at_once_from_many_threads_leaves_whole_catalogues(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, locales, ignore=shutil.ignore_patterns("*.mo"))
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def compile_now() -> None:
        start.wait()
        try:
            compile_catalogs(locales)
        except BaseException as error:  # reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=compile_now) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    catalogues = sorted(locales.glob("*/LC_MESSAGES/messages.mo"))
    assert len(catalogues) == len(list(locales.glob("*/LC_MESSAGES/messages.po"))) >= 3
    for path in catalogues:
        with path.open("rb") as mo:
            catalogue = read_mo(mo)  # whole: a torn file does not parse
        if path.parent.parent.name != "en":  # English is the source: its msgstrs are empty
            assert len(catalogue) > 100
    assert list(locales.glob("*/LC_MESSAGES/*.tmp")) == []
