"""Looking at the collection: status, decks, cards, stats."""

from __future__ import annotations

import click

from pmcards.cli.base import (
    cli,
    collection,
    echo_json,
    echo_json_array,
    echo_lines,
    filter_options,
    json_option,
    now,
)


@cli.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Today's new / learning / review counts per deck, and the next 7 days."""
    from pmcards import listings

    with collection(ctx) as store, store.read() as conn:
        data = listings.status(conn, now())
    if as_json:
        echo_json(data)
        return
    click.echo(listings.format_status(data))


@cli.command()
@json_option
@click.pass_context
def decks(ctx: click.Context, as_json: bool) -> None:
    """List the decks with their note and card counts."""
    from pmcards import listings

    with collection(ctx) as store, store.read() as conn:
        data = listings.decks(conn)
    if as_json:
        echo_json(data)
        return
    click.echo(listings.format_decks(data))


@cli.command()
@filter_options
@json_option
@click.pass_context
def cards(
    ctx: click.Context,
    deck: str | None,
    tag: str | None,
    state: str | None,
    search: str | None,
    as_json: bool,
) -> None:
    """List cards with their note's text and FSRS state.

    \b
    pmcards cards --deck contrasts --state review
    pmcards cards --search "sample ratio"
    """
    from pmcards import listings
    from pmcards.queries import Scope

    with collection(ctx) as store, store.read() as conn:
        scope = Scope(deck, tag, state, search).check(conn)
        if as_json:
            echo_json_array(listings.cards(conn, scope, now()))
        else:
            echo_lines(listings.card_table(conn, scope, now()))


@cli.command()
@json_option
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Progress: cards by state, reviews per day, true retention by week, the 30-day
    forecast, time spent, leeches and the weakest cards.

    `pmcards export report -o progress.html` draws the same figures as charts.
    """
    from pmcards import stats as stats_mod

    with collection(ctx) as store, store.read() as conn:
        data = stats_mod.compute(conn, now())
    if as_json:
        echo_json(data)
        return
    click.echo(stats_mod.format_text(data))
