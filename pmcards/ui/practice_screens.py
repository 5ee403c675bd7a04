"""The contrast drill and the timed mock interview in the terminal.

Same keys, screen and safety as the review session (`ui.terminal`); every answer goes
through `StudySession.answer`, so it is committed before the next screen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import click

from pmcards import drill, kinds, mock
from pmcards.markup import safe
from pmcards.scheduling import RATING_NAMES, format_interval
from pmcards.study import StudySession
from pmcards.ui.terminal import NEXT_KEYS, QUIT_KEYS, Keys, Screen, block, wrap

# -- drill --------------------------------------------------------------------------------


@dataclass
class DrillSummary:
    called: int = 0
    right: int = 0
    missed: list[drill.DrillItem] = field(default_factory=list)
    # side shown -> [calls, right calls]: a one-sided habit shows up here
    by_side: dict[str, list[int]] = field(
        default_factory=lambda: {side: [0, 0] for side in kinds.SIDES}
    )

    def by_side_figures(self) -> dict[str, dict[str, int]]:
        return {side: {"calls": n, "right": r} for side, (n, r) in self.by_side.items()}


def run_drill(
    session: StudySession, items: list[drill.DrillItem], *, color: bool | None = None
) -> DrillSummary:
    """Show each answer; `b` calls it BAD, `g` GOOD; the verdict and the why follow."""
    screen = Screen.detect(color)
    summary = DrillSummary()
    with Keys() as keys:
        _drill(session, items, screen, keys, summary)
    share = f" ({summary.right / summary.called:.0%})" if summary.called else ""
    lines = [
        "",
        screen.style("Drill over", bold=True),
        f"  Right: {summary.right} of {summary.called}{share}",
    ]
    if summary.called:
        lines += drill.by_side_text(summary.by_side_figures())
    for item in summary.missed:
        lines.append(f"  Misjudged: {_cut(safe(item.situation), 70)}  [{item.guid}]")
    click.echo("\n".join(lines), color=screen.color)
    return summary


def _cut(text: str, width: int) -> str:
    """One line of at most `width` characters, cut with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _drill(
    session: StudySession,
    items: list[drill.DrillItem],
    screen: Screen,
    keys: Keys,
    summary: DrillSummary,
) -> None:
    """Each item in turn; `u` takes back the last call (on its verdict, or on the next
    item), several deep, and shows that item again."""
    done: list[tuple[drill.DrillItem, bool]] = []  # the calls made, for undo
    note = ""  # one line about what just happened (an undo)
    i = 0
    try:
        while i < len(items):
            item = items[i]
            title = screen.style(f"Drill {i + 1}/{len(items)} · {safe(item.deck)}", bold=True)
            undo = "   u undo" if done else ""
            screen.show(
                [
                    f"{title}   {summary.right} of {summary.called} right",
                    *([screen.style(note, dim=True)] if note else []),
                    "",
                    *block("Situation", item.situation, screen, "magenta"),
                    *block("Answer", item.answer_text, screen, "cyan"),
                    "",
                    screen.style(f"BAD or GOOD?  b BAD   g GOOD{undo}   q quit", dim=True),
                ]
            )
            note = ""
            started = time.monotonic()
            while True:
                key = keys.read().lower()
                if key in ("b", "g") or (key == "u" and done):
                    break
                if key in QUIT_KEYS:
                    raise KeyboardInterrupt
            if key == "u":
                i -= 1
                note = _undo_call(session, summary, done)
                continue
            call = "bad" if key == "b" else "good"
            now = session.clock()
            result = session.answer(
                item.card_id,
                drill.rating_for(call == item.shown),
                int((time.monotonic() - started) * 1000),
                source="drill",
                record=drill.recorder(item, call, now),
            )
            right = call == item.shown
            _count(summary, item, right, +1)
            done.append((item, right))
            verdict = item.shown.upper()
            lines = [
                screen.style(
                    f"{'✓ Right' if right else '✗ Wrong'}: this answer is {verdict}",
                    bold=True,
                    fg="green" if right else "red",
                )
            ]
            if item.shown == "bad":
                lines += block("GOOD instead", item.good, screen, "green")
            if item.why:
                lines += block("Why", item.why, screen, "yellow")
            lines.append(
                screen.style(
                    f"{RATING_NAMES[drill.rating_for(right)]}: the card is next due in "
                    f"{format_interval(result.due - now)}",
                    dim=True,
                )
            )
            if screen.tty:
                go = "next" if i + 1 < len(items) else "finish"
                lines += ["", screen.style(f"Space: {go}   u undo   q quit", dim=True)]
            click.echo("\n".join(lines), color=screen.color)
            i += 1
            # On a terminal, wait after each verdict; after the last call, whatever reads
            # the keys, one more may undo it.
            if screen.tty or i == len(items):
                while (key := keys.read().lower()) not in NEXT_KEYS:
                    if key == "u":
                        i -= 1
                        note = _undo_call(session, summary, done)
                        break
                    if key in QUIT_KEYS:
                        raise KeyboardInterrupt
    except (KeyboardInterrupt, EOFError):
        pass


