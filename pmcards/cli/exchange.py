"""Decks in and out: import, export."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from pmcards.cli.base import cli, collection, now, scope_options
from pmcards.exporters import EXPORTS, PAPERS, SHEET_MODES, SHEET_ORDERS, takes
from pmcards.formats import FORMATS

if TYPE_CHECKING:
    from pmcards.formats._export import DeckFile
    from pmcards.formats.options import ExportOptions


def _date_or_time(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """--on: a local date (YYYY-MM-DD), or a date and time (YYYY-MM-DD HH:MM), as a `date`
    or a naive `datetime` that the export reads as local time."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == len("YYYY-MM-DD"):
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is not None:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DD HH:MM)"
        )
    return moment


def _for(option: str) -> str:
    """`html, report: ` for an option's help: the exports that take it, from the registry."""
    return ", ".join(takes(option)) + ": "


@cli.command(name="import")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--builtin",
    is_flag=True,
    help="Import the built-in decks (new ones are added, changed notes updated); with "
    "--prune, remove the built-in notes this version no longer ships.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *FORMATS]),
    default="auto",
    show_default=True,
    help="The files' format (auto: by extension).",
)
@click.option("--deck", metavar="NAME", help="Import into this deck (several decks: its subdecks).")
@click.option("--dry-run", is_flag=True, help="Report what would change, change nothing.")
@click.option(
    "--prune",
    is_flag=True,
    help="Delete notes of these decks that the files no longer hold (after a backup).",
)
@click.option("--write-ids", is_flag=True, help="md: write generated note ids into the files.")
@click.pass_context
def import_(
    ctx: click.Context,
    files: tuple[Path, ...],
    builtin: bool,
    fmt: str,
    deck: str | None,
    dry_run: bool,
    prune: bool,
    write_ids: bool,
) -> None:
    """Import decks: TOML, Markdown, CSV/TSV (Anki's text export too) or Anki packages.

    Notes are matched by id: edits update in place, history kept. All files are one
    transaction: if any file has an error, nothing is imported.

    \b
    pmcards import my-deck.toml --dry-run
    pmcards import notes.md --write-ids
    pmcards import "Anki deck.apkg" --deck Anki
    pmcards import --builtin      (decks added to pmcards since your collection began)
    """
    from pmcards import backup, formats, importer, lint
    from pmcards.collection import NO_BUILTINS, skip_builtins

    if builtin:
        if files or deck or write_ids or fmt != "auto":
            raise click.UsageError(
                "--builtin imports pmcards' own decks: "
                "not with files, --deck, --format or --write-ids"
            )
        files = tuple(importer.builtin_deck_paths())
    elif not files:
        raise click.UsageError("give the files to import, or --builtin")
    if write_ids and dry_run:
        raise click.UsageError("--write-ids changes the files: not with --dry-run")
    if write_ids:
        not_md = [str(f) for f in files if formats.detect(f, fmt) != "md"]
        if not_md:
            raise click.UsageError(f"--write-ids applies only to Markdown files: {not_md[0]}")
    # A big TOML file is read while it is written, a thousand notes at a time, so memory
    # stays flat; its errors surface inside the transaction, which then imports nothing.
    parsed = importer.parse_files(list(files), fmt, deck, stream=True)
    try:
        # Built-in notes are recognised by their ids' prefixes: --builtin --prune removes
        # only those, never a note of the user's own that sits in a built-in deck.
        prefixes = importer.builtin_prefixes(parsed) if builtin else ()
        if prune and not dry_run:
            importer.validate(parsed)  # no backup, and no pruning, for a bad file
        total = importer.note_count(parsed)
        show_bar = total > 1000 and sys.stderr.isatty()
        # No built-in decks first: an import into a new collection is the user's own cards.
        with collection(ctx, builtins=False) as store:
            made = None
            first_use = False
            if prune and not dry_run:
                made = backup.before(store, "prune")
                if made is None:
                    message = backup.unsupported_message(store)
                    click.echo(f"warning: no backup before pruning: {message}", err=True)
            # The files are linted as they are imported (a big file is read only once), for the
            # one-line hint below: findings counted, not kept; near-duplicates up to a size.
            linter = lint.Linter(duplicates_up_to=HINT_DUPLICATES_UP_TO, keep=False)

            seen = [0]  # notes read

            def inspect(deck: Any, batch: list[Any]) -> None:
                # The first notes, not every one (see HINT_LINT_UP_TO); `pmcards lint`
                # checks them all.
                seen[0] += len(batch)
                for note in batch[: max(0, HINT_LINT_UP_TO - linter.notes)]:
                    linter.add(lint.from_parsed(note, deck))

            # A dry run writes nothing, so it reads without taking the write lock.
            with store.read() if dry_run else store.write() as conn:
                options: dict[str, Any] = {"dry_run": dry_run, "prune": prune, "inspect": inspect}
                if builtin:
                    options["prunable"] = lambda guid: guid.startswith(prefixes)
                if show_bar:
                    with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
                        report = importer.apply(conn, parsed, now(), progress=bar.update, **options)
                else:
                    report = importer.apply(conn, parsed, now(), **options)
                if not dry_run:
                    first_use = skip_builtins(conn) and not builtin
    finally:
        # The files' temporary folders (a package's extracted media) go now, imported or not.
        importer.release(parsed)
    from pmcards.markup import safe

    for warning in report.warnings:
        click.echo(f"warning: {safe(warning)}", err=True)
    for line in importer.format_report(report, dry_run=dry_run, prune=prune):
        click.echo(line)
    if made is not None:
        click.echo(f"Backup before pruning: {made}", err=True)
    if first_use:
        click.echo(NO_BUILTINS, err=True)
    linter.finish()
    if linter.counts:
        click.echo(_lint_hint(linter, files, builtin, cut=seen[0] > linter.notes), err=True)
    if builtin and not prune:
        retired = importer.retired_builtin(report, prefixes)
        if retired:
            many = len(retired) != 1
            click.echo(
                f"{len(retired)} built-in note{'s' if many else ''} in your collection "
                f"{'are' if many else 'is'} no longer shipped (deleted or merged into others) "
                f"and kept with {'their' if many else 'its'} history. To remove "
                f"{'them' if many else 'it'}: pmcards import --builtin --prune (after a backup)",
                err=True,
            )
    if dry_run:
        click.echo("Dry run: nothing was changed.")
        return
    if write_ids:
        from pmcards.formats.markdown import write_ids as write

        for path in files:
            written = write(path)
            if written:
                click.echo(f"{path}: wrote {written} note ids")


