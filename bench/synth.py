"""Build synthetic pmcards collections fast, for benchmarks.

Bulk inserts straight into the schema that pmcards' own migrations create (the fastest honest
route to a big collection); everything measured afterwards goes through pmcards' real code.

Shape: N notes in 10 decks, 90% contrasts (2 cards) and 10% reframes (1 card): about 1.9
cards a note. 80% of cards have been studied, with about 10 reviews each spread over two
years; their FSRS state puts about 8% of studied cards due today.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pmcards.store import Store

FMT = "%Y-%m-%d %H:%M:%S.%f"


def ts(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).strftime(FMT)


def _fresh(path: Path) -> sqlite3.Connection:
    """An empty collection at `path` (the real schema, by the real migrations), opened for
    bulk writes."""
    if path.exists():
        path.unlink()
    for extra in ("-wal", "-shm"):
        Path(str(path) + extra).unlink(missing_ok=True)
    Store(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def build(path: Path, notes: int, now: datetime, seed: int = 1) -> Path:
    rng = random.Random(seed)
    conn = _fresh(path)
    created = ts(now - timedelta(days=730))
    conn.executemany(
        "INSERT INTO decks (id, name, description, created_at) VALUES (?, ?, '', ?)",
        [(d, f"Synthetic deck {d:02d}", created) for d in range(1, 11)],
    )
    # Mark the built-ins as done so the first command does not import them.
    conn.execute("INSERT INTO settings (key, value) VALUES ('builtin_decks_imported', 'true')")
    note_rows: list[tuple[object, ...]] = []
    card_rows: list[tuple[object, ...]] = []
    log_rows: list[tuple[object, ...]] = []
    card_id = 0
    for n in range(1, notes + 1):
        contrast = rng.random() < 0.9
        if contrast:
            fields = {
                "situation": f"Synthetic situation {n}: the interviewer asks about "
                f"metric {n % 97}.",
                "bad": f"A weak answer {n} that jumps to the model.",
                "good": f"A strong answer {n} that defines failure and the metric first.",
                "why": "Framing before mechanism.",
            }
        else:
            fields = {"not": f"focus {n}", "but": f"better focus {n}", "why": "Judgement."}
        note_rows.append(
            (
                n,
                f"syn-{n:07d}",
                (n % 10) + 1,
                "contrast" if contrast else "reframe",
                json.dumps(fields),
                f" syn t{n % 50} ",
                "",
                f"{n:064x}",
                n,
                created,
                created,
            )
        )
        for ord in range(2 if contrast else 1):
            card_id += 1
            if rng.random() < 0.2:
                card_rows.append(
                    (
                        card_id,
                        n,
                        (n % 10) + 1,
                        ord,
                        0,
                        None,
                        None,
                        None,
                        created,
                        None,
                        0,
                        0,
                        0,
                        None,
                    )
                )
                continue
            stability = rng.lognormvariate(3.0, 1.2)  # median about 20 days
            difficulty = rng.uniform(2, 9)
            # Elapsed time up to 1.08x stability: about 7% of studied cards are due today.
            last = now - timedelta(days=rng.uniform(0.5, min(730, stability * 1.08)))
            due = last + timedelta(days=max(1.0, stability))
            reps = rng.randint(6, 14)
            lapses = sum(1 for _ in range(reps) if rng.random() < 0.08)
            card_rows.append(
                (
                    card_id,
                    n,
                    (n % 10) + 1,
                    ord,
                    2,
                    None,
                    stability,
                    difficulty,
                    ts(due),
                    ts(last),
                    reps,
                    lapses,
                    0,
                    None,
                )
            )
            # Its history: `reps` answers spread over the two years before the last one.
            times = sorted(last - timedelta(days=rng.uniform(0, 730)) for _ in range(reps - 1))
            times.append(last)
            prev_due = now - timedelta(days=731)
            for i, when in enumerate(times):
                rating = rng.choices((1, 2, 3, 4), (10, 15, 65, 10))[0]
                after_due = when + timedelta(days=max(1.0, stability * (i + 1) / reps))
                log_rows.append(
                    (
                        card_id,
                        rating,
                        ts(when),
                        rng.randint(2000, 15000),
                        "review",
                        0 if i == 0 else 2,
                        None,
                        None if i == 0 else stability * i / reps,
                        None if i == 0 else difficulty,
                        ts(prev_due),
                        None if i == 0 else ts(times[i - 1]),
                        i,
                        0,
                        2,
                        None,
                        stability * (i + 1) / reps,
                        difficulty,
                        ts(after_due),
                        0,
                    )
                )
                prev_due = after_due
        if len(log_rows) > 200_000:
            _flush(conn, note_rows, card_rows, log_rows)
    _flush(conn, note_rows, card_rows, log_rows)
    conn.commit()
    # No ANALYZE: a user's collection has no planner statistics either.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def _flush(conn: sqlite3.Connection, notes: list, cards: list, logs: list) -> None:  # type: ignore[type-arg]
    conn.executemany(
        "INSERT INTO notes (id, guid, deck_id, kind, fields, tags, section, checksum, position,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        notes,
    )
    conn.executemany(
        "INSERT INTO cards (id, note_id, deck_id, ord, state, step, stability, difficulty, due,"
        " last_review, reps, lapses, suspended, buried_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        cards,
    )
    conn.executemany(
        "INSERT INTO review_log (card_id, rating, reviewed_at, duration_ms, source, state_before,"
        " step_before, stability_before, difficulty_before, due_before, last_review_before,"
        " reps_before, lapses_before, state_after, step_after, stability_after, difficulty_after,"
        " due_after, leeched) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        logs,
    )
    notes.clear()
    cards.clear()
    logs.clear()


def write_deck_file(path: Path, notes: int, prefix: str = "imp") -> Path:
    """A TOML deck file of `notes` contrast notes, for the import benchmark."""
    lines = ["[deck]", 'name = "Import benchmark"', ""]
    for n in range(1, notes + 1):
        lines += [
            "[[note]]",
            f'id = "{prefix}-{n:06d}"',
            'kind = "contrast"',
            f'tags = ["bench", "t{n % 20}"]',
            f'situation = "Imported situation {n}: what do you say first?"',
            f'bad = "Weak answer {n}."',
            f'good = "Strong answer {n}: define failure first."',
            'why = "Framing first."',
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def qa_texts(n: int) -> tuple[str, str]:
    """The front and back of the n-th plain two-field note of the side-by-side imports."""
    return (
        f"Synthetic situation {n}: the interviewer asks about metric {n % 97}.",
        f"A strong answer {n} that defines failure and the metric first.",
    )


def write_qa_deck(path: Path, notes: int, fmt: str) -> Path:
    """The same `notes` two-field notes as CSV (with Anki's header lines, so that Anki's own
    CSV import reads it as pmcards does), TOML or Markdown: what the side-by-side imports."""
    import csv
    import io

    if fmt == "csv":
        out = io.StringIO()
        out.write("#separator:comma\n#html:false\n#columns:Front,Back\n")
        writer = csv.writer(out, lineterminator="\n")
        for n in range(1, notes + 1):
            writer.writerow(qa_texts(n))
        text = out.getvalue()
    elif fmt == "toml":
        lines = ["[deck]", f'name = "{path.stem}"', ""]
        for n in range(1, notes + 1):
            front, back = qa_texts(n)
            lines += [
                "[[note]]",
                f'id = "qa-{n:07d}"',
                'kind = "qa"',
                f'front = "{front}"',
                f'back = "{back}"',
                "",
            ]
        text = "\n".join(lines)
    elif fmt == "md":
        lines = [f"# {path.stem}", ""]
        for n in range(1, notes + 1):
            front, back = qa_texts(n)
            lines += [f"Q: {front}", f"A: {back}", f"<!-- id: qa-{n:07d} -->", ""]
        text = "\n".join(lines)
    else:
        raise ValueError(fmt)
    path.write_text(text, encoding="utf-8")
    return path


def build_sql(path: Path, notes: int, now: datetime) -> Path:
    """The same shape as `build`, made by INSERT ... SELECT statements in SQLite itself (a
    million notes in about a minute where `build` takes twenty), for the scaling table. Its
    history is thinner: two answers per studied card instead of about ten (status and the
    first card read the log only for today's answers)."""
    import math

    conn = _fresh(path)

    def unit(n: int, salt: int) -> float:
        """A deterministic draw in [0, 1) for row n (a multiplicative hash: cheap)."""
        x = (n * 2654435761 + salt * 2246822519) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 2246822519) & 0xFFFFFFFF
        x ^= x >> 13
        return x / 4294967296

    def stability(n: int) -> float:
        """Log-normal, median about 20 days, as `build` draws it (Box-Muller)."""
        u, v = unit(n, 7) or 1e-9, unit(n, 8)
        gauss = math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)
        return math.exp(3.0 + 1.2 * gauss)

    def stamp(days_ago: float) -> str:
        return ts(now - timedelta(days=days_ago))

    conn.create_function("unit", 2, unit, deterministic=True)
    conn.create_function("stab", 1, stability, deterministic=True)
    conn.create_function("stamp", 1, stamp, deterministic=True)
    created = ts(now - timedelta(days=730))
    conn.executemany(
        "INSERT INTO decks (id, name, description, created_at) VALUES (?, ?, '', ?)",
        [(d, f"Synthetic deck {d:02d}", created) for d in range(1, 11)],
    )
    conn.execute("INSERT INTO settings (key, value) VALUES ('builtin_decks_imported', 'true')")
    conn.execute(
        """
        WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
        INSERT INTO notes (id, guid, deck_id, kind, fields, tags, section, checksum, position,
                           created_at, updated_at)
        SELECT n, printf('syn-%07d', n), n % 10 + 1,
               CASE WHEN unit(n, 1) < 0.9 THEN 'contrast' ELSE 'reframe' END,
               CASE WHEN unit(n, 1) < 0.9 THEN json_object(
                   'situation', printf('Synthetic situation %d: the interviewer asks about '
                                       || 'metric %d.', n, n % 97),
                   'bad', printf('A weak answer %d that jumps to the model.', n),
                   'good', printf('A strong answer %d that defines failure and the metric '
                                  || 'first.', n),
                   'why', 'Framing before mechanism.')
               ELSE json_object('not', printf('focus %d', n), 'but', printf('better focus %d', n),
                                'why', 'Judgement.') END,
               printf(' syn t%d ', n % 50), '', printf('%064x', n), n, ?, ?
        FROM seq
        """,
        (notes, created, created),
    )
    for ord in (0, 1):
        conn.execute(
            """
            INSERT INTO cards (note_id, deck_id, ord, state, step, stability, difficulty, due,
                               last_review, reps, lapses, suspended, buried_until)
            SELECT id, deck_id, ?, 0, NULL, NULL, NULL, ?, NULL, 0, 0, 0, NULL
            FROM notes WHERE ? = 0 OR kind = 'contrast'
            """,
            (ord, created, ord),
        )
    # 80% studied: review cards with a memory, about 7% of them due today.
    conn.execute(
        """
        UPDATE cards SET state = 2, stability = stab(id), difficulty = 2 + 7 * unit(id, 3),
            last_review = stamp(0.5 + unit(id, 4) * (min(730, stab(id) * 1.08) - 0.5)),
            reps = 6 + CAST(unit(id, 5) * 9 AS INTEGER), lapses = CAST(unit(id, 6) < 0.3 AS INTEGER)
        WHERE unit(id, 2) >= 0.2
        """
    )
    conn.execute(
        "UPDATE cards SET due = strftime('%Y-%m-%d %H:%M:%f000', last_review,"
        " printf('+%f days', max(1.0, stability))) WHERE state = 2"
    )
    for i in (1, 0):
        conn.execute(
            """
            INSERT INTO review_log (card_id, rating, reviewed_at, duration_ms, source,
                state_before, step_before, stability_before, difficulty_before, due_before,
                last_review_before, reps_before, lapses_before, state_after, step_after,
                stability_after, difficulty_after, due_after, leeched)
            SELECT id, 3, strftime('%Y-%m-%d %H:%M:%f000', last_review, printf('-%d days', ?)),
                   5000, 'review', 2, NULL, stability, difficulty, due, last_review,
                   reps - 1, lapses, 2, NULL, stability, difficulty, due, 0
            FROM cards WHERE state = 2
            """,
            (i * 30,),
        )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path
