"""The review session in the terminal: one keypress per action, every answer committed first.

Colour and layout on a terminal; plain text when output is not a TTY or NO_COLOR is set.
Without a terminal on input, keys are read from standard input one character at a time.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import click
from fsrs import Rating

from pmcards import markup
from pmcards.errors import PmcardsError
from pmcards.kinds import Face
from pmcards.models import NEW, STATE_NAMES
from pmcards.review import ReviewSession, Shown, Summary
from pmcards.scheduling import RATING_NAMES, RATINGS, format_interval

_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

REVEAL_KEYS = (" ", "\r", "\n")
GRADE_KEYS = {"1": Rating.Again, "2": Rating.Hard, "3": Rating.Good, "4": Rating.Easy}


def safe(text: str) -> str:
    """Card text made harmless for a terminal: no escape sequences, no control characters."""
    text = _ANSI.sub("", text)
    return _CONTROL.sub("", text.replace("\t", "    "))


class Keys:
    """Single keypresses: the terminal held in non-canonical mode for the whole session on a
    TTY, characters from stdin otherwise.

    The terminal is switched once, not around each key (as click.getchar does): switching
    it flushes pending input, so a key pressed while the next card was being drawn was
    silently lost. Held for the session, keys typed ahead are read in order. Signals are
    off too, so Ctrl-C arrives as a key and never interrupts an answer being written.
    """

    def __init__(self) -> None:
        self.tty = sys.stdin.isatty()
        self._pending: list[str] = []
        self._saved: list[Any] | None = None

    def __enter__(self) -> Keys:
        if self.tty:
            try:
                import termios

                fd = sys.stdin.fileno()
                self._saved = termios.tcgetattr(fd)
                mode = termios.tcgetattr(fd)
                mode[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG)
                mode[6][termios.VMIN] = 1
                mode[6][termios.VTIME] = 0
                termios.tcsetattr(fd, termios.TCSANOW, mode)
            except (ImportError, OSError):
                self._saved = None  # no termios (Windows): click.getchar per key
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def read(self) -> str:
        if not self.tty:
            ch = sys.stdin.read(1)
            if ch == "":
                raise EOFError
        elif self._saved is None:
            return click.getchar()
        else:
            if not self._pending:
                data = os.read(sys.stdin.fileno(), 64)
                if not data:
                    raise EOFError
                self._pending = split_keys(data.decode("utf-8", "replace"))
            ch = self._pending.pop(0)
        if ch == "\x03":
            raise KeyboardInterrupt
        if ch == "\x04" and self.tty:
            raise EOFError
        return ch

    def read_timeout(self, seconds: float) -> str | None:
        """A keypress within `seconds`, or None. Without a terminal (or without termios),
        waits for the key as `read` does."""
        if not self.tty or self._pending:
            return self.read()
        try:
            import select
            import termios
            import tty
        except ImportError:  # pragma: no cover - not POSIX
            return self.read()
        fd = sys.stdin.fileno()
        if self._saved is not None:
            # Inside `with Keys()`: the terminal is already in key-at-a-time mode.
            ready, _, _ = select.select([fd], [], [], max(0.0, seconds))
            return self.read() if ready else None
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            ready, _, _ = select.select([fd], [], [], max(0.0, seconds))
            ch = os.read(fd, 1).decode(errors="ignore") if ready else None
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if ch == "\x03":
            raise KeyboardInterrupt
        return ch


_KEY = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1bO.|\x1b.?|.", re.DOTALL)


def split_keys(data: str) -> list[str]:
    """What one read from the terminal holds, as keys: an escape sequence (an arrow key) is
    one key, so it is never taken for Esc followed by letters."""
    return _KEY.findall(data)


class Screen:
    def __init__(self, color: bool, tty: bool) -> None:
        self.color = color
        self.tty = tty

    def style(self, text: str, **kw: object) -> str:
        return click.style(text, **kw) if self.color else text  # type: ignore[arg-type]

    def width(self) -> int:
        return max(40, min(100, shutil.get_terminal_size((80, 24)).columns))

    def show(self, lines: list[str]) -> None:
        if self.tty:
            click.clear()
        click.echo("\n".join(lines), color=self.color)


def run(session: ReviewSession, *, color: bool | None = None, notice: str = "") -> Summary:
    """Drive a review session until it ends, the user quits, or input runs out."""
    out_tty = sys.stdout.isatty()
    if color is None:
        color = out_tty and "NO_COLOR" not in os.environ
    screen = Screen(color=color, tty=out_tty and sys.stdin.isatty())
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
        click.echo(
            f"Nothing to study now. Next card due: {_when(summary.next_due, session.clock)}."
        )
        return summary
    _print_summary(session, summary, screen)
    return summary


def _one_card(session: ReviewSession, shown: Shown, screen: Screen, keys: Keys, notice: str) -> str:
    started = time.monotonic()
    width = screen.width()
    header = _header(session, shown, screen, width)
    front = _face(shown.front, screen, width)
    hint = screen.style("Space/Enter: show answer   u undo  s suspend  b bury  q quit", dim=True)
    lines = [
        *header,
        *([screen.style(notice, fg="yellow")] if notice else []),
        "",
        *front,
        "",
        hint,
    ]
    screen.show(lines)
    session.idle()
    while True:
        key = keys.read()
        if key in REVEAL_KEYS:
            break
        action = _common_key(session, shown, key)
        if action is not None:
            return action
    back = _face(shown.back, screen, width)
    buttons = "   ".join(
        screen.style(f"{i} {RATING_NAMES[r]}", bold=True) + " " + format_interval(shown.interval(r))
        for i, r in enumerate(RATINGS, start=1)
    )
    rule = screen.style("─" * min(width, 60), dim=True)
    footer = screen.style("u undo  s suspend  b bury  q quit", dim=True)
    if screen.tty:
        screen.show([*header, "", *front, rule, *back, "", buttons, footer])
    else:
        screen.show([rule, *back, "", buttons])
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
                    click.echo(message)
                return message
            if result.leeched:
                message = (
                    f"Leech: this card has lapsed {result.lapses} times. It is tagged 'leech' and "
                    "suspended; rewrite or split the note, then unsuspend it."
                )
                if not screen.tty:
                    click.echo(message)
                return message
            return ""
        action = _common_key(session, shown, key)
        if action is not None:
            return action


def _common_key(session: ReviewSession, shown: Shown, key: str) -> str | None:
    """Keys valid on both sides of a card: a notice to show next, or None to keep waiting."""
    if key in ("q", "Q", "\x1b"):
        raise KeyboardInterrupt
    if key == "u":
        if not session.can_undo:
            return "Nothing to undo yet."
        try:
            session.undo()
        except PmcardsError as exc:
            return str(exc)
        return "Undid the last answer."
    if key == "s":
        session.suspend(shown.card_id)
        return "Suspended that card."
    if key == "b":
        session.bury(shown.card_id)
        return "Buried that card until tomorrow."
    return None


def _header(session: ReviewSession, shown: Shown, screen: Screen, width: int) -> list[str]:
    due = session.counts()
    left = session.left()
    title = screen.style(f"pmcards · {safe(shown.deck)}", bold=True)
    progress = f"{session.answered} answered · {left} left"
    counts = (
        screen.style(f"New {due.new}", fg="blue")
        + "  "
        + screen.style(f"Learning {due.learning}", fg="red")
        + "  "
        + screen.style(f"Due {due.review}", fg="green")
    )
    state = "new" if shown.state == NEW else STATE_NAMES.get(shown.state, "")
    return [f"{title}   {progress}", f"{counts}   {screen.style(state, dim=True)}"]


def _face(face: Face, screen: Screen, width: int) -> list[str]:
    lines = [screen.style(face.heading.upper(), bold=True, fg="cyan")]
    for label, text in face.blocks:
        prefix = f"{label}: " if label else ""
        start = len(lines)
        for n, para in enumerate(safe(markup.to_terminal(text)).split("\n")):
            first = "  " + (prefix if n == 0 else " " * len(prefix))
            body = textwrap.wrap(para, width, initial_indent=first, subsequent_indent="    ")
            lines.extend(body or [first.rstrip()])
        if label:
            # Style the label after wrapping, so escape codes never count toward the width.
            colour = {"BAD": "red", "GOOD": "green", "Why": "yellow"}.get(label, "magenta")
            lines[start] = lines[start].replace(
                prefix, screen.style(prefix, bold=True, fg=colour), 1
            )
    return lines


def _print_summary(session: ReviewSession, summary: Summary, screen: Screen) -> None:
    minutes, seconds = divmod(round(summary.seconds), 60)
    lines = [
        "",
        screen.style("Session over", bold=True)
        + (f": {reason}" if (reason := session.stop_reason()) else ""),
        f"  Cards answered: {summary.answered}",
        f"  Time spent:     {minutes}m {seconds:02d}s",
        f"  Again rate:     {summary.again_rate:.0%}",
        f"  Next card due:  {_when(summary.next_due, session.clock)}",
    ]
    click.echo("\n".join(lines), color=screen.color)


def _when(due: datetime | None, clock: Callable[[], datetime]) -> str:
    if due is None:
        return "nothing scheduled"
    delta = due - clock()
    local = due.astimezone()
    if delta <= timedelta(0):
        return "now"
    return f"in {format_interval(delta)} ({local:%a %d %b %H:%M})"
