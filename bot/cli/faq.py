"""`python -m bot faq …`: the FAQ from the command line, through the same FaqService."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.services.access import CLI
from bot.services.faq.content import FaqFileError, dump_entries
from bot.services.faq.lemmas import LEXICONS
from bot.services.faq.matcher import Embedder, default_embedder
from bot.services.faq.model_cache import cache_directory
from bot.services.faq.service import Answer, FaqService, tuned_model_loader
from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage

EXIT_OK = 0
EXIT_INVALID = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    faq = commands.add_parser("faq", help="manage and try the FAQ")
    faq_commands = faq.add_subparsers(dest="faq_command", required=True)
    faq_import = faq_commands.add_parser("import", help="replace the FAQ with a JSON/YAML file")
    faq_import.add_argument("file", type=Path)
    faq_import.add_argument("--merge", action="store_true", help="add and update by id instead")
    faq_clear = faq_commands.add_parser("clear", help="remove every FAQ entry (needs --yes)")
    faq_clear.add_argument("--yes", action="store_true", help="yes, empty the FAQ")
    faq_export = faq_commands.add_parser("export", help="print the FAQ in the import format")
    faq_export.add_argument("file", type=Path, nargs="?", help="write here instead of stdout")
    ask = faq_commands.add_parser("ask", help="what the matcher answers (TEXT, or - for stdin)")
    ask.add_argument("text")
    ask.add_argument("--json", action="store_true", help="print JSON")
    ask.add_argument("--lang", default=None, help="the asker's language (en, ru, uk)")
    tune = faq_commands.add_parser(
        "tune", help="tune the FAQ model on the FAQ's phrasings (needs PyTorch: the tune extra)"
    )
    tune.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument(
        "--force", action="store_true", help="store it even if the check finds it no better"
    )
    gaps = faq_commands.add_parser("gaps", help="questions the FAQ could not answer, grouped")
    gaps.add_argument("--json", action="store_true", help="print JSON")
    gaps.add_argument("--limit", type=int, default=20)


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    try:
        directory = cache_directory(settings.database.sqlite_path)
        LEXICONS.keep_copies_in(directory)
        command = arguments.faq_command
        if command in {"import", "clear"}:
            faq = FaqService(storage, default_embedder(directory))
            return await (_import if command == "import" else _clear)(faq, arguments)

        async def packaged() -> Embedder | None:
            return default_embedder(directory)

        # Answers as the bot does: with the encoder tuned on this FAQ, if one fits.
        faq = FaqService(storage, None, tuned_loader=tuned_model_loader(directory))
        await faq.load_with_model(packaged)
        if command == "export":
            text = dump_entries(faq.entries)
            if arguments.file:
                arguments.file.write_text(text + "\n", encoding="utf-8")
            else:
                print(text)
            return EXIT_OK
        if command == "ask":
            return await _ask(faq, arguments)
        if command == "gaps":
            return await _gaps(faq, arguments)
        raise AssertionError(command)
    finally:
        await storage.close()


async def _import(faq: FaqService, arguments: argparse.Namespace) -> int:
    try:
        report = await faq.import_file(arguments.file, merge=arguments.merge, actor=CLI)
    except FaqFileError as error:
        print(f"nothing imported; {len(error.problems)} problem(s):", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_INVALID
    print(
        f"FAQ {'merged' if arguments.merge else 'replaced'}: {report.added} added, "
        f"{report.updated} updated, {report.removed} removed; {report.total} entries "
        f"({report.embedded} new phrasings embedded; matcher: {faq.backend})"
    )
    if await faq.tuning_fits() is False:
        print(
            "note: the FAQ model was tuned on the earlier phrasings; the bot answers with the "
            "packaged model until you run `python -m bot faq tune` again"
        )
    return EXIT_OK


async def _clear(faq: FaqService, arguments: argparse.Namespace) -> int:
    if not arguments.yes:
        print(
            "refused: this removes every FAQ entry; run `python -m bot faq clear --yes` "
            "if that is what you want",
            file=sys.stderr,
        )
        return EXIT_INVALID
    removed = await faq.clear(CLI)
    print(f"FAQ cleared: {removed} removed")
    return EXIT_OK


def answer_document(query: str, answer: Answer) -> dict[str, Any]:
    return {
        "query": query,
        "matches": [{"id": m.entry_id, "score": m.score} for m in answer.result.matches],
        "confident": answer.result.confident,
    }


async def _ask(faq: FaqService, arguments: argparse.Namespace) -> int:
    if arguments.text == "-":
        for line in sys.stdin:
            question = line.strip()
            if not question:
                continue
            answer = await faq.ask(question, language=arguments.lang, record=False)
            print(json.dumps(answer_document(question, answer), ensure_ascii=False), flush=True)
        return EXIT_OK
    answer = await faq.ask(arguments.text, language=arguments.lang, record=False)
    if arguments.json:
        print(json.dumps(answer_document(arguments.text, answer), ensure_ascii=False, indent=2))
        return EXIT_OK
    verdict = "confident" if answer.result.confident else "not confident"
    print(f"{verdict} (matcher: {faq.backend})")
    for match, entry in zip(answer.result.matches, answer.entries, strict=False):
        print(f"  {match.score:.3f}  {match.entry_id}: {entry.phrasings()[0]}")
    if answer.confident_entry is not None:
        print()
        print(answer.confident_entry.answer_in(arguments.lang or "en"))
    return EXIT_OK


async def _gaps(faq: FaqService, arguments: argparse.Namespace) -> int:
    gaps = await faq.gaps(arguments.limit)
    if arguments.json:
        document = [
            {
                "count": g.count,
                "example": g.example,
                "questions": g.questions,
                "picked": dict(g.picked.most_common()),
            }
            for g in gaps
        ]
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not gaps:
        print("no unanswered questions yet")
    for gap in gaps:
        others = f" (+{len(gap.questions) - 1} similar)" if len(gap.questions) > 1 else ""
        picked = f"  → picked: {gap.picks()}" if gap.picked else ""
        print(f"{gap.count:5d}  {gap.example}{others}{picked}")
    return EXIT_OK