def _count(summary: DrillSummary, item: drill.DrillItem, right: bool, step: int) -> None:
    """Count a call in the summary (`step` +1), or take it out again (-1)."""
    summary.called += step
    summary.right += step * right
    summary.by_side[item.shown][0] += step
    summary.by_side[item.shown][1] += step * right
    if not right:
        if step > 0:
            summary.missed.append(item)
        else:
            summary.missed.remove(item)


def _undo_call(
    session: StudySession, summary: DrillSummary, done: list[tuple[drill.DrillItem, bool]]
) -> str:
    """Take back the last call: in the collection (its answer and its drill result) and in
    the summary. Returns the line that says so."""
    item, right = done.pop()
    session.undo()
    _count(summary, item, right, -1)
    return "Undid the last call: judge this answer again."


# -- mock interview -----------------------------------------------------------------------


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(0, round(seconds)), 60)
    return f"{minutes:02d}:{secs:02d}"


def _phase(name: str, number: int, minutes: float, screen: Screen, keys: Keys) -> float:
    """Run one phase on a visible countdown; returns the seconds it took."""
    planned = minutes * 60
    started = time.monotonic()
    head = screen.style(f"Phase {number} of {len(mock.PHASES)}: {name}", bold=True)
    if not screen.tty:
        # No live clock without a terminal: the time taken is still measured and kept.
        click.echo(f"{head} ({_clock(planned)}). Press Space when done.", color=screen.color)
        while (key := keys.read()) not in NEXT_KEYS:
            if key in QUIT_KEYS:
                raise KeyboardInterrupt
        spent = time.monotonic() - started
        click.echo(f"  {name}: {_clock(spent)} of {_clock(planned)}")
        return spent
    click.echo(head, color=screen.color)
    while True:
        left = planned - (time.monotonic() - started)
        if left <= 0:
            click.echo(
                "\r  " + screen.style("00:00  time is up", fg="red", bold=True) + " " * 30 + "\a"
            )
            return time.monotonic() - started
        colour = "red" if left < 60 else "green"
        click.echo(
            "\r  "
            + screen.style(f"{_clock(left)} left", fg=colour, bold=True)
            + screen.style("   Space: next phase   q quit", dim=True),
            nl=False,
            color=screen.color,
        )
        pressed = keys.read_timeout(min(1.0, left))
        if pressed in NEXT_KEYS:
            click.echo()
            return time.monotonic() - started
        if pressed in QUIT_KEYS:
            click.echo()
            raise KeyboardInterrupt


# Red flags have keys of their own: the digits stay the points' (1-9), and `a` (all points)
# never ticks a red flag.
RED_FLAG_KEYS = "xyz"
assert len(RED_FLAG_KEYS) >= kinds.MAX_RED_FLAGS


def _tick(attempt: mock.Attempt, screen: Screen, keys: Keys) -> None:
    """The user ticks the points they made and the red flags they said: digits toggle a
    point, `a` ticks every point, x/y/z toggle a red flag, Enter finishes."""
    points = attempt.prompt.points
    flags = attempt.prompt.red_flags
    flag_keys = dict(zip(RED_FLAG_KEYS, (f.number for f in flags), strict=False))

    def line(box: str, key: str, mark: str, text: str, tags: tuple[str, ...]) -> list[str]:
        shown_tags = f"  ({', '.join(tags)})" if tags else ""
        return wrap(
            f"{box} {key}. {mark}{safe(text)}{shown_tags}",
            screen.width(),
            indent="  ",
            hanging="      " + " " * len(key),
        )

    def render() -> list[str]:
        asked = "Which of these did you say? Press a point's number (a: all points)"
        if flags:
            asked += ", a red flag's letter if you said it"
        lines = [screen.style(asked + "; Enter when done.", bold=True), ""]
        for p in points:
            box = "[x]" if p.number in attempt.covered else "[ ]"
            mark = screen.style("MUST ", bold=True) if p.must else ""
            lines += line(box, str(p.number), mark, p.text, p.tags)
        if flags:
            lines += ["", screen.style("Red flags: say one and the mock rates Again", fg="red")]
        for key, f in zip(RED_FLAG_KEYS, flags, strict=False):
            box = "[x]" if f.number in attempt.said else "[ ]"
            mark = screen.style("RED FLAG ", fg="red", bold=True)
            lines += line(box, key, mark, f.text, f.tags)
        return lines

    screen.show(render())
    while True:
        key = keys.read()
        if key in NEXT_KEYS:
            return
        if key in QUIT_KEYS:
            raise KeyboardInterrupt
        if key == "a":
            attempt.covered = {p.number for p in points}
        elif key.isdigit() and 1 <= int(key) <= len(points):
            attempt.covered ^= {int(key)}
        elif key.lower() in flag_keys:
            attempt.said ^= {flag_keys[key.lower()]}
        else:
            continue
        if screen.tty:
            screen.show(render())
        else:
            made = ", ".join(str(n) for n in sorted(attempt.covered)) or "none"
            said = [k for k, n in flag_keys.items() if n in attempt.said]
            flagged = f"; red flags said: {', '.join(said)}" if said else ""
            click.echo(f"  ticked: {made}{flagged}")


