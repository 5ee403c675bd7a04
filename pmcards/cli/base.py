"""The CLI's frame: the group, the error mapping, the options commands share, and opening
the collection for a command.

Heavy modules (SQLAlchemy, FSRS, Jinja) are imported inside the commands, so `pmcards
--help` starts in milliseconds: this package imports only Click and the light registries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pmcards import __version__, paths

if TYPE_CHECKING:
    from datetime import datetime

    from pmcards.store import Store

F = TypeVar("F", bound=Callable[..., Any])

# Set by the console script (`main`) when it turns the garbage collector off for start-up.
_gc_deferred = False


def defer_gc() -> None:
    """Turn the cyclic garbage collector off until the collection is open.

    Importing SQLAlchemy and the core makes some 50,000 objects, none of them garbage, and
    the collector's passes over them were about a tenth of `pmcards status`. `collection`
    turns it back on once the imports are done, after `gc.freeze()` has moved what they made
    out of its sight, so a long review session's collections stay short too. Only the
    console script calls this: a test process keeps Python's defaults.
    """
    import gc

    global _gc_deferred
    gc.disable()
    _gc_deferred = True


def _resume_gc() -> None:
    global _gc_deferred
    if _gc_deferred:
        import gc

        gc.freeze()
        gc.enable()
        _gc_deferred = False


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


def url(ctx: click.Context) -> str:
    """The collection's URL, from --db, PMCARDS_DB or the data directory."""
    return paths.resolve_db_url(ctx.find_root().obj["db"])


def now() -> datetime:
    """The one place the CLI reads the clock (PMCARDS_NOW pins it)."""
    from pmcards.clock import now_utc

    return now_utc()


# Fixes the draw of the side each judge card shows (review, drill), for tests and scripted
# sessions; unset, the draw is seeded by the operating system and cannot be predicted.
ENV_SEED = "PMCARDS_SEED"


