"""The progress report: the `pmcards stats` figures drawn as inline SVG charts.

Chart geometry is computed here and drawn by the template: no JavaScript, no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from pmcards import settings as settings_mod
from pmcards import stats
from pmcards.exporters.templating import render
from pmcards.formats.options import ExportOptions

HEATMAP_WEEKS = 53
CELL = 11  # px, including a 2px gap


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    day: str
    count: int
    shade: int  # 0 (none) to 4 (most)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    part: int = 0  # the lower part of a stacked bar (the plan's new cards)
    part_y: float = 0.0
    part_height: float = 0.0

    @property
    def tick(self) -> str:
        """The label as an axis tick: "2 Mar" for a date."""
        try:
            day = date.fromisoformat(self.label)
        except ValueError:
            return self.label
        return f"{day.day} {day:%b}"


def export(conn: Connection, options: ExportOptions) -> bytes:
    now: datetime = options.now
    figures = stats.compute(conn, now)
    cfg = settings_mod.load(conn)
    today = date.fromisoformat(figures["date"])
    return render(
        "report.html",
        options.template,
        s=figures,
        heatmap=heatmap(figures["reviews_per_day"], today),
        forecast=bars([(d["date"], d["due"], 0) for d in figures["forecast"]["days"]], 600, 90),
        retention=retention_line(figures["retention_by_week"], cfg.desired_retention),
        desired_retention=cfg.desired_retention,
        minutes=lambda seconds: f"{seconds // 60:,} min",
        made_label=f"{today.day} {today:%B %Y}",
        plan=plan_chart(conn, now),
    )


def plan_chart(conn: Connection, now: datetime) -> dict[str, Any] | None:
    """The interview plan's forecast as bars, while a plan is in force."""
    from pmcards import interview

    stored = interview.load(conn)
    if stored is None or now >= stored.starts_at(settings_mod.load(conn)):
        return None
    status = interview.status(conn, stored, now).to_json()
    day = date.fromisoformat(status["interview"][:10])
    return {
        "status": status,
        "when": f"{day.day} {day:%B %Y}",
        # Stacked: the answers the plan asks for each day, of which the new cards' first ones.
        "bars": bars([(d["date"], d["answers"], d["new"]) for d in status["forecast"]], 600, 90),
    }


def heatmap(per_day: list[dict[str, Any]], today: date) -> dict[str, Any]:
    """A year of study days as a grid: one column per week, one row per weekday."""
    counts = {d["date"]: d["count"] for d in per_day}
    start = today - timedelta(days=today.weekday()) - timedelta(weeks=HEATMAP_WEEKS - 1)
    nonzero = sorted(c for c in counts.values() if c > 0)

    def shade(count: int) -> int:
        if count == 0 or not nonzero:
            return 0
        # Quartiles of the days studied, so one huge day does not wash out the rest.
        rank = sum(1 for c in nonzero if c <= count) / len(nonzero)
        return min(4, 1 + int(rank * 4 - 1e-9))

    cells = []
    months = []
    day = start
    while day <= today:
        week = (day - start).days // 7
        if day.day <= 7 and day.weekday() == 0:
            months.append((week * CELL, day.strftime("%b")))
        key = day.isoformat()
        count = counts.get(key, 0)
        cells.append(Cell(week * CELL, day.weekday() * CELL, key, count, shade(count)))
        day += timedelta(days=1)
    # What each shade means, for the legend: the range of answers a day it stands for.
    legend = [{"shade": 0, "label": "none"}]
    for level in range(1, 5):
        days = [c for c in nonzero if shade(c) == level]
        if days:
            low, high = days[0], days[-1]
            legend.append({"shade": level, "label": f"{low}" if low == high else f"{low}–{high}"})
    return {
        "cells": cells,
        "months": months,
        "legend": legend,
        "width": HEATMAP_WEEKS * CELL,
        "height": 7 * CELL,
        "days_studied": len(nonzero),
        "total": sum(counts.values()),
    }


def bars(series: list[tuple[str, int, int]], width: int, height: int) -> dict[str, Any]:
    """Bars for (label, value, part) on one scale; `part` is the value's lower segment."""
    top = max([v for _, v, _ in series] + [1])
    slot = width / max(1, len(series))

    def scaled(value: int) -> float:
        return round(value / top * height, 1)

    out = [
        Bar(
            x=round(i * slot + 1, 1),
            y=round(height - scaled(value), 1),
            width=round(slot - 2, 1),
            height=scaled(value),
            label=label,
            value=value,
            part=part,
            part_y=round(height - scaled(part), 1),
            part_height=scaled(part),
        )
        for i, (label, value, part) in enumerate(series)
    ]
    return {"bars": out, "width": width, "height": height, "top": top}


def retention_line(weeks: list[dict[str, Any]], desired: float) -> dict[str, Any]:
    """Weekly true retention on a 50-100% axis, with the desired retention as a reference."""
    width, height, low = 600, 110, 0.5

    def y(value: float) -> float:
        return round(height - (max(low, value) - low) / (1 - low) * height, 1)

    step = width / max(1, len(weeks) - 1) if len(weeks) > 1 else 0
    points = [{"x": round(i * step, 1), "y": y(w["retention"]), **w} for i, w in enumerate(weeks)]
    return {
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "width": width,
        "height": height,
        "desired_y": y(desired),
        "grid": [{"y": y(v), "label": f"{v:.0%}"} for v in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)],
    }