# The import's lint hint looks for near-duplicates in imports up to this many notes (every
# note's shingles are held at once); `pmcards lint` itself checks any number.
HINT_DUPLICATES_UP_TO = 2_000
# ... and lints this many notes of an import at most (the hint then says so): the rules
# cost about 30 us a note, near-duplicates more; they were a third of a 10,000-note import.
HINT_LINT_UP_TO = 2_000


def _lint_hint(linter: Any, files: tuple[Path, ...], builtin: bool, *, cut: bool) -> str:
    """One line: how many card-writing findings the imported files have, and the command
    that lists them."""
    import shlex

    total = sum(linter.counts.values())
    from pmcards import lint

    rules = ", ".join(rule for rule in lint.RULES if rule in linter.counts)
    command = "pmcards lint"
    if not builtin:
        command += " " + (
            " ".join(shlex.quote(str(f)) for f in files) if len(files) <= 3 else "FILE..."
        )
    where = "these files"
    if cut:
        where = f"the first {HINT_LINT_UP_TO:,} notes of these files"
    return (
        f"Hint: {total} card-writing finding{'s' if total != 1 else ''} in {where} "
        f"({rules}): {command} lists them"
    )


@cli.command()
@click.argument("fmt", metavar="FORMAT", type=click.Choice(list(EXPORTS)))
@scope_options
@click.option(
    "-o",
    "--output",
    # A str, not a Path: a Path drops the trailing slash that asks for a folder.
    type=click.Path(),
    help="Write to this file (default: standard output); for toml and md, a folder "
    "(DIR/) gets one file per deck.",
)
@click.option(
    "--order",
    type=click.Choice(list(SHEET_ORDERS)),
    help=_for("order") + " ".join(f"{name}: {what}." for name, what in SHEET_ORDERS.items()),
)
@click.option(
    "--on",
    "on",
    callback=_date_or_time,
    metavar="DATE[ HH:MM]",
    help=_for("on")
    + "the moment to predict recall for, e.g. your interview (a date alone: its midday); "
    "default: the interview of your plan, else now.",
)
@click.option(
    "--mode",
    type=click.Choice(list(SHEET_MODES)),
    help=_for("mode") + " ".join(f"{name}: {what}." for name, what in SHEET_MODES.items()),
)
@click.option("--paper", type=click.Choice(PAPERS), help=_for("paper") + "paper size.")
@click.option(
    "--template",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help=_for("template") + "render with your own templates from this folder.",
)
@click.option(
    "--with-history",
    is_flag=True,
    help=_for("with_history") + "include scheduling and review history.",
)
@click.pass_context
def export(
    ctx: click.Context,
    /,
    fmt: str,
    deck: str | None,
    tag: str | None,
    output: str | None,
    **options: Any,
) -> None:
    """Export cards: a deck file, a printable study sheet, or a progress report.

    \b
    pmcards export toml --deck "BAD vs GOOD answers" -o contrasts.toml
    pmcards export md -o my-decks/          # every deck, one file each
    pmcards export html --order weakest --on "2026-12-14 09:30" -o sheet.html
    pmcards export html --mode onepage -o morning.html
    pmcards export report -o progress.html
    """
    from pmcards.exporters import writer
    from pmcards.files import open_atomically
    from pmcards.formats.options import ExportOptions
    from pmcards.queries import Scope

    given = {k: v for k, v in options.items() if v not in (None, False)}
    for key in given:
        if key not in EXPORTS[fmt].options:
            flag = "--" + key.replace("_", "-")
            raise click.UsageError(f"{flag} applies only to: {', '.join(takes(key))}")
    if output is None and EXPORTS[fmt].binary:
        raise click.UsageError(f"{fmt} is binary: give -o FILE")
    folder = output is not None and (output.endswith(("/", os.sep)) or Path(output).is_dir())
    if folder and not EXPORTS[fmt].one_deck:
        which = ", ".join(name for name, e in EXPORTS.items() if e.one_deck)
        raise click.UsageError(
            f"{fmt} writes one file: give -o FILE (a folder, one file per deck, is for {which})"
        )
    write = writer(fmt)
    # Written while it is read, in the one read transaction: a deck file of 100,000 notes
    # goes to the file note by note, never whole in memory.
    with collection(ctx) as store, store.read() as conn:
        scope = Scope(deck, tag)
        scope = scope.check(conn)
        wanted = ExportOptions(format=fmt, scope=scope, now=now(), **given)
        if folder:
            from pmcards.formats._export import per_deck

            assert output is not None
            files = per_deck(conn, wanted, EXPORTS[fmt].suffix)
            _write_folder(Path(output), files, lambda f, own: write(conn, own, f))
            return
        if output is None:
            sys.stdout.flush()
            write(conn, wanted, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        with open_atomically(Path(output)) as f:
            write(conn, wanted, f)
    click.echo(f"Wrote {output}", err=True)


def _write_folder(
    folder: Path, files: list[DeckFile], write: Callable[[BinaryIO, ExportOptions], None]
) -> None:
    """Write an export's files into `folder` (made if missing), each atomically."""
    from pmcards.errors import PmcardsError
    from pmcards.files import open_atomically
    from pmcards.markup import plural, safe

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PmcardsError(f"cannot make folder {folder}: {exc.strerror}") from None
    for file in files:
        with open_atomically(folder / file.name) as f:
            write(f, file.options)
        click.echo(f"{safe(file.deck.name)} -> {safe(file.name)}", err=True)
    click.echo(f"Wrote {plural(len(files), 'deck file')} to {folder}", err=True)
