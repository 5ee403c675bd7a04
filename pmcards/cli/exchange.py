"""Decks in and out: import, export."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from pmcards.cli.base import cli, collection, now, scope_options
from pmcards.exporters import EXPORTS, PAPERS, SHEET_MODES, SHEET_ORDERS, takes
from pmcards.formats import FORMATS


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
    help="Import the built-in decks (new ones are added, changed notes updated).",
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
    from pmcards import backup, formats, importer

    if builtin:
        if files or deck or prune or write_ids or fmt != "auto":
            raise click.UsageError(
                "--builtin imports pmcards' own decks: "
                "not with files, --deck, --format, --prune or --write-ids"
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
    if prune and not dry_run:
        importer.validate(parsed)  # no backup, and no pruning, for a bad file
    total = importer.note_count(parsed)
    show_bar = total > 1000 and sys.stderr.isatty()
    with collection(ctx) as store:
        made = None
        if prune and not dry_run:
            made = backup.before(store, "prune")
            if made is None:
                message = backup.unsupported_message(store)
                click.echo(f"warning: no backup before pruning: {message}", err=True)
        # A dry run writes nothing, so it reads without taking the write lock.
        with store.read() if dry_run else store.write() as conn:
            options: dict[str, Any] = {"dry_run": dry_run, "prune": prune}
            if show_bar:
                with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
                    report = importer.apply(conn, parsed, now(), progress=bar.update, **options)
            else:
                report = importer.apply(conn, parsed, now(), **options)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for line in importer.format_report(report, dry_run=dry_run, prune=prune):
        click.echo(line)
    if made is not None:
        click.echo(f"Backup before pruning: {made}", err=True)
    if dry_run:
        click.echo("Dry run: nothing was changed.")
        return
    if write_ids:
        from pmcards.formats.markdown import write_ids as write

        for path in files:
            written = write(path)
            if written:
                click.echo(f"{path}: wrote {written} note ids")


@cli.command()
@click.argument("fmt", metavar="FORMAT", type=click.Choice(list(EXPORTS)))
@scope_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output).",
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
    output: Path | None,
    **options: Any,
) -> None:
    """Export cards: a deck file, a printable study sheet, or a progress report.

    \b
    pmcards export toml --deck "BAD vs GOOD answers" -o contrasts.toml
    pmcards export html --order weakest --on "2026-12-14 09:30" -o sheet.html
    pmcards export html --mode onepage -o morning.html
    pmcards export report -o progress.html
    """
    from pmcards.exporters import exporter
    from pmcards.files import write_atomically
    from pmcards.formats.options import ExportOptions
    from pmcards.queries import Scope

    given = {k: v for k, v in options.items() if v not in (None, False)}
    for key in given:
        if key not in EXPORTS[fmt].options:
            flag = "--" + key.replace("_", "-")
            raise click.UsageError(f"{flag} applies only to: {', '.join(takes(key))}")
    if output is None and EXPORTS[fmt].binary:
        raise click.UsageError(f"{fmt} is binary: give -o FILE")
    with collection(ctx) as store, store.read() as conn:
        scope = Scope(deck, tag)
        scope.check(conn)
        data = exporter(fmt)(conn, ExportOptions(format=fmt, scope=scope, now=now(), **given))
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    write_atomically(output, data)
    click.echo(f"Wrote {output}", err=True)
