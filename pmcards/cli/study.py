"""Studying: review, the contrast drill, mock interviews, the interview plan, the optimizer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pmcards.cli.base import (
    FiniteFloatRange,
    cli,
    collection,
    complete_decks,
    complete_prompts,
    echo_json,
    json_option,
    now,
    scope_options,
    seed,
)

if TYPE_CHECKING:
    from pmcards.store import Store


def _release_passed_plan(store: Store) -> None:
    """An interview plan whose day has come gives its cards their FSRS due dates back,
    once, before anything is scheduled."""
    from pmcards import interview

    with store.write() as conn:
        interview.release_if_passed(conn, now())


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
    the interval it gives); u undoes the last action, s suspends, b buries until tomorrow,
    q quits. Every answer is saved before the next card appears.

    Example: pmcards review --deck "BAD vs GOOD answers" --limit 20
    """
    from pmcards.queries import Scope
    from pmcards.review import ReviewSession
    from pmcards.ui import review_screen

    with collection(ctx, checkpoint_when_idle=True) as store:
        _release_passed_plan(store)
        session = ReviewSession(store, Scope(deck, tag), extra_new, limit, minutes, seed=seed())
        review_screen.run(session, notice=ctx.find_root().obj.get("welcome", ""))


@cli.command()
@click.option(
    "--interview",
    metavar="DATE[ TIME]",
    help="The interview's date and time, local: 2026-12-14T10:00 or '2026-12-14 10:00' "
    "(a date alone: 09:00). Schedule so the cards are recalled then.",
)
@click.option(
    "--target",
    type=click.FloatRange(0.7, 0.99),
    help="Recall to reach at the interview, per card (default 0.95).",
)
@click.option(
    "--deck",
    "decks",
    multiple=True,
    metavar="NAME",
    shell_complete=complete_decks,
    help="Plan for this deck (and its subdecks); repeat for several. Default: every deck.",
)
@click.option(
    "--max-new",
    type=click.IntRange(min=1),
    help="The most new cards a day the plan may introduce (default 50).",
)
@click.option(
    "--per-day",
    type=int,
    metavar="N",
    help="Answers a day the plan tries to stay within (default: from the days left and the cards).",
)
@click.option("--clear", is_flag=True, help="End the plan now; scheduling goes back to normal.")
@json_option
@click.pass_context
def plan(
    ctx: click.Context,
    interview: str | None,
    target: float | None,
    decks: tuple[str, ...],
    max_new: int | None,
    per_day: int | None,
    clear: bool,
    as_json: bool,
) -> None:
    """Schedule toward an interview, and show the plan.

    Until the interview, the cards of the chosen decks are scheduled for their recall at
    that moment: new cards come in early enough, each card's next review is placed, never
    later than FSRS's, on a day with room under the daily budget, and the daily limits make
    room. Without options: the days left, the cards not yet learned, the answers per day
    until the interview as a range, the predicted recall, and warnings with what would meet
    the target when it cannot be met.

    \b
    pmcards plan --interview '2026-12-14 10:00' --per-day 40 --deck "BAD vs GOOD answers"
    pmcards plan
    pmcards plan --clear
    """
    from pmcards import interview as interview_mod
    from pmcards.errors import PmcardsError
    from pmcards.plan import format_status, parse_moment

    if clear and (interview or target or decks or max_new or per_day is not None):
        raise click.UsageError("--clear ends the plan: not with other options")
    if not interview and (target or decks or max_new or per_day is not None):
        raise click.UsageError("--target, --deck, --max-new and --per-day go with --interview DATE")
    moment = now()
    if interview is not None:
        try:
            day, at = parse_moment(interview)
        except ValueError as e:
            raise PmcardsError(str(e)) from None
        if per_day is not None and per_day < 1:
            raise PmcardsError(f"--per-day must be at least 1 answer a day, got {per_day}")
    with collection(ctx) as store:
        with store.write() as conn:
            if clear:
                change = interview_mod.clear_plan(conn, moment)
                assert change.previous is not None
                moved = change.moved
                click.echo(
                    f"Cleared the plan for {change.previous.interview}"
                    + (f"; {moved} cards got their FSRS due dates back." if moved else ".")
                )
                return
            if interview is not None:
                change = interview_mod.set_plan(
                    conn,
                    day,
                    moment,
                    at=at,
                    target=target,
                    decks=decks,
                    max_new=max_new,
                    per_day=per_day,
                )
                if not as_json:
                    click.echo(
                        f"Planned for the interview at {at.astimezone():%Y-%m-%d %H:%M}"
                        + (
                            f": {change.moved} cards now come due before it."
                            if change.moved
                            else "."
                        )
                    )
            else:
                interview_mod.release_if_passed(conn, moment)
            current = interview_mod.load(conn)
        if current is None:
            if as_json:
                echo_json(None)
                return
            raise PmcardsError(
                "no interview plan: set one with pmcards plan --interview 'YYYY-MM-DD HH:MM'"
            )
        with store.read() as conn:
            status = interview_mod.status(conn, current, moment)
    if as_json:
        echo_json(status.to_json())
        return
    click.echo(format_status(status))


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

    One answer is shown, BAD or GOOD drawn at random: press b if it is BAD, g if it is
    GOOD; the verdict and the why follow. Each call is an answer to the contrast's "judge"
    card (a wrong call is Again, a right one Good), saved at once, so the drill moves the
    schedule. The contrasts you are most likely to misjudge come first, then new ones. The
    summary gives your accuracy on each side shown, so a habit of one verdict shows.

    Example: pmcards drill --deck "BAD vs GOOD answers" --count 5
    """
    from pmcards import drill
    from pmcards.errors import PmcardsError
    from pmcards.queries import Scope
    from pmcards.study import StudySession
    from pmcards.ui import practice_screens

    with collection(ctx, checkpoint_when_idle=True) as store:
        _release_passed_plan(store)
        session = StudySession(store, seed=seed())
        scope = Scope(deck, tag)
        with store.read() as conn:
            scope = scope.check(conn)
            items = drill.pick(
                conn, session.settings, scope, session.clock(), count, session.draw_side
            )
        if not items:
            raise PmcardsError('no contrast notes to drill here (kind = "contrast")')
        practice_screens.run_drill(session, items)


@cli.command()
@click.option(
    "--prompt",
    "prompt_id",
    metavar="ID",
    help="The prompt note's id (default: next due; --list shows them).",
    shell_complete=complete_prompts,
)
@click.option("--list", "list_", is_flag=True, help="List the prompts, the next due first.")
@click.option(
    "--minutes",
    metavar="F,S,T",
    help="Minutes of framing, sketch and trade-offs (default: 5,10,5).",
)
@scope_options
@click.pass_context
def mock(
    ctx: click.Context,
    prompt_id: str | None,
    list_: bool,
    minutes: str | None,
    deck: str | None,
    tag: str | None,
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
    from pmcards.queries import Scope
    from pmcards.study import StudySession
    from pmcards.ui import practice_screens

    if list_:
        with collection(ctx) as store, store.read() as conn:
            scope = Scope(deck, tag).check(conn)
            click.echo(mock_mod.format_prompts(mock_mod.prompts(conn, scope, now())))
        return
    phases = mock_mod.parse_minutes(minutes) if minutes else mock_mod.DEFAULT_MINUTES
    with collection(ctx, checkpoint_when_idle=True) as store:
        _release_passed_plan(store)
        session = StudySession(store)
        scope = Scope(deck, tag)
        with store.read() as conn:
            scope = scope.check(conn)
            prompt = mock_mod.pick(conn, scope, session.clock(), prompt_id)
        practice_screens.run_mock(session, prompt, phases)


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

    moment = now()
    with collection(ctx) as store:
        with store.read() as conn:
            result = opt.fit(conn, moment)
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
            with store.write() as conn:
                result.rescheduled = opt.apply(conn, result, moment, retention)
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(opt.format_applied(result))
