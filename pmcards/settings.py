"""Collection settings: defaults, parsing from the command line, validation, storage.

The settings themselves are pure (scheduling imports them without SQLAlchemy); the four
storage functions at the end take the caller's connection and load SQLAlchemy only then.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pmcards.errors import SettingError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Settings:
    desired_retention: float = 0.9
    learning_steps: tuple[str, ...] = ("1m", "10m")
    relearning_steps: tuple[str, ...] = ("10m",)
    maximum_interval: int = 36500
    fuzz: bool = True
    # None: py-fsrs's defaults, loaded only when something schedules (FSRS is not needed to
    # count or list cards, and importing it costs start-up time).
    parameters: tuple[float, ...] | None = None
    new_per_day: int = 20
    reviews_per_day: int = 200
    rollover_hour: int = 4
    leech_threshold: int = 8
    learn_ahead_minutes: int = 20
    backups_keep: int = 10
    # New cards across decks in turn ("interleaved") or one deck after another ("deck").
    new_order: str = "interleaved"
    # Prompt cards are practised in `pmcards mock`; on, daily review shows them too.
    prompts_in_review: bool = False

    def fsrs_parameters(self) -> tuple[float, ...]:
        if self.parameters is not None:
            return self.parameters
        from fsrs.scheduler import DEFAULT_PARAMETERS

        return tuple(DEFAULT_PARAMETERS)

    def learning_step_deltas(self) -> tuple[timedelta, ...]:
        return tuple(parse_step(s) for s in self.learning_steps)

    def relearning_step_deltas(self) -> tuple[timedelta, ...]:
        return tuple(parse_step(s) for s in self.relearning_steps)


HELP = {
    "desired_retention": "share of reviews FSRS aims to have you recall (0.7 to 0.99)",
    "learning_steps": "delays between the first answers of a new card, e.g. '1m 10m'",
    "relearning_steps": "delays after forgetting a review card, e.g. '10m'",
    "maximum_interval": "longest interval in days",
    "fuzz": "spread review intervals a little so cards learned together part (on/off)",
    "parameters": "the 21 FSRS model weights, comma-separated (fit them with the optimizer)",
    "new_per_day": "new cards introduced per study day, across all sessions",
    "reviews_per_day": "review cards answered per study day, across all sessions",
    "rollover_hour": "local hour (0-23) at which a study day starts",
    "leech_threshold": "lapses after which a card is tagged 'leech' and suspended",
    "learn_ahead_minutes": "show learning cards this early when nothing else is due",
    "backups_keep": "automatic backups kept in the backups folder (the oldest are deleted)",
    "new_order": "new cards 'interleaved' across decks (one of each in turn) or in 'deck' order",
    "prompts_in_review": "show the design prompts' cards in daily review too, not only in "
    "pmcards mock (on/off)",
}
NEW_ORDERS = ("interleaved", "deck")

_STEP = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_step(text: str) -> timedelta:
    match = _STEP.match(text.strip())
    if not match:
        raise SettingError(f"invalid step {text!r}: use a number and a unit, e.g. 1m, 10m, 1h, 1d")
    amount = float(match.group(1))
    if amount <= 0:
        raise SettingError(f"invalid step {text!r}: must be longer than zero")
    return timedelta(**{_UNIT[match.group(2)]: amount})


def _steps(text: str) -> tuple[str, ...]:
    parts = tuple(p for p in re.split(r"[\s,]+", text.strip()) if p)
    for part in parts:
        parse_step(part)
    if len(parts) > 10:
        raise SettingError("at most 10 steps")
    return parts


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise SettingError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise SettingError(f"{value} is out of range: must be from {lo} to {hi}")
        return value

    return parse


def _retention(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0.7 <= value <= 0.99):
        raise SettingError(f"{text} is out of range: must be from 0.7 to 0.99")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("on", "true", "yes", "1"):
        return True
    if lowered in ("off", "false", "no", "0"):
        return False
    raise SettingError(f"{text!r} is not on/off")


def _parameters(text: str) -> tuple[float, ...]:
    from fsrs import Scheduler

    try:
        values = tuple(float(p) for p in re.split(r"[\s,]+", text.strip().strip("[]")) if p)
    except ValueError:
        raise SettingError("parameters must be numbers separated by commas") from None
    if not all(math.isfinite(v) for v in values):
        raise SettingError("parameters must be finite numbers")
    try:
        Scheduler(parameters=values)
    except ValueError as exc:
        raise SettingError(" ".join(str(exc).split())) from None
    return values


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise SettingError(f"{text!r} is not one of: {', '.join(choices)}")
        return value

    return parse


PARSERS: dict[str, Callable[[str], Any]] = {
    "desired_retention": _retention,
    "learning_steps": _steps,
    "relearning_steps": _steps,
    "maximum_interval": _int_in(1, 36500),
    "fuzz": _bool,
    "parameters": _parameters,
    "new_per_day": _int_in(0, 9999),
    "reviews_per_day": _int_in(0, 99999),
    "rollover_hour": _int_in(0, 23),
    "leech_threshold": _int_in(1, 999),
    "learn_ahead_minutes": _int_in(0, 1440),
    "backups_keep": _int_in(1, 1000),
    "new_order": _choice(*NEW_ORDERS),
    "prompts_in_review": _bool,
}
KEYS = [f.name for f in fields(Settings)]
# Internal collection state kept beside the settings (not shown by `pmcards config`).
BUILTIN_FLAG = "builtin_decks_imported"
# The interview plan in force, if any (`interview.py` reads and writes it).
PLAN_KEY = "interview_plan"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        if value and isinstance(value[0], float):
            return ", ".join(f"{v:g}" for v in value)
        return " ".join(str(v) for v in value)
    return str(value)


def check_key(key: str) -> str:
    if key not in PARSERS:
        raise SettingError(f"unknown setting {key!r}; known: {', '.join(KEYS)}")
    return key


def parse(key: str, text: str) -> Any:
    value = PARSERS[check_key(key)](text)
    if key == "learning_steps" and not value:
        return ()
    return value


def load(conn: Connection) -> Settings:
    """The collection's settings: stored values over the defaults."""
    from sqlalchemy import select

    from pmcards.schema import settings as table

    rows = conn.execute(select(table.c.key, table.c.value))
    stored = {key: json.loads(value) for key, value in rows}
    values: dict[str, Any] = {}
    for key in KEYS:
        if key in stored:
            raw = stored[key]
            values[key] = tuple(raw) if isinstance(raw, list) else raw
    return replace(Settings(), **values)


def save(conn: Connection, key: str, value: Any) -> None:
    """Store a value (a setting, or internal collection state such as the interview plan)."""
    from sqlalchemy import insert, update

    from pmcards.schema import settings as table

    stored = json.dumps(list(value) if isinstance(value, tuple) else value)
    updated = conn.execute(update(table).where(table.c.key == key).values(value=stored))
    if not updated.rowcount:
        conn.execute(insert(table).values(key=key, value=stored))


def reset(conn: Connection, key: str) -> None:
    """Forget a stored value: a setting goes back to its default."""
    from sqlalchemy import delete

    from pmcards.schema import settings as table

    conn.execute(delete(table).where(table.c.key == key))


def get_raw(conn: Connection, key: str) -> Any:
    """A stored value outside the user-facing settings (internal collection state)."""
    from sqlalchemy import select

    from pmcards.schema import settings as table

    value = conn.scalar(select(table.c.value).where(table.c.key == key))
    return None if value is None else json.loads(value)
