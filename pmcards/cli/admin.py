"""Looking after the collection: settings, backups, restores, checks, the database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pmcards import paths
from pmcards.cli.base import cli, collection, complete_settings, echo_json, json_option, now, url


@cli.command()
@click.argument("key", required=False, shell_complete=complete_settings)
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
    with collection(ctx, builtins=False) as store:
        if key is not None and (value is not None or reset):
            with store.write() as conn:
                if reset:
                    settings.reset(conn, key)
                else:
                    settings.save(conn, key, parsed)
        with store.read() as conn:
            current = settings.load(conn)
    values = asdict(current)
    values["parameters"] = current.fsrs_parameters()
    if key is not None:
        values = {key: values[key]}
    if as_json:
        echo_json({k: list(v) if isinstance(v, tuple) else v for k, v in values.items()})
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

    with collection(ctx, builtins=False, daily_backup=False) as store:
        made = backup.on_request(store, to)
    click.echo(f"Backed up {store.location} to {made}")


def _require_sqlite_file(ctx: click.Context) -> None:
    """Listing and restoring backups are SQLite's: a server database has its own tools."""
    from pmcards import backup

    message = backup.unsupported_url_message(url(ctx))
    if message is not None:
        raise click.ClickException(message)


@cli.command(name="backups")
@json_option
@click.pass_context
def backups_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the automatic and manual backups of the collection, oldest first."""
    from pmcards import backup

    _require_sqlite_file(ctx)
    folder = paths.backups_dir(url(ctx))
    found = backup.list_backups(folder)
    if as_json:
        echo_json({"folder": str(folder), "backups": [b.to_json() for b in found]})
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
    with collection(ctx, builtins=False, daily_backup=False) as store:
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
    from pmcards import check

    if yes and not repair:
        raise click.UsageError("--yes applies only with --repair")
    with collection(ctx, builtins=False) as store:
        with store.read() as conn:
            report = check.run(conn, store.location, now())
        fixable = report.repairable
        done = None
        if repair and fixable:
            if not yes and not as_json:
                _print_check(report)
            if yes or click.confirm(
                f"Repair {len(fixable)} problem(s)? The collection is backed up first.",
                err=True,
            ):
                done = check.repair_collection(store, report, now())
                if done.backup is not None and not as_json:
                    click.echo(f"Backup before repairing: {done.backup}", err=True)
    after = done.after if done is not None else report
    repaired = done.repaired if done is not None else []
    if as_json:
        data = report.as_dict()
        data["repaired"] = [p.as_dict() for p in repaired]
        data["remaining"] = [p.as_dict() for p in after.problems]
        echo_json(data)
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
@click.option("--all", "every", is_flag=True, help="Also its media and backups folders.")
@click.pass_context
def db_path(ctx: click.Context, every: bool) -> None:
    """Print where the collection lives (with --all, where its media and backups go)."""
    where = url(ctx)
    click.echo(paths.describe(where))
    if every:
        click.echo(f"media:   {paths.media_dir(where)}")
        click.echo(f"backups: {paths.backups_dir(where)}")


@db.command(name="version")
@click.pass_context
def db_version(ctx: click.Context) -> None:
    """Print the collection's schema version."""
    from pmcards import migrations

    with collection(ctx, builtins=False) as store, store.engine.connect() as conn:
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

    destination_url = paths.resolve_db_url(target)
    with collection(ctx, builtins=False) as source:
        if destination_url == source.url:
            raise click.UsageError("--to names the collection being copied")
        destination = Store(destination_url)
        try:
            total = transfer.total_rows(source)
            if total > 20_000 and sys.stderr.isatty():
                with click.progressbar(length=total, label="Copying", file=sys.stderr) as bar:
                    summary = transfer.copy(source, destination, force=force, progress=bar.update)
            else:
                summary = transfer.copy(source, destination, force=force)
        finally:
            destination.close()
    click.echo(f"Copied {source.location} to {destination.location}:")
    for table in summary:
        click.echo(f"  {table.name:<14} {table.rows:>8} rows  sha256 {table.checksum[:16]}  ok")
    click.echo("Every table's row count and checksum match the source.")