def run_mock(
    session: StudySession,
    prompt: mock.Prompt,
    minutes: tuple[float, ...],
    *,
    color: bool | None = None,
) -> mock.Attempt | None:
    """The timed phases, the rubric, the rating. None if the user quit before grading."""
    screen = Screen.detect(color)
    attempt = mock.Attempt(prompt=prompt, started_at=session.clock(), minutes=minutes)
    header = [
        screen.style(f"Mock interview · {safe(prompt.deck)} · {prompt.guid}", bold=True),
        "",
        *block("Prompt", prompt.prompt, screen, "cyan"),
        "",
        "Answer out loud or on paper, as in the room: "
        + ", ".join(f"{n.lower()} {m:g} min" for n, m in zip(mock.PHASES, minutes, strict=True))
        + ".",
        "",
    ]
    with Keys() as keys:
        try:
            screen.show(header)
            for number, (name, m) in enumerate(zip(mock.PHASES, minutes, strict=True), start=1):
                attempt.spent.append(_phase(name, number, m, screen, keys))
            _tick(attempt, screen, keys)
        except (KeyboardInterrupt, EOFError):
            click.echo("\nMock stopped before grading: nothing recorded.")
            return None
        _grade(session, attempt, screen)
        if screen.tty:
            click.echo(screen.style("\nu undo this mock's rating   any other key: done", dim=True))
        try:
            key = keys.read().lower()
        except (KeyboardInterrupt, EOFError):
            return attempt
        if key != "u":
            return attempt
        session.undo()
        click.echo(
            "Undid the mock: its rating, its missed points and the cards it made due are "
            "taken back."
        )
        return None


def _grade(session: StudySession, attempt: mock.Attempt, screen: Screen) -> None:
    """Rate the prompt from the ticks, commit it, and show what it means."""
    prompt = attempt.prompt
    now = session.clock()
    record = mock.Recorder(attempt, now)
    rating = attempt.rating()
    result = session.answer(prompt.card_id, rating, source="mock", record=record)
    total = len(prompt.points)
    said = attempt.flags_said()
    musts = [p for p in attempt.missed() if p.must]
    because = ""
    if said:
        because = " (a red flag was said)"
    elif musts:
        because = " (a MUST point was missed: Hard at best)"
    lines = [
        "",
        screen.style(
            f"Covered {len(attempt.made())} of {total} points: {RATING_NAMES[rating]}{because}",
            bold=True,
        )
        + f" (this prompt is next due in {format_interval(result.due - now)})",
    ]
    for key, flag in zip(RED_FLAG_KEYS, prompt.red_flags, strict=False):
        if flag in said:
            lines.append(f"  Red flag said {key}. {safe(flag.text)}")
    tags: list[str] = []
    for point in attempt.missed():
        raised = record.raised.get(point.number, 0)
        where = f" → {raised} matching cards due now" if raised else ""
        must = "MUST " if point.must else ""
        lines.append(f"  Missed {point.number}. {must}{safe(point.text)}{where}")
        tags += [t for t in point.tags if t not in tags]
    if tags:
        lines.append(
            "Train the missed points: " + "   ".join(f"pmcards review --tag {t}" for t in tags[:3])
        )
    if prompt.why:
        lines += block("Why", prompt.why, screen, "yellow")
    click.echo("\n".join(lines), color=screen.color)
