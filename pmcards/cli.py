"""The command line: Click, input and output only; the work is done in the core modules.

Heavy modules (SQLAlchemy, FSRS, Jinja) are imported inside the commands, so `pmcards --help`
starts in milliseconds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pmcards import __version__, paths

if TYPE_CHECKING:
    from pmcards.store import Store

F = TypeVar("F", bound=Callable[..., Any])


class PmcardsGroup(click.Group):
    """Turns the project's own errors into one-line messages with exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from pmcards.errors import BadValueError, PmcardsError

        try:
            return super().invoke(ctx)
        except BadValueError as exc:
            raise click.UsageError(str(exc)) from exc
        except PmcardsError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=PmcardsGroup)
@click.version_option(__version__, prog_name="pmcards")
@click.option(
    "--db",
    envvar=paths.ENV_DB,
    metavar="URL|PATH",
    help="Collection database: a SQLAlchemy URL or a SQLite file path [env: PMCARDS_DB].",
)
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Spaced-repetition flashcards for AI/ML product-manager system-design interviews.

    Start with `pmcards review`: the built-in decks are imported on first use.
    """
    ctx.obj = {"db": db}


def _url(ctx: click.Context) -> str:
    return paths.resolve_db_url(ctx.find_root().obj["db"])


@contextmanager
def _store(
    ctx: click.Context,
    *,
    builtins: bool = True,
    checkpoint_when_idle: bool = False,
    daily_backup: bool = True,
) -> Iterator[Store]:
    """Open the collection (migrating it, backed up first), make the day's backup if none is
    under a day old, and import the built-in decks on first use."""
    from pmcards.store import Store

    url = _url(ctx)
    file = paths.sqlite_path(url)
    existed = file is not None and file.exists()
    store = Store(url, checkpoint_when_idle=checkpoint_when_idle)
    try:
        if existed and daily_backup:
            _daily_backup(store)
        if builtins:
            _first_use(store)
        yield store
    finally:
        store.close()


def _daily_backup(store: Store) -> None:
    """A failed daily backup is reported, not fatal: the command itself may only read."""
    from pmcards import backup
    from pmcards.errors import PmcardsError

    try:
        backup.daily(store)
    except PmcardsError as exc:
        click.echo(f"warning: the daily backup failed: {exc}", err=True)


def _first_use(store: Store) -> None:
    from pmcards import settings

    with store.connect() as session:
        if settings.get_raw(session, settings.BUILTIN_FLAG):
            return
    # The importer (and its formats) load only when there is something to import.
    from pmcards import importer
    from pmcards.clock import now_utc

    with store.write_connection() as conn:
        report = importer.ensure_builtin_decks(conn, now_utc())
    if report is not None and report.total("added"):
        welcome = (
            f"Welcome to pmcards: imported {report.total('added')} built-in notes "
            f"in {len(report.decks)} decks into {store.location}"
        )
        click.echo(welcome, err=True)
        # The review screen clears the terminal: it shows this again above the first card.
        click.get_current_context().find_root().obj["welcome"] = welcome


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses nan and inf (which every range check lets through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        result = super().convert(value, param, ctx)
        if not math.isfinite(result):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return result


def scope_options(f: F) -> F:
    f = click.option("--tag", metavar="TAG", help="Only notes with this tag.")(f)
    f = click.option("--deck", metavar="NAME", help="Only this deck (and its subdecks).")(f)
    return f


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Output JSON.")(f)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


# -- review -------------------------------------------------------------------------------


@cli.command()
@scope_options
@click.option(
    "--new",
    "extra_new",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="New cards allowed on top of what today's limit leaves.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many answers.")
@click.option(
    "--minutes", type=FiniteFloatRange(min=0, min_open=True), help="Stop after this many minutes."
)
@click.pass_context
def review(
    ctx: click.Context,
    deck: str | None,
    tag: str | None,
    extra_new: int,
    limit: int | None,
    minutes: float | None,
) -> None:
    """Study the cards due today.

    Space or Enter shows the answer; 1 Again, 2 Hard, 3 Good, 4 Easy (each labelled with
    the interval it gives); u undoes the last answer, s suspends, b buries until tomorrow,
    q quits. Every answer is saved before the next card appears.

    Example: pmcards review --deck "BAD vs GOOD answers" --limit 20
    """
    from pmcards import tui
    from pmcards.queue import Scope
    from pmcards.review import ReviewSession

    with _store(ctx, checkpoint_when_idle=True) as store:
        session = ReviewSession(
            store, Scope(deck, tag), extra_new=extra_new, limit=limit, minutes=minutes
        )
        tui.run(session, notice=ctx.find_root().obj.get("welcome", ""))


# -- interview plan, drill, mock, optimize ------------------------------------------------


@cli.command()
@click.option(
    "--interview",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="The interview's date: schedule so the cards are recalled on that day.",
)
@click.option(
    "--target",
    type=click.FloatRange(0.7, 0.99),
    help="Recall to reach on the day, per card (default 0.95).",
)
@click.option(
    "--deck",
    "decks",
    multiple=True,
    metavar="NAME",
    help="Plan for this deck (and its subdecks); repeat for several. Default: every deck.",
)
@click.option(
    "--max-new",
    type=click.IntRange(min=1),
    help="The most new cards a day the plan may introduce (default 50).",
)
@click.option("--clear", is_flag=True, help="End the plan now; scheduling goes back to normal.")
@json_option
@click.pass_context
def plan(
    ctx: click.Context,
    interview: Any,
    target: float | None,
    decks: tuple[str, ...],
    max_new: int | None,
    clear: bool,
    as_json: bool,
) -> None:
    """Schedule toward an interview date, and show the plan.

    Until the day, the cards of the chosen decks are scheduled so that FSRS's predicted
    recall of each one on the day reaches the target: new cards come in early enough,
    intervals are capped before the day, the daily limits make room. Without options:
    the days left, cards not yet learned, reviews per day until the day, the predicted
    recall, and a warning when the target cannot be met.

    \b
    pmcards plan --interview 2026-12-14 --target 0.95 --deck "BAD vs GOOD answers"
    pmcards plan
    pmcards plan --clear
    """
    from dataclasses import replace

    from pmcards import plan as plan_mod
    from pmcards import settings as settings_mod
    from pmcards.clock import now_utc, study_day
    from pmcards.errors import PmcardsError

    now = now_utc()
    if clear and (interview or target or decks or max_new):
        raise click.UsageError("--clear ends the plan: not with other options")
    if not interview and (target or decks or max_new):
        raise click.UsageError("--target, --deck and --max-new go with --interview DATE")
    with _store(ctx) as store:
        with store.write_connection() as conn:
            cfg = settings_mod.load(conn)
            current = plan_mod.load(conn)
            if clear:
                if current is None:
                    raise PmcardsError("there is no interview plan to clear")
                moved = 0
                if not current.released:
                    moved = plan_mod.release(conn, cfg, current, now)
                plan_mod.delete(conn)
                click.echo(
                    f"Cleared the plan for {current.interview}"
                    + (f"; {moved} cards got their FSRS due dates back." if moved else ".")
                )
                return
            if interview:
                day = interview.date()
                if day <= study_day(now, cfg.rollover_hour).date:
                    raise PmcardsError(f"the interview date {day} must be after today")
                plan_mod.check_decks(conn, decks)
                new_plan = plan_mod.Plan(
                    interview=day,
                    target=target if target is not None else plan_mod.DEFAULT_TARGET,
                    decks=decks,
                    max_new=max_new if max_new is not None else plan_mod.DEFAULT_MAX_NEW,
                )
                if current is not None and not current.released:
                    plan_mod.release(conn, cfg, current, now)
                plan_mod.save(conn, new_plan)
                moved = plan_mod.apply(conn, cfg, new_plan, now)
                if not as_json:
                    click.echo(
                        f"Planned for the interview on {day}"
                        + (f": {moved} cards now come due before it." if moved else ".")
                    )
                current = new_plan
            elif current is not None and plan_mod.release_if_passed(conn, cfg, now) is not None:
                current = replace(current, released=True)
        if current is None:
            if as_json:
                _echo_json(None)
                return
            raise PmcardsError(
                "no interview plan: set one with pmcards plan --interview YYYY-MM-DD"
            )
        with store.connect() as conn:
            st = plan_mod.status(conn, current, now)
    if as_json:
        _echo_json(st.to_json())
        return
    click.echo(plan_mod.format_status(st))


@cli.command(name="drill")
@scope_options
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many contrasts to drill.",
)
@click.pass_context
def drill_cmd(ctx: click.Context, deck: str | None, tag: str | None, count: int) -> None:
    """A fast BAD-or-GOOD drill over the contrast notes.

    One answer is shown: press b if it is BAD, g if it is GOOD; the verdict and the why
    follow. Each call is an answer to the contrast's "judge" card (a wrong call is Again,
    a right one Good), saved at once, so the drill moves the schedule. The contrasts you
    are most likely to misjudge come first, then new ones.

    Example: pmcards drill --deck "BAD vs GOOD answers" --count 5
    """
    from pmcards import drill, practice_tui
    from pmcards.errors import PmcardsError
    from pmcards.queue import Scope
    from pmcards.review import ReviewSession

    with _store(ctx, checkpoint_when_idle=True) as store:
        session = ReviewSession(store, Scope(deck, tag))
        with store.read() as db:
            items = drill.pick(db, session.settings, session.scope, session.clock(), count)
        if not items:
            raise PmcardsError('no contrast notes to drill here (kind = "contrast")')
        practice_tui.run_drill(session, items)


@cli.command()
@click.option(
    "--prompt", "prompt_id", metavar="ID", help="The prompt note's id (default: next due)."
)
@click.option(
    "--minutes",
    default="5,10,5",
    show_default=True,
    metavar="F,S,T",
    help="Minutes of framing, sketch and trade-offs.",
)
@scope_options
@click.pass_context
def mock(
    ctx: click.Context, prompt_id: str | None, minutes: str, deck: str | None, tag: str | None
) -> None:
    """A timed mock interview on a design prompt.

    The phases run on a visible clock (framing, sketch, trade-offs; Space moves on), then
    you tick the rubric points you made (digit keys, Enter). The share covered rates the
    prompt's card (under half Again, under 80% Hard, under all Good, all Easy); missed
    points are kept (pmcards stats) and make the matching cards due now.

    \b
    pmcards mock
    pmcards mock --prompt mock-fraud --minutes 3,6,3
    """
    from pmcards import mock as mock_mod
    from pmcards import practice_tui
    from pmcards.queue import Scope
    from pmcards.review import ReviewSession

    phases = mock_mod.parse_minutes(minutes)
    with _store(ctx, checkpoint_when_idle=True) as store:
        session = ReviewSession(store, Scope(deck, tag))
        with store.read() as db:
            prompt = mock_mod.pick(db, session.scope, session.clock(), prompt_id)
        practice_tui.run_mock(session, prompt, phases)


@cli.command()
@click.option("--apply", "apply_", is_flag=True, help="Save the new parameters and reschedule.")
@click.option(
    "--set-retention/--keep-retention",
    default=None,
    help="With --apply: also set the recommended desired retention, or keep yours, "
    "without asking (--json never asks, and keeps it unless --set-retention).",
)
@json_option
@click.pass_context
def optimize(ctx: click.Context, apply_: bool, set_retention: bool | None, as_json: bool) -> None:
    """Fit the FSRS parameters to your own review log, as Anki does.

    Shows the current and fitted parameters, how well each predicts your answers (log loss
    and RMSE, as Anki's evaluator computes them), and the desired retention that costs
    least study time per card remembered, with the expected workload at yours and at it.
    --apply saves the parameters, offers the recommended retention, and reschedules every
    studied card as if they had always been used.

    Example:

        pmcards optimize --apply --keep-retention
    """
    from pmcards import optimize as opt
    from pmcards.clock import now_utc

    now = now_utc()
    with _store(ctx) as store:
        with store.connect() as conn:
            result = opt.fit(conn, now)
        if not as_json:
            click.echo(opt.format_result(result))
        if apply_:
            recommended = result.recommended_retention
            offer = recommended is not None and recommended != result.desired_retention
            if offer and set_retention is None and not as_json:
                set_retention = click.confirm(
                    f"Set desired retention to {recommended:.2f} too?", default=False
                )
            retention = recommended if offer and set_retention else None
            with store.write_connection() as conn:
                result.rescheduled = opt.apply(conn, result, now, retention)
    if as_json:
        _echo_json(result.to_json())
        return
    click.echo(opt.format_applied(result))


# -- status, decks, cards -----------------------------------------------------------------


@cli.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Today's new / learning / review counts per deck, and the next 7 days."""
    from pmcards import reports

    with _store(ctx) as store, store.connect() as session:
        data = reports.status(session)
    if as_json:
        _echo_json(data)
        return
    click.echo(reports.format_status(data))


@cli.command()
@json_option
@click.pass_context
def decks(ctx: click.Context, as_json: bool) -> None:
    """List the decks with their note and card counts."""
    from pmcards import reports

    with _store(ctx) as store, store.connect() as session:
        data = reports.decks(session)
    if as_json:
        _echo_json(data)
        return
    click.echo(reports.format_decks(data))


@cli.command()
@scope_options
@click.option(
    "--state",
    type=click.Choice(["new", "learning", "review", "relearning", "suspended", "buried"]),
    help="Only cards in this state.",
)
@json_option
@click.pass_context
def cards(
    ctx: click.Context, deck: str | None, tag: str | None, state: str | None, as_json: bool
) -> None:
    """List cards with their note's text and FSRS state."""
    from pmcards import reports
    from pmcards.queue import Scope

    with _store(ctx) as store, store.connect() as session:
        scope = Scope(deck, tag)
        scope.check(session)
        data = reports.cards(session, scope, state)
    if as_json:
        _echo_json(data)
        return
    click.echo(reports.format_cards(data))


@cli.command()
@json_option
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Progress: cards by state, reviews per day, true retention by week, the 30-day
    forecast, time spent, leeches and the weakest cards.

    `pmcards export report -o progress.html` draws the same figures as charts.
    """
    from pmcards import stats as stats_mod
    from pmcards.clock import now_utc

    with _store(ctx) as store, store.connect() as session:
        data = stats_mod.compute(session, now_utc())
    if as_json:
        _echo_json(data)
        return
    click.echo(stats_mod.format_text(data))


# -- import -------------------------------------------------------------------------------


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
    type=click.Choice(["auto", "toml", "md", "csv", "tsv", "apkg"]),
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
    import sys

    from pmcards import formats, importer
    from pmcards.clock import now_utc

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
    decks_parsed = importer.parse_files(list(files), fmt, deck, stream=True)
    if prune and not dry_run:
        importer.validate(decks_parsed)  # no backup, and no pruning, for a bad file
    total = importer.note_count(decks_parsed)
    show_bar = total > 1000 and sys.stderr.isatty()
    with _store(ctx) as store:
        made: object = None  # the backup before pruning: a path, or a server backup
        if prune and not dry_run:
            from pmcards import backup

            if backup.supported(store):
                made = backup.automatic(store, "prune")
            elif store.dialect == "postgresql":
                made = backup.server_backup(store, backup.backups_dir(store), reason="prune")
            else:
                click.echo(
                    f"warning: no backup before pruning: {backup.unsupported_message(store)}",
                    err=True,
                )
        # A dry run writes nothing, so it reads without taking the write lock.
        transaction = store.connect() if dry_run else store.write_connection()
        with transaction as conn:
            if show_bar:
                with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
                    report = importer.apply(
                        conn,
                        decks_parsed,
                        now_utc(),
                        dry_run=dry_run,
                        prune=prune,
                        progress=bar.update,
                    )
            else:
                report = importer.apply(conn, decks_parsed, now_utc(), dry_run=dry_run, prune=prune)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    verb = "would be" if dry_run else ""
    for result in report.decks:
        click.echo(
            f"{result.path}: deck {result.deck!r}: {len(result.added)} added, "
            f"{len(result.updated)} updated, "
            f"{len(result.unchanged)} unchanged, {len(result.missing)} missing"
            + (f" ({verb} so)" if verb else "")
        )
        for notice in result.notices:
            click.echo(f"  {notice}")
        if result.missing:
            shown = ", ".join(result.missing[:10]) + (" …" if len(result.missing) > 10 else "")
            fate = "deleted" if prune else "kept"
            if prune and dry_run:
                fate = "would be deleted"
            click.echo(f"  in the collection but not in the file ({fate}): {shown}")
    if report.reviews_imported:
        click.echo(f"Carried over {report.reviews_imported} reviews of history.")
    if report.media_written:
        click.echo(f"Copied {report.media_written} media files.")
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


# -- export -------------------------------------------------------------------------------


def _export_formats() -> list[str]:
    # Kept in sync with pmcards.exporters.EXPORTERS without importing it (and SQLAlchemy).
    return ["toml", "md", "csv", "tsv", "apkg", "html", "report"]


@cli.command()
@click.argument("fmt", metavar="FORMAT", type=click.Choice(_export_formats()))
@scope_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output).",
)
@click.option(
    "--order",
    type=click.Choice(["weakest", "deck", "due"]),
    help="html: weakest (lowest predicted recall on --on first), deck, or due.",
)
@click.option(
    "--on",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="html: the day to predict recall for, e.g. your interview (default: today).",
)
@click.option(
    "--mode",
    type=click.Choice(["full", "compact", "quiz"]),
    help="html: full sheet, compact cheat sheet, or quiz (answers hidden).",
)
@click.option("--paper", type=click.Choice(["a4", "letter"]), help="html: paper size.")
@click.option(
    "--template",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="html, report: render with your own templates from this folder.",
)
@click.option("--with-history", is_flag=True, help="apkg: include scheduling and review history.")
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
    pmcards export html --order weakest --on 2026-12-14 -o sheet.html
    pmcards export report -o progress.html
    """
    from pmcards.exporters import FORMAT_OPTIONS, ExportOptions, exporter
    from pmcards.queue import Scope

    given = {k: v for k, v in options.items() if v not in (None, False)}
    for key in given:
        if fmt not in FORMAT_OPTIONS[key]:
            flag = "--" + key.replace("_", "-")
            raise click.UsageError(
                f"{flag} applies only to: {', '.join(sorted(FORMAT_OPTIONS[key]))}"
            )
    if "on" in given:
        given["on"] = given["on"].date()
    with _store(ctx) as store, store.read() as session:
        scope = Scope(deck, tag)
        scope.check(session)
        data = exporter(fmt)(session, ExportOptions(scope=scope, **given))
    if output is None:
        if fmt == "apkg":
            raise click.UsageError("an .apkg is binary: give -o FILE")
        click.echo(data.decode("utf-8"), nl=False)
        return
    _write_atomically(output, data)
    click.echo(f"Wrote {output}", err=True)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    import os
    import tempfile

    from pmcards.errors import PmcardsError

    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
        # mkstemp makes the file private; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if "tmp" in locals() and os.path.exists(tmp):
            os.unlink(tmp)
        raise PmcardsError(f"cannot write {path}: {exc.strerror}") from exc


# -- config -------------------------------------------------------------------------------


@cli.command()
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--reset", is_flag=True, help="Set KEY back to its default.")
@json_option
@click.pass_context
def config(
    ctx: click.Context, key: str | None, value: str | None, reset: bool, as_json: bool
) -> None:
    """Show or change the collection's settings.

    \b
    pmcards config                      all settings
    pmcards config new_per_day          one setting
    pmcards config new_per_day 30       change it (validated)
    pmcards config new_per_day --reset  back to the default
    """
    from dataclasses import asdict

    from pmcards import settings
    from pmcards.errors import SettingError

    if key is not None:
        try:
            settings.check_key(key)
        except SettingError as exc:
            raise click.UsageError(str(exc)) from None
    if value is not None and reset:
        raise click.UsageError("give either a VALUE or --reset, not both")
    if value is not None:
        try:
            parsed = settings.parse(key or "", value)
        except SettingError as exc:
            raise click.BadParameter(str(exc), param_hint=repr(key)) from None
    with _store(ctx, builtins=False) as store:
        if key is not None and (value is not None or reset):
            with store.write() as session:
                if reset:
                    settings.reset(session, key)
                else:
                    settings.save(session, key, parsed)
        with store.connect() as session:
            current = settings.load(session)
    values = asdict(current)
    values["parameters"] = current.fsrs_parameters()
    if key is not None:
        values = {key: values[key]}
    if as_json:
        _echo_json({k: list(v) if isinstance(v, tuple) else v for k, v in values.items()})
        return
    if key is not None and value is None and not reset:
        click.echo(settings.format_value(values[key]))
        return
    for k, v in values.items():
        click.echo(f"{k} = {settings.format_value(v)}")
        if key is None:
            click.echo(click.style(f"    {settings.HELP[k]}", dim=True))


# -- backups and checks ---------------------------------------------------------------------


@cli.command(name="backup")
@click.option(
    "--to",
    "to",
    type=click.Path(path_type=Path),
    help="Write the backup to this file, or into this existing folder, instead of the backups "
    "folder (PostgreSQL: a .dump file for pg_dump, a .sqlite3 file for a copy, or a folder).",
)
@click.pass_context
def backup_cmd(ctx: click.Context, to: Path | None) -> None:
    """Back up the collection now, consistently even while it is in use.

    SQLite: SQLite's online backup; without --to it goes to the backups folder and counts
    toward `backups_keep`. PostgreSQL: pg_dump (custom format) when installed, else a SQLite
    copy made by pmcards (restore it with `pmcards db copy`); the output says which.

    \b
    pmcards backup
    pmcards backup --to ~/Dropbox/pmcards.sqlite3
    """
    from pmcards import backup

    with _store(ctx, builtins=False, daily_backup=False) as store:
        if store.dialect == "postgresql":
            made = backup.server_backup(store, to or backup.backups_dir(store))
            click.echo(f"Backed up {store.location} to {made}")
            return
        if not backup.supported(store):
            raise click.ClickException(backup.unsupported_message(store))
        if to is not None and to.is_dir():  # a timestamped file in that folder
            path = backup.backup(store, to)
        elif to is not None:
            path = backup.backup_to_file(store, to)
        else:
            automatic = backup.automatic(store, "manual")
            assert automatic is not None
            path = automatic
    click.echo(f"Backed up {store.location} to {path}")


def _require_sqlite_file(ctx: click.Context) -> None:
    """Listing and restoring backups are SQLite's: a server database has its own tools."""
    from pmcards import backup

    message = backup.unsupported_url_message(_url(ctx))
    if message is not None:
        raise click.ClickException(message)


@cli.command(name="backups")
@json_option
@click.pass_context
def backups_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the automatic and manual backups of the collection, oldest first."""
    from pmcards import backup
    from pmcards.store import Store

    _require_sqlite_file(ctx)
    store = Store(_url(ctx), migrate=False)
    try:
        folder = backup.backups_dir(store)
    finally:
        store.close()
    found = backup.list_backups(folder)
    if as_json:
        _echo_json(
            {
                "folder": str(folder),
                "backups": [
                    {
                        "path": str(b.path),
                        "created": b.created.isoformat(),
                        "size": b.size,
                        "reason": b.reason,
                    }
                    for b in found
                ],
            }
        )
        return
    if not found:
        click.echo(f"No backups yet in {folder}.")
        return
    for b in found:
        local = b.created.astimezone()
        click.echo(f"{local:%Y-%m-%d %H:%M:%S}  {b.reason:<9} {b.size / 1024:9.0f} KB  {b.path}")


@cli.command(name="restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def restore_cmd(ctx: click.Context, file: Path, yes: bool) -> None:
    """Replace the collection with a backup FILE.

    FILE must be a pmcards collection of this version or an older one (checked before
    anything changes). The current collection is backed up first, and the restore is one
    transaction: other pmcards processes see the old collection or the restored one.
    """
    from pmcards import backup

    _require_sqlite_file(ctx)
    backup.verify(file)
    with _store(ctx, builtins=False, daily_backup=False) as store:
        if not yes:
            click.confirm(
                f"Replace the collection at {store.location} with {file}? "
                "(the current one is backed up first)",
                abort=True,
            )
        safety = backup.restore(store, file)
    click.echo(f"Restored {file} into {store.location}.")
    click.echo(f"The collection as it was before: {safety}")


@cli.command(name="check")
@click.option("--repair", is_flag=True, help="Repair what is safe to repair (asks first).")
@click.option("--yes", "-y", is_flag=True, help="With --repair: do not ask for confirmation.")
@json_option
@click.pass_context
def check_cmd(ctx: click.Context, repair: bool, yes: bool, as_json: bool) -> None:
    """Check the collection: the database file, foreign keys, every card's FSRS state
    (valid, and the same as its last answer in the review log), orphans, burials, settings.

    With --repair, the safe repairs are made after a backup; the rest is reported. Exits
    with status 1 while problems remain.
    """
    from pmcards import backup
    from pmcards import check as check_mod
    from pmcards.clock import now_utc

    if yes and not repair:
        raise click.UsageError("--yes applies only with --repair")
    with _store(ctx, builtins=False) as store:
        with store.connect() as conn:
            report = check_mod.run(conn, store.location, now_utc())
        fixable = report.repairable
        repaired: list[check_mod.Problem] = []
        if repair and fixable:
            if not yes and not as_json:
                _print_check(report)
            if yes or click.confirm(
                f"Repair {len(fixable)} problem(s)? The collection is backed up first.",
                err=True,
            ):
                saved = backup.automatic(store, "repair")
                if saved is not None and not as_json:
                    click.echo(f"Backup before repairing: {saved}", err=True)
                with store.write_connection() as conn:
                    repaired = check_mod.repair(conn, fixable)
                with store.connect() as conn:
                    after = check_mod.run(conn, store.location, now_utc())
            else:
                after = report
        else:
            after = report
    if as_json:
        data = report.as_dict()
        data["repaired"] = [p.as_dict() for p in repaired]
        data["remaining"] = [p.as_dict() for p in after.problems]
        _echo_json(data)
    else:
        if not (repair and fixable and not yes):
            _print_check(report)
        if repaired:
            click.echo(f"Repaired {len(repaired)} problem(s).")
        if after.problems:
            left = len(after.problems)
            hint = "" if repair or not after.repairable else " (pmcards check --repair)"
            click.echo(f"{left} problem(s) remain{hint}.")
        else:
            click.echo("No problems found." if not repaired else "The collection is now sound.")
    if after.problems:
        ctx.exit(1)


def _print_check(report: Any) -> None:
    click.echo(
        f"Checked {report.location}: {report.cards} cards, {report.reviews} reviews, "
        f"{len(report.problems)} problem(s)."
    )
    for problem in report.problems:
        fix = f" → can repair: {problem.repair}" if problem.fix is not None else " → cannot repair"
        click.echo(f"  {problem.message}{fix}")


# -- db -----------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """The collection database."""


@db.command(name="path")
@click.pass_context
def db_path(ctx: click.Context) -> None:
    """Print where the collection lives."""
    click.echo(paths.describe(_url(ctx)))


@db.command(name="version")
@click.pass_context
def db_version(ctx: click.Context) -> None:
    """Print the collection's schema version."""
    from pmcards import migrations

    with _store(ctx, builtins=False) as store, store.engine.connect() as conn:
        done = migrations.applied(conn)
    click.echo(f"schema version {len(done)} (this pmcards: {migrations.SCHEMA_VERSION})")


@db.command(name="copy")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL|PATH",
    help="The collection to copy into: a SQLAlchemy URL or a SQLite file path.",
)
@click.option("--force", is_flag=True, help="Replace what the target holds.")
@click.pass_context
def db_copy(ctx: click.Context, target: str, force: bool) -> None:
    """Copy the whole collection, history included, into another database.

    Decks, notes, cards, the review log and the settings are copied with their ids, in one
    transaction, then checked: each table's row count and checksum must match the source's,
    or nothing is copied. A target that already holds a collection is refused without
    --force.

    \b
    pmcards db copy --to postgresql+psycopg://me@db.example.com/pmcards
    pmcards --db postgresql+psycopg://me@db.example.com/pmcards db copy --to laptop.sqlite3
    """
    from pmcards import transfer
    from pmcards.store import Store

    url = paths.resolve_db_url(target)
    with _store(ctx, builtins=False) as source:
        if url == source.url:
            raise click.UsageError("--to names the collection being copied")
        destination = Store(url)
        try:
            total = transfer.total_rows(source)
            show_bar = total > 20_000 and sys.stderr.isatty()
            if show_bar:
                with click.progressbar(length=total, label="Copying", file=sys.stderr) as bar:
                    summary = transfer.copy(source, destination, force=force, progress=bar.update)
            else:
                summary = transfer.copy(source, destination, force=force)
        finally:
            destination.close()
    click.echo(f"Copied {source.location} to {destination.location}:")
    for table in summary:
        click.echo(f"  {table.name:<11} {table.rows:>8} rows  sha256 {table.checksum[:16]}  ok")
    click.echo("Every table's row count and checksum match the source.")


def main() -> None:
    """The console script: run the command, then leave without interpreter teardown.

    Freeing SQLAlchemy's thousands of objects at exit costs about 50 ms on every command,
    longer than some commands take. By the time `cli` returns, every command has committed
    and closed its database (each opens it in a `with` block), so the only work left is
    flushing output; then `os._exit` ends the process. Errors that escape as exceptions
    (bugs) still unwind normally and print their traceback.
    """
    import os

    try:
        cli(prog_name="pmcards")
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        # The reader went away (`pmcards cards | head`): not an error of ours.
        code = code or 0
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
