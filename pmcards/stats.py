"""Progress figures: cards by state, reviews per day, true retention, forecast, time, leeches,
the weakest cards. Counted in SQL; the same dict feeds `pmcards stats --json`, the terminal
table and the HTML report."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.engine import Connection

from pmcards import cardstate, mock, queries, schema
from pmcards import drill as drill_mod
from pmcards import settings as settings_mod
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW
from pmcards.clock import Day, day_ends, study_day
from pmcards.kinds import KINDS, summary
from pmcards.markup import safe
from pmcards.queries import MEMORY, C, D, L, N, risk_order
from pmcards.sqltime import days_between, local_date

HISTORY_DAYS = 365
FORECAST_DAYS = 30
RETENTION_WEEKS = 26
# Anki's definition: a card is mature once its interval reaches 21 days.
MATURE_DAYS = 21
# A predicted recall that rounds to 100% on screen is no card's weakness.
SHOWN_AS_100 = 0.995


def day_offset_seconds(now: datetime, rollover_hour: int) -> int:
    """Shift from UTC to the local study date: the local UTC offset minus the rollover hour.

    Taken at `now`: across a DST change, reviews within an hour of the rollover may count
    toward the neighbouring day in these statistics (never in scheduling).
    """
    offset = now.astimezone().utcoffset() or timedelta(0)
    return int(offset.total_seconds()) - rollover_hour * 3600


def compute(conn: Connection, now: datetime) -> dict[str, Any]:
    cfg = settings_mod.load(conn)
    day = study_day(now, cfg.rollover_hour)
    offset = day_offset_seconds(now, cfg.rollover_hour)
    return {
        "date": day.date.isoformat(),
        "cards": cards_by_state(conn, now),
        "reviews_per_day": reviews_per_day(conn, day, offset),
        "retention_by_week": retention_by_week(conn, day, offset),
        "forecast": forecast(conn, day, now, cfg),
        "time": time_spent(conn, day),
        "leeches": leeches(conn),
        "weakest": weakest(conn, cfg, now),
        "drill": drill_mod.figures(conn),
        "mock": mock.figures(conn),
    }


def cards_by_state(conn: Connection, now: datetime) -> dict[str, int]:
    active = C.suspended.is_(False)
    buried = and_(active, C.buried_until > now)
    row = conn.execute(
        select(
            func.count(),
            *[
                func.coalesce(func.sum(case((and_(active, C.state == s), 1), else_=0)), 0)
                for s in (NEW, LEARNING, REVIEW, RELEARNING)
            ],
            func.coalesce(func.sum(case((C.suspended.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(case((buried, 1), else_=0)), 0),
        ).select_from(schema.cards)
    ).one()
    total, new, learning, review, relearning, suspended, buried_count = (int(x) for x in row)
    return {
        "total": total,
        "new": new,
        "learning": learning,
        "review": review,
        "relearning": relearning,
        "suspended": suspended,
        "buried": buried_count,
    }


def reviews_per_day(conn: Connection, day: Day, offset: int) -> list[dict[str, Any]]:
    """Answers and seconds spent per study day over the last year (days with answers only)."""
    local_day = local_date(L.reviewed_at, literal(offset))
    since = day.start - timedelta(days=HISTORY_DAYS)
    rows = conn.execute(
        select(local_day, func.count(), func.coalesce(func.sum(L.duration_ms), 0))
        .where(L.reviewed_at >= since, L.reviewed_at < day.end)
        .group_by(local_day)
        .order_by(local_day)
    ).all()
    return [
        {"date": d, "count": int(n), "seconds": round(int(ms or 0) / 1000)} for d, n, ms in rows
    ]


def retention_by_week(conn: Connection, day: Day, offset: int) -> list[dict[str, Any]]:
    """True retention: the share of reviews of mature cards not answered Again, by week."""
    local_day = local_date(L.reviewed_at, literal(offset))
    interval = days_between(L.due_before, L.last_review_before)
    since = day.start - timedelta(weeks=RETENTION_WEEKS)
    rows = conn.execute(
        select(
            local_day,
            func.count(),
            func.coalesce(func.sum(case((L.rating > 1, 1), else_=0)), 0),
        )
        .where(
            L.reviewed_at >= since,
            L.state_before == REVIEW,
            interval >= MATURE_DAYS,
        )
        .group_by(local_day)
    ).all()
    weeks: dict[date, list[int]] = {}
    for d, n, passed in rows:
        day_date = date.fromisoformat(d)
        week = day_date - timedelta(days=day_date.weekday())
        bucket = weeks.setdefault(week, [0, 0])
        bucket[0] += int(n)
        bucket[1] += int(passed)
    return [
        {"week": w.isoformat(), "reviews": n, "passed": p, "retention": round(p / n, 4)}
        for w, (n, p) in sorted(weeks.items())
    ]


def forecast(
    conn: Connection, day: Day, now: datetime, cfg: settings_mod.Settings
) -> dict[str, Any]:
    """Due today and on each of the next days, as `pmcards review` counts them."""
    in_review = queries.review_scope(cfg)
    due_today = queries.due_counts(conn, day, now, in_review)
    boundaries = day_ends(day, FORECAST_DAYS, cfg.rollover_hour)
    counts = queries.forecast(conn, day, FORECAST_DAYS, boundaries, in_review)
    return {
        "today": due_today.learning + due_today.review,
        "days": [
            {"date": (day.date + timedelta(days=i + 1)).isoformat(), "due": n}
            for i, n in enumerate(counts)
        ],
    }


def time_spent(conn: Connection, day: Day) -> dict[str, int]:
    def total(since: datetime | None) -> tuple[int, int]:
        stmt = select(func.count(), func.coalesce(func.sum(L.duration_ms), 0))
        if since is not None:
            stmt = stmt.where(L.reviewed_at >= since)
        n, ms = conn.execute(stmt).one()
        return int(n), round(int(ms or 0) / 1000)

    today = total(day.start)
    week = total(day.start - timedelta(days=6))
    ever = total(None)
    return {
        "reviews_today": today[0],
        "seconds_today": today[1],
        "reviews_7_days": week[0],
        "seconds_7_days": week[1],
        "reviews_total": ever[0],
        "seconds_total": ever[1],
    }


def leeches(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    lapses = func.max(C.lapses)
    rows = conn.execute(
        select(N.guid, N.kind, N.fields, D.name, lapses)
        .select_from(schema.notes)
        .join(schema.decks, D.id == N.deck_id)
        .join(schema.cards, C.note_id == N.id)
        .where(N.tags.contains(" leech "))
        .group_by(N.id, N.guid, N.kind, N.fields, D.name)
        .order_by(lapses.desc())
        .limit(limit)
    ).all()
    return [
        {"note_id": guid, "deck": deck, "text": summary(kind, json.loads(fields)), "lapses": int(n)}
        for guid, kind, fields, deck, n in rows
    ]


def weakest(
    conn: Connection, cfg: settings_mod.Settings, now: datetime, limit: int = 10
) -> list[dict[str, Any]]:
    """Studied cards with the lowest predicted recall now, and never a card whose recall
    shows as 100% (a card answered minutes ago is not weak, however few cards are studied).

    SQL orders by elapsed days over stability, which FSRS's forgetting curve maps
    monotonically to retrievability; py-fsrs then gives the exact figure for the few shown.
    """
    from pmcards import scheduling  # FSRS loads only when there are studied cards to rank

    rows = conn.execute(
        select(
            C.ord,
            *MEMORY,
            N.guid,
            N.kind,
            N.fields,
            D.name.label("deck"),
        )
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
        .join(schema.decks, D.id == C.deck_id)
        .where(C.state != NEW, C.suspended.is_(False), C.stability > 0)
        .order_by(risk_order(now).desc())
        .limit(limit * 3)
    ).all()
    scored = sorted(
        (
            (r, -row.lapses, row)
            for row in rows
            if (r := scheduling.retrievability(cfg, cardstate.memory_of(row), now)) < SHOWN_AS_100
        ),
        key=lambda x: (x[0], x[1]),
    )
    out = []
    for r, _, row in scored[:limit]:
        fields, kind = json.loads(row.fields), KINDS[row.kind]
        out.append(
            {
                "note_id": row.guid,
                "deck": row.deck,
                "ord": row.ord,
                # Which of the note's cards, when it has several (a cloze's c2, a judge card).
                "card": kind.card_name(row.ord) if len(kind.ords(fields)) > 1 else "",
                "text": summary(row.kind, fields),
                "retrievability": round(r, 4),
                "lapses": row.lapses,
            }
        )
    return out


_BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    top = max([*values, 1])
    return "".join(_BLOCKS[0 if v == 0 else max(1, round(v / top * 8))] for v in values)


def format_text(data: dict[str, Any]) -> str:
    """The figures for the terminal."""
    cards = data["cards"]
    today = date.fromisoformat(data["date"])
    per_day = {d["date"]: d["count"] for d in data["reviews_per_day"]}
    last_30 = [per_day.get((today - timedelta(days=29 - i)).isoformat(), 0) for i in range(30)]
    time = data["time"]
    lines = [
        f"Study day {data['date']}",
        "",
        "Cards:     "
        + "  ".join(
            f"{key} {cards[key]}"
            for key in ("new", "learning", "review", "relearning", "suspended", "buried")
        )
        + f"  (total {cards['total']})",
        f"Answers:   today {time['reviews_today']} ({time['seconds_today'] // 60} min), "
        f"7 days {time['reviews_7_days']} ({time['seconds_7_days'] // 60} min), "
        f"all time {time['reviews_total']} ({time['seconds_total'] // 60} min)",
        f"Last 30 days: {sparkline(last_30)}  ({sum(last_30)} answers on "
        f"{sum(1 for v in last_30 if v)} days)",
    ]
    forecast = [d["due"] for d in data["forecast"]["days"]]
    lines.append(
        f"Due: today {data['forecast']['today']}, next 30 days {sparkline(forecast)} "
        f"({sum(forecast)} in all, busiest day {max([*forecast, 0])})"
    )
    weeks = data["retention_by_week"]
    if weeks:
        recent = weeks[-8:]
        lines.append(
            "True retention (mature cards), last weeks: "
            + "  ".join(f"{w['week'][5:]} {w['retention']:.0%} of {w['reviews']}" for w in recent)
        )
    else:
        lines.append("True retention: no mature cards (21-day intervals) reviewed yet")
    if data["weakest"]:
        lines += ["", "Weakest cards now:"]
        lines += [
            f"  {w['retrievability']:>4.0%}  {w['lapses']} lapses  {safe(w['text'])[:70]}"
            for w in data["weakest"]
        ]
    lines += ["", f"Leeches: {len(data['leeches'])}"]
    lines += [f"  {lch['lapses']} lapses  {safe(lch['text'])[:70]}" for lch in data["leeches"]]
    drill = data["drill"]
    if drill["calls"]:
        lines += [
            "",
            f"Contrast drill: {drill['right']} of {drill['calls']} calls right "
            f"({drill['accuracy']:.0%})",
            *drill_mod.by_side_text(drill["by_side"]),
        ]
        lines += [
            f"  misjudged {d['wrong']} of {d['calls']}  {safe(d['text'])[:60]}  [{d['note_id']}]"
            for d in drill["most_misjudged"]
        ]
    mock = data["mock"]
    if mock["attempts"]:
        lines += [
            "",
            f"Mock interviews: {mock['attempts']}, rubric points covered {mock['coverage']:.0%}",
        ]
        lines += [
            f"  {m['date']}  {m['covered']}/{m['total']}  {safe(m['prompt'])[:60]}"
            for m in mock["recent"]
        ]
        if mock["red_flags_said"]:
            lines.append(f"  Red flags said: {mock['red_flags_said']}")
            flags = mock["most_said_red_flags"]
            lines += [f"    {f['times']}x  {safe(f['red_flag'])[:70]}" for f in flags]
        if mock["most_missed"]:
            lines.append("  Points missed most:")
            lines += [
                f"    {m['times']}x  {safe(m['point'])[:70]}"
                + (f"  ({', '.join(m['tags'])})" if m["tags"] else "")
                for m in mock["most_missed"]
            ]
        if mock["missed_tags"]:
            tag = mock["missed_tags"][0]["tag"]
            lines.append(
                "  Missed by tag: "
                + ", ".join(f"{t['tag']} {t['times']}" for t in mock["missed_tags"])
                + f"  (train them: pmcards review --tag {tag})"
            )
    return "\n".join(lines)