def seed() -> int | None:
    """The seed of a study session's draws: PMCARDS_SEED if set, else None (unpredictable)."""
    import os

    from pmcards.errors import BadValueError

    value = os.environ.get(ENV_SEED, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadValueError(f"{ENV_SEED} must be a whole number, got {value!r}") from None


@contextmanager
def collection(
    ctx: click.Context,
    *,
    builtins: bool = True,
    checkpoint_when_idle: bool = False,
    daily_backup: bool = True,
) -> Iterator[Store]:
    """Open the collection for this command (see `collection.opened`), printing what opening
    it did: a failed daily backup as a warning, the built-in decks' welcome."""
    from pmcards.collection import opened

    with opened(
        url(ctx),
        now(),
        builtins=builtins,
        daily_backup=daily_backup,
        checkpoint_when_idle=checkpoint_when_idle,
    ) as result:
        _resume_gc()
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        if result.welcome:
            click.echo(result.welcome, err=True)
            # The review screen clears the terminal: it shows this again above the first card.
            ctx.find_root().obj["welcome"] = result.welcome
        yield result.store


class RegistryChoice(click.Choice[str]):
    """A choice among a registry's names (formats, exports, card states), read from the
    registry the first time the choices are needed: `pmcards --help` never loads it."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._names: tuple[str, ...] | None = None
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._names is None:
            self._names = tuple(self._load())
        return self._names


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses nan and inf (which every range check lets through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        result = super().convert(value, param, ctx)
        if not math.isfinite(result):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return result


# -- shell completion: names read from the collection, and nothing when it cannot be read ----


def _names(ctx: click.Context, read: Callable[[Any], Iterable[str]], incomplete: str) -> list[str]:
    try:
        from pmcards.store import Store

        root = ctx.find_root()
        store = Store(paths.resolve_db_url(root.params.get("db")), migrate=False)
        try:
            with store.read() as conn:
                names = sorted(set(read(conn)))
        finally:
            store.close()
    except Exception:
        return []
    folded = incomplete.casefold()
    return [name for name in names if name.casefold().startswith(folded)]


def complete_decks(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from pmcards import schema

    return _names(
        ctx,
        lambda conn: conn.scalars(schema.decks.select().with_only_columns(schema.decks.c.name)),
        incomplete,
    )


def complete_tags(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from pmcards import schema

    def read(conn: Any) -> Iterable[str]:
        rows = conn.scalars(schema.notes.select().with_only_columns(schema.notes.c.tags))
        return (tag for text in rows for tag in text.split())

    return _names(ctx, read, incomplete)


def complete_prompts(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from pmcards import schema
    from pmcards.kinds import PROMPT

    notes = schema.notes
    return _names(
        ctx,
        lambda conn: conn.scalars(
            notes.select().with_only_columns(notes.c.guid).where(notes.c.kind == PROMPT.name)
        ),
        incomplete,
    )


def complete_settings(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from pmcards.settings import KEYS

    return [key for key in KEYS if key.startswith(incomplete)]


def scope_options(f: F) -> F:
    f = click.option(
        "--tag", metavar="TAG", help="Only notes with this tag.", shell_complete=complete_tags
    )(f)
    f = click.option(
        "--deck",
        metavar="NAME",
        help="Only this deck (and its subdecks); any case, or the start of its name.",
        shell_complete=complete_decks,
    )(f)
    return f


def card_filters() -> list[str]:
    """What `--state` filters by (read from the card states when first needed)."""
    from pmcards.queries import CARD_FILTERS

    return list(CARD_FILTERS)


def filter_options(f: F) -> F:
    """--deck and --tag, and --state and --search: the cards a listing or an action takes."""
    f = click.option(
        "--search",
        metavar="TEXT",
        help="Only notes with every word of TEXT in a field, tag or section (any case, any "
        "accents).",
    )(f)
    f = click.option(
        "--state", type=RegistryChoice(card_filters), help="Only cards in this state."
    )(f)
    return scope_options(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Output JSON.")(f)


def echo_json(value: Any) -> None:
    """A JSON document on standard output: UTF-8 text, but nothing a terminal acts on."""
    from pmcards.markup import safe_json

    click.echo(safe_json(json.dumps(value, indent=2, ensure_ascii=False)))


def echo_json_array(items: Iterable[Any], per_write: int = 1000) -> None:
    """`echo_json` of a list, written as its items come (a long listing is never held
    whole): the same text as `echo_json(list(items))`."""
    _echo_json_list("", items, 1, "\n", per_write)


def echo_json_fields(
    head: dict[str, Any], key: str, items: Iterable[Any], per_write: int = 1000
) -> None:
    """`echo_json` of an object whose last member is a long list, the list written as its
    items come: the same text as `echo_json({**head, key: list(items)})`."""
    text = json.dumps({**head, key: []}, indent=2, ensure_ascii=False)
    assert text.endswith("[]\n}")
    _echo_json_list(text[: -len("[]\n}")], items, 2, "\n}\n", per_write)


def _echo_json_list(
    before: str, items: Iterable[Any], depth: int, after: str, per_write: int
) -> None:
    """`before`, a JSON list of `items` indented as `depth` levels of json.dumps(indent=2)
    put it, then `after`; a thousand items to a write."""
    from pmcards.markup import safe_json

    inner = "\n" + "  " * depth
    chunk: list[str] = [before]
    first = True
    for item in items:
        text = json.dumps(item, indent=2, ensure_ascii=False).replace("\n", inner)
        chunk.append(("[" if first else ",") + inner + text)
        first = False
        if len(chunk) >= per_write:
            click.echo(safe_json("".join(chunk)), nl=False)
            chunk = []
    chunk.append("[]" if first else "\n" + "  " * (depth - 1) + "]")
    chunk.append(after)
    click.echo(safe_json("".join(chunk)), nl=False)


def echo_lines(lines: Iterable[str], per_write: int = 1000) -> None:
    """Lines on standard output as they come, a thousand to a write."""
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= per_write:
            click.echo("\n".join(chunk))
            chunk = []
    if chunk:
        click.echo("\n".join(chunk))
