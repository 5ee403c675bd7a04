"""Notes and decks by hand: add, edit, rm; deck rename, rm, move."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pmcards.cli.base import cli, collection, complete_decks, now

if TYPE_CHECKING:
    from pmcards.formats.parsed import ParsedNote

# The options `add` takes for a note's fields: every field of every kind (a test checks
# that this is the kinds' registry), so a note of any kind can be added in one line.
FIELD_OPTIONS = (
    "front",
    "back",
    "not",
    "but",
    "situation",
    "bad",
    "good",
    "text",
    "prompt",
    "rubric",
    "why",
)


def _with_fields(f: Any) -> Any:
    for name in reversed(FIELD_OPTIONS):
        f = click.option(f"--{name}", metavar="TEXT", help=f"The note's {name} field.")(f)
    return f


def _edit_until_valid(text: str, where: str) -> ParsedNote | None:
    """Open the editor on `text` until what is saved is a valid note (an error shows at the
    top, as a comment); None when the user saves nothing or leaves it unchanged."""
    import tomli

    from pmcards import notes
    from pmcards.errors import PmcardsError

    original = text
    while True:
        edited = click.edit(text, extension=".toml", require_save=True)
        if edited is None:
            return None
        body = "\n".join(line for line in edited.splitlines() if not line.startswith("# !"))
        if not body.strip() or body.strip() == original.strip():
            return None  # an empty file, or the note as it was: nothing to save
        try:
            return notes.parse(tomli.loads(body), where)
        except tomli.TOMLDecodeError as exc:
            problem = f"invalid TOML: {exc}"
        except PmcardsError as exc:
            problem = exc.message
        click.echo(f"{where}: {problem}", err=True)
        note = f"# ! {' '.join(problem.split())}\n# ! Fix it and save, or save an empty file."
        text = f"{note}\n{body}\n"


@cli.command()
@click.option(
    "--deck",
    required=True,
    metavar="NAME",
    help="The deck (made if it is new).",
    shell_complete=complete_decks,
)
@click.option(
    "--kind",
    default="qa",
    show_default=True,
    metavar="KIND",
    help="qa, qa_reversed, reframe, contrast, cloze or prompt.",
)
@_with_fields
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="A tag; repeat for several.")
@click.option("--section", default="", metavar="TEXT", help="The section it belongs to.")
@click.option("--id", "guid", metavar="ID", help="The note's id (default: a new one).")
@click.option(
    "--new-deck",
    is_flag=True,
    help="Make the deck even when its name is close to an existing deck's.",
)
@click.pass_context
def add(
    ctx: click.Context,
    /,
    deck: str,
    kind: str,
    tags: tuple[str, ...],
    section: str,
    guid: str | None,
    new_deck: bool,
    **fields: str | None,
) -> None:
    """Add a note, and print its id. Without fields, your editor ($VISUAL or $EDITOR)
    opens on the note in TOML, as a deck file writes it; it is checked when you save.

    \b
    pmcards add --deck Mine --front "What does SRM stand for?" \\
        --back "Sample-ratio mismatch" --why "An uneven split means a broken experiment."
    pmcards add --deck Mine --kind contrast
    """
    from pmcards import notes

    moment = now()
    given = {k: v for k, v in fields.items() if v is not None}
    with collection(ctx) as store:
        with store.read() as conn:
            guid = guid or notes.new_id(conn)
        note: ParsedNote | None
        if given:
            raw: dict[str, Any] = {"id": guid, "kind": kind, "tags": list(tags), **given}
            if section:
                raw["section"] = section
            note = notes.parse(raw, "pmcards add")
        else:
            note = _edit_until_valid(notes.template(kind, guid, deck), "pmcards add")
        if note is None:
            click.echo("Nothing added.")
            return
        with store.write() as conn:
            name = notes.add(conn, deck, note, moment, new_deck=new_deck)
    click.echo(note.guid)
    click.echo(f"Added to {name!r}.", err=True)


@cli.command()
@click.argument("guid", metavar="NOTE_ID")
@click.pass_context
def edit(ctx: click.Context, guid: str) -> None:
    """Edit a note in your editor ($VISUAL or $EDITOR), as TOML. Its cards keep their
    history; a mistake reopens the editor with the error at the top.

    Example: pmcards edit con-013
    """
    from pmcards import notes

    with collection(ctx) as store:
        with store.read() as conn:
            current, _ = notes.find(conn, guid)
        note = _edit_until_valid(notes.to_toml(current), f"note {guid}")
        if note is None:
            click.echo("Nothing changed.")
            return
        with store.write() as conn:
            changed = notes.edit(conn, guid, note, now())
    click.echo(f"Saved {guid}." if changed else "Nothing changed.")


@cli.command(name="rm")
@click.argument("guids", nargs=-1, required=True, metavar="NOTE_ID...")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rm_cmd(ctx: click.Context, guids: tuple[str, ...], yes: bool) -> None:
    """Delete notes with their cards and history, after a backup.

    Example: pmcards rm fund-021 fund-022
    """
    from pmcards import backup, notes

    with collection(ctx) as store:
        with store.read() as conn:
            for guid in guids:
                notes.find(conn, guid)  # every id exists, before anything is asked
        if not yes:
            click.confirm(f"Delete {len(set(guids))} note(s) and their review history?", abort=True)
        made = backup.before(store, "rm")
        with store.write() as conn:
            gone = notes.remove(conn, guids)
    click.echo(f"Deleted {gone} note(s).")
    if made is not None:
        click.echo(f"Backup before deleting: {made}", err=True)


@cli.group()
def deck() -> None:
    """Rename, delete, or move notes between decks."""


@deck.command(name="rename")
@click.argument("old", shell_complete=complete_decks)
@click.argument("new")
@click.pass_context
def deck_rename(ctx: click.Context, old: str, new: str) -> None:
    """Rename a deck; its subdecks follow and every card keeps its history.

    Example: pmcards deck rename "BAD vs GOOD answers" "Contrasts"
    """
    from pmcards import decks

    with collection(ctx) as store, store.write() as conn:
        name, new_name, count = decks.rename(conn, old, new)
    if not count:
        click.echo(f"{name!r} already has that name.")
        return
    click.echo(f"Renamed {name!r} to {new_name!r} ({count} deck{'s' if count != 1 else ''}).")


@deck.command(name="rm")
@click.argument("name", shell_complete=complete_decks)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def deck_rm(ctx: click.Context, name: str, yes: bool) -> None:
    """Delete a deck, its subdecks, their notes and history, after a backup.

    Example: pmcards deck rm "Old deck"
    """
    from pmcards import backup, decks, queries

    with collection(ctx) as store:
        with store.read() as conn:
            name = queries.resolve_deck(conn, name)
        if not yes:
            click.confirm(f"Delete the deck {name!r} with its notes and history?", abort=True)
        made = backup.before(store, "rm")
        with store.write() as conn:
            name, count, gone = decks.remove(conn, name, now())
    click.echo(f"Deleted {name!r}: {count} deck(s), {gone} note(s).")
    if made is not None:
        click.echo(f"Backup before deleting: {made}", err=True)


@deck.command(name="move")
@click.argument("guids", nargs=-1, required=True, metavar="NOTE_ID...")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="NAME",
    help="The deck (made if it is new).",
    shell_complete=complete_decks,
)
@click.option(
    "--new-deck",
    is_flag=True,
    help="Make the deck even when its name is close to an existing deck's.",
)
@click.pass_context
def deck_move(ctx: click.Context, guids: tuple[str, ...], to: str, new_deck: bool) -> None:
    """Move notes, with their cards and history, to another deck.

    Example: pmcards deck move fund-021 fund-022 --to "Metrics"
    """
    from pmcards import notes

    with collection(ctx) as store, store.write() as conn:
        name, moved = notes.move(conn, guids, to, now(), new_deck=new_deck)
    click.echo(f"Moved {moved} note(s) to {name!r}.")
