"""Checking how cards are written: `pmcards lint`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pmcards.cli.base import RegistryChoice, cli, collection, json_option

if TYPE_CHECKING:
    from pmcards.lint import Finding

# Exit status: 0 clean, FOUND with findings, and Click's own 2 for a usage error.
FOUND = 1
UNREADABLE = 2


def _formats() -> list[str]:
    from pmcards.formats import FORMATS

    return ["auto", *FORMATS]


@cli.command(name="lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--deck", metavar="NAME", help="Only this deck (and its subdecks).")
@click.option(
    "--format",
    "fmt",
    type=RegistryChoice(_formats),
    default="auto",
    show_default=True,
    help="The files' format (auto: by extension).",
)
@json_option
@click.pass_context
def lint_cmd(
    ctx: click.Context, paths: tuple[Path, ...], deck: str | None, fmt: str, as_json: bool
) -> None:
    """Check how cards are written: one idea each, short answers, a why, no giveaways.

    With files (any format import reads), checks them; without, checks the whole
    collection. One line per finding, `FILE:LINE: NOTE-ID: RULE: message` (the note id
    alone for the collection). Exit status 0 when clean, 1 with findings, 2 for a usage
    error or a file that cannot be read. A note silences a rule with
    lint_ignore = ["rule"] (Markdown: "Lint-ignore: rule").

    \b
    Rules:
      long-answer         an answer over 30 words (a cloze deletion: 8)
      enumeration         a list of more than 3 items outside a cloze
      answer-in-question  half the answer's words already in the question
      lopsided-contrast   GOOD and BAD differ in length by more than 1.5 times
      verdict-word        bad, good, better, weak ... in GOOD or BAD
      near-duplicate      two notes sharing half their word triples
      missing-why         no why
      long-why            a why over 50 words
      unseen-reference    "the article", "the FAQ", "above" ...

    \b
    pmcards lint my-deck.toml
    pmcards lint --deck "BAD vs GOOD answers" --json
    """
    from pmcards import lint

    if paths:
        from pmcards import importer
        from pmcards.errors import DeckFormatError

        linter = lint.Linter()
        try:
            decks = importer.parse_files(list(paths), fmt, stream=True)
            for note in lint.file_notes(decks, deck):
                linter.add(note)
        except DeckFormatError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(UNREADABLE)
        if deck is not None and not any(lint.in_deck(d.name, deck) for d in decks):
            names = ", ".join(sorted({d.name for d in decks}))
            raise click.UsageError(f"no deck named {deck!r} in these files (decks: {names})")
        written = _echo(linter.finish(), linter.notes, as_json)
    else:
        from pmcards.queries import Scope

        # Read twice and written as found: the findings on a big collection are never held.
        with collection(ctx) as store, store.read() as conn:
            # Checked and named as the collection names it (`--deck metrics`, `--deck Metr`).
            scope = Scope(deck).check(conn)
            notes, found = lint.streamed(lambda: lint.collection_notes(conn, scope))
            written = _echo(found, notes, as_json)
    if written:
        ctx.exit(FOUND)


def _echo(findings: Iterable[Finding], notes: int, as_json: bool) -> int:
    """Write the findings as they come: one line each (and the count on standard error), or
    the JSON document. Returns how many."""
    from pmcards.cli.base import echo_json_fields, echo_lines

    written = 0

    def counted(items: Iterable[Any]) -> Iterator[Any]:
        nonlocal written
        for item in items:
            written += 1
            yield item

    if as_json:
        echo_json_fields({"notes": notes}, "findings", (f.to_json() for f in counted(findings)))
    else:
        echo_lines(f.text() for f in counted(findings))
        found = f"{written} finding{'s' if written != 1 else ''}"
        click.echo(f"{found if written else 'No findings'} in {notes} notes.", err=True)
    return written
