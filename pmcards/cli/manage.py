"""Changing the collection by hand: card actions (suspend, bury, forget, reschedule and
their undoing), notes (add, edit, rm) and decks (rename, rm, move)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from pmcards.cli.base import F, cli, collection, filter_options, now

if TYPE_CHECKING:
    from pmcards.actions import Done


def _ids(f: F) -> F:
    return click.argument("ids", nargs=-1, metavar="[ID]...")(f)


def _selection(
    ctx: click.Context,
    ids: tuple[str, ...],
    filters: dict[str, Any],
    act: Callable[..., Done],
    verb: str,
    unchanged: tuple[str, str],
    **extra: Any,
) -> None:
    """Select the cards (ids and/or filters), act on them in one transaction, report."""
    from pmcards import actions
    from pmcards.queries import Scope

    if not ids and not any(filters.values()):
        raise click.UsageError(
            "name the cards: note ids, NOTE#ORD, or --deck/--tag/--state/--search"
        )
    moment = now()
    with collection(ctx) as store, store.write() as conn:
        scope = Scope(**filters).check(conn)
        cards = actions.select_cards(conn, ids, scope, moment)
        if not cards:
            click.echo("No cards match.")
            return
        done = act(conn, cards, **extra)
    changed = len(done.changed)
    line = f"{verb} {changed} card{'s' if changed != 1 else ''}"
    if done.unchanged:
        line += f" ({done.unchanged} {unchanged[done.unchanged != 1]})"
    click.echo(line + ".")


@cli.command(name="suspend")
@_ids
@filter_options
@click.pass_context
def suspend_cmd(ctx: click.Context, /, ids: tuple[str, ...], **filters: Any) -> None:
    """Suspend cards: they leave every queue until unsuspended; history kept.

    IDs are note ids (all the note's cards), NOTE#ORD for one card as `pmcards cards` lists
    it, or card numbers from `cards --json`; or select with the filters.

    \b
    pmcards suspend con-013
    pmcards suspend --deck "LLM product risks" --tag agents
    """
    from pmcards import actions

    _selection(ctx, ids, filters, actions.suspend, "Suspended", ("was already", "were already"))


@cli.command(name="unsuspend")
@_ids
@filter_options
@click.pass_context
def unsuspend_cmd(ctx: click.Context, /, ids: tuple[str, ...], **filters: Any) -> None:
    """Bring suspended cards back into review, where they left off.

    \b
    pmcards unsuspend --tag leech
    pmcards unsuspend con-013#1
    """
    from pmcards import actions

    _selection(
        ctx,
        ids,
        filters,
        actions.unsuspend,
        "Unsuspended",
        ("was not suspended", "were not suspended"),
    )


@cli.command(name="bury")
@_ids
@filter_options
@click.pass_context
def bury_cmd(ctx: click.Context, /, ids: tuple[str, ...], **filters: Any) -> None:
    """Hide cards until the next study day starts.

    Example: pmcards bury --deck "Mock interview prompts"
    """
    from pmcards import actions
    from pmcards.clock import study_day

    def act(conn: Any, cards: list[int]) -> Done:
        from pmcards import settings

        moment = now()
        day = study_day(moment, settings.load(conn).rollover_hour)
        return actions.bury(conn, cards, day, moment)

    _selection(ctx, ids, filters, act, "Buried", ("was already", "were already"))


@cli.command(name="unbury")
@_ids
@filter_options
@click.pass_context
def unbury_cmd(ctx: click.Context, /, ids: tuple[str, ...], **filters: Any) -> None:
    """Show buried cards again today.

    Example: pmcards unbury --state buried
    """
    from pmcards import actions

    _selection(
        ctx,
        ids,
        filters,
        actions.unbury,
        "Unburied",
        ("was not buried", "were not buried"),
        now=now(),
    )


@cli.command(name="forget")
@_ids
@filter_options
@click.pass_context
def forget_cmd(ctx: click.Context, /, ids: tuple[str, ...], **filters: Any) -> None:
    """Make studied cards new again. Their review history stays in the log.

    Example: pmcards forget fund-021
    """
    from pmcards import actions

    _selection(ctx, ids, filters, actions.forget, "Forgot", ("was new", "were new"), now=now())


@cli.command(name="reschedule")
@_ids
@click.option(
    "--days",
    type=click.IntRange(min=0, max=36500),
    required=True,
    help="Due this many study days from today (0: now).",
)
@filter_options
@click.pass_context
def reschedule_cmd(ctx: click.Context, /, ids: tuple[str, ...], days: int, **filters: Any) -> None:
    """Make studied cards due on a chosen day. Their FSRS memory is unchanged: when one is
    answered, FSRS counts the real time since its last review. New cards are left alone.

    Example: pmcards reschedule --days 0 --tag metrics
    """
    from pmcards import actions

    def act(conn: Any, cards: list[int]) -> Done:
        from pmcards import settings

        rollover = settings.load(conn).rollover_hour
        return actions.reschedule(conn, cards, days, now(), rollover)

    _selection(ctx, ids, filters, act, "Rescheduled", ("is new", "are new"))
