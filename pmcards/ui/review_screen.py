"""The review session in the terminal: one keypress per action, every answer committed first.

Keys, screen and wrapping are `ui.terminal`'s, shared with the drill and mock screens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import click
from fsrs import Rating

from pmcards.cardstate import NEW, STATE_NAMES
from pmcards.errors import PmcardsError
from pmcards.kinds import Face
from pmcards.markup import plural, safe
from pmcards.review import ReviewSession, Shown, Summary
from pmcards.scheduling import RATING_NAMES, RATINGS, format_interval
from pmcards.ui.terminal import NEXT_KEYS, QUIT_KEYS, Keys, Screen, block, fit, hint, wrap

GRADE_KEYS = {"1": Rating.Again, "2": Rating.Hard, "3": Rating.Good, "4": Rating.Easy}


def run(session: ReviewSession, *, color: bool | None = None, notice: str = "") -> Summary:
    """Drive a review session until it ends, the user quits, or input runs out."""
    screen = Screen.detect(color)
    shown_any = False
    with Keys() as keys:
        try:
            while True:
                shown = session.next_card()
                if shown is None:
                    break
                shown_any = True
                notice = _one_card(session, shown, screen, keys, notice)
        except (KeyboardInterrupt, EOFError):
            pass
    summary = session.summary()
    if not shown_any:
        when = _when(summary.next_due, session.clock)
        screen.echo(wrap(f"Nothing to study now. Next card due: {when}.", screen.width()))
        _new_waiting(summary, screen)
        return summary
    _print_summary(session, summary, screen)
    return summary


def _one_card(session: ReviewSession, shown: Shown, screen: Screen, keys: Keys, notice: str) -> str:
    started = time.monotonic()
    width = screen.width()
    header = _header(session, shown, screen)
    front = _face(shown.front, screen, shown.section)
    # `u` is offered once there is something of this session's to undo.
    undo = "  u undo" if session.can_undo else ""
    keys_hint = hint(f"Space/Enter: show answer{undo}  s suspend  b bury  q quit", screen)
    lines = [
        *header,
        *[screen.style(line, fg="yellow") for line in wrap(notice, screen.width()) if notice],
        "",
        *front,
        "",
        *keys_hint,
    ]
    screen.show(lines)
    session.idle()
    while True:
        key = keys.read()
        if key in NEXT_KEYS:
            break
        action = _common_key(session, shown, key)
        if action is not None:
            return action
    back = _face(shown.back, screen)
    buttons = fit(
        [
            (f"{i} {RATING_NAMES[r]} {format_interval(shown.interval(r))}", {"bold": True})
            for i, r in enumerate(RATINGS, start=1)
        ],
        screen,
    )
    rule = screen.style("─" * min(width, 60), dim=True)
    footer = hint(f"{undo.strip()}  s suspend  b bury  q quit".strip(), screen)
    if screen.tty:
        screen.show([*header, "", *front, rule, *back, "", *buttons, *footer])
    else:
        screen.show([rule, *back, "", *buttons])
    while True:
        key = keys.read()
        if key in GRADE_KEYS:
            rating = GRADE_KEYS[key]
            elapsed = int((time.monotonic() - started) * 1000)
            result = session.answer(shown.card_id, rating, elapsed, shown_reps=shown.reps)
            if not screen.tty:
                click.echo(
                    f"→ {RATING_NAMES[rating]}: next in {format_interval(shown.interval(rating))}"
                )
            if result.changed_meanwhile:
                message = (
                    "Another session answered this card while it was on screen: both answers "
                    "are recorded, this one scheduled from the other's result."
                )
                if not screen.tty:
                    screen.echo(wrap(message, screen.width()))
                return message
            if result.leeched:
                message = (
                    f"Leech: this card has lapsed {result.lapses} times. It is tagged 'leech' and "
                    "suspended; rewrite or split the note (pmcards edit "
                    f"{shown.guid}), then bring it back: pmcards unsuspend {shown.guid}"
                )
                if not screen.tty:
                    screen.echo(wrap(message, screen.width()))
                return message
            return ""
        action = _common_key(session, shown, key)
        if action is not None:
            return action


def _common_key(session: ReviewSession, shown: Shown, key: str) -> str | None:
    """Keys valid on both sides of a card: a notice to show next, or None to keep waiting."""
    if key in QUIT_KEYS:
        raise KeyboardInterrupt
    if key == "u":
        if not session.can_undo:
            return "Nothing to undo yet."
        try:
            return session.undo().describe()
        except PmcardsError as exc:
            return str(exc)
    if key == "s":
        session.suspend(shown.card_id)
        return "Suspended that card (u undoes it)."
    if key == "b":
        session.bury(shown.card_id)
        return "Buried that card until tomorrow (u undoes it)."
    return None


def _header(session: ReviewSession, shown: Shown, screen: Screen) -> list[str]:
    due = session.counts()
    left = session.left(due)
    state = "new" if shown.state == NEW else STATE_NAMES.get(shown.state, "")
    return [
        *fit(
            [
                (f"pmcards · {safe(shown.deck)}", {"bold": True}),
                (f"{session.answered} answered · {left} left", {}),
            ],
            screen,
        ),
        *fit(
            [
                (f"New {due.new}", {"fg": "blue"}),
                (f"Learning {due.learning}", {"fg": "red"}),
                (f"Due {due.review}", {"fg": "green"}),
                (state, {"dim": True}),
            ],
            screen,
            gap="  ",
        ),
    ]


def _face(face: Face, screen: Screen, section: str = "") -> list[str]:
    heading = face.heading.upper() + (f" · {section}" if section else "")
    lines = [screen.style(safe(heading), bold=True, fg="cyan")]
    for label, text in face.blocks:
        lines += block(label, text, screen)
    return lines


def _print_summary(session: ReviewSession, summary: Summary, screen: Screen) -> None:
    minutes, seconds = divmod(round(summary.seconds), 60)
    lines = [
        "",
        screen.style("Session over", bold=True)
        + (f": {reason}" if (reason := session.stop_reason()) else ""),
        f"  Cards answered: {summary.answered}",
        f"  Time spent:     {minutes}m {seconds:02d}s",
        f"  Again rate:     {_share(summary.again_rate)}",
        f"  Next card due:  {_when(summary.next_due, session.clock)}",
    ]
    click.echo("\n".join(lines), color=screen.color)
    _new_waiting(summary, screen)


def _new_waiting(summary: Summary, screen: Screen) -> None:
    if summary.new_waiting:
        more = min(summary.new_waiting, 10)
        text = (
            f"{plural(summary.new_waiting, 'new card')} wait beyond today's new-card limit: "
            f"pmcards review --new {more} studies {more} more."
        )
        screen.echo(wrap(text, screen.width()))


def _share(value: float | None) -> str:
    return "no answers" if value is None else f"{value:.0%}"


def _when(due: datetime | None, clock: Callable[[], datetime]) -> str:
    if due is None:
        return "nothing scheduled"
    delta = due - clock()
    local = due.astimezone()
    if delta <= timedelta(0):
        return "now"
    return f"in {format_interval(delta)} ({local:%a %d %b %H:%M})"
