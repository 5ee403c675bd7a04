"""Anki both ways, losslessly, judged by Anki's own engine (the `anki` package).

Anki → pmcards → Anki: a collection of 2,000 notes built with Anki's API
(`anki_tools.realistic_collection`: stock note types, a German one, a custom one, nested
clozes, 13,600 answers, FSRS memory computed by Anki, learning and relearning cards,
suspended, buried and flagged cards, a filtered deck; about a second to build, once for this
module) is imported into pmcards, every card compared with Anki's; pmcards' package of it
goes into a fresh Anki collection and is compared, field for field, with what Anki's own
package of the collection makes there; and into the collection it came from, where it
changes nothing.

pmcards → Anki → pmcards: notes of every kind, answered in pmcards, go into Anki (Anki's
review log has pmcards' ratings, and Anki's FSRS recomputes the memory pmcards has), come
back into the same collection (nothing changes) and into a new one (every note, card and
answer the same), and what was answered in Anki meanwhile merges.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from anki_tools import (
    cards_of,
    export_package,
    import_package,
    new_collection,
    notes_full,
    realistic_collection,
    revlog_of,
)
from click.testing import CliRunner
from fsrs import Rating
from helpers import NewDb, all_rows, card_of, count, set_card, write_deck
from sqlalchemy import select

from pmcards import answer, cardstate, clock, importer, markup, paths, queries, schema, settings
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW, Memory
from pmcards.cli import cli
from pmcards.exporters import exporter
from pmcards.formats import apkg
from pmcards.formats._anki import field_from_anki, guid_from_id
from pmcards.formats.options import ExportOptions, ParseOptions
from pmcards.rows import Card
from pmcards.store import Store

ANSWER_TYPES = (0, 1, 2, 3)


def run(*args: str, now: str | None = None) -> tuple[int, str]:
    env = {"PMCARDS_NOW": now} if now else {}
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)
    return result.exit_code, result.output


def today() -> date:
    """Anki's today: the study day of the real clock (Anki has no other), rollover 4."""
    return clock.study_day(datetime.now(UTC), 4).date


# -- Anki → pmcards → Anki ------------------------------------------------------------------


@dataclass(frozen=True)
class AnkiSource:
    folder: Path
    collection: Path  # the collection file, closed: tests open copies
    package: Path  # Anki's own package of it (with scheduling and media)
    today: int  # Anki's day number of today
    cards: dict[tuple[str, int], dict[str, Any]]
    revlog: dict[tuple[str, int], list[tuple[int, int, int, int]]]
    notes: dict[str, tuple[str, list[str], list[str]]]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> AnkiSource:
    folder = tmp_path_factory.mktemp("anki")
    col = realistic_collection(folder / "col")
    package = export_package(col, folder / "collection.apkg", legacy=False)
    found = AnkiSource(
        folder,
        Path(col.path),
        package,
        col.sched.today,
        cards_of(col),
        revlog_of(col),
        notes_full(col),
    )
    col.close()
    return found


def copy_of(source: AnkiSource, name: str) -> Any:
    """A copy of the source collection, open."""
    from anki.collection import Collection

    target = source.folder / name
    target.mkdir()
    shutil.copyfile(source.collection, target / "collection.anki2")
    media = source.collection.parent / "collection.media"
    if media.is_dir():
        shutil.copytree(media, target / "collection.media")
    return Collection(str(target / "collection.anki2"))


def import_into(store: Store, package: Path, now: datetime) -> importer.ImportReport:
    with store.write() as conn:
        return importer.apply(conn, importer.parse_files([package]), now)


def pm_cards(store: Store) -> dict[tuple[str, int], tuple[Card, list[tuple[int, int]]]]:
    """Every card of a pmcards collection by (Anki GUID, ordinal), with its answers as
    (time in milliseconds, rating)."""
    with store.read() as conn:
        notes = queries.scoped_notes(conn, queries.Scope())
        guids = {n.id: guid_from_id(n.guid) for n in notes}
        cards = queries.cards_of_notes(conn, guids)
        logs: dict[int, list[tuple[int, int]]] = {}
        for log in queries.logs_of_cards(conn, [c.id for c in cards]):
            millis = (log.reviewed_at - EPOCH) // timedelta(milliseconds=1)
            logs.setdefault(log.card_id, []).append((millis, log.rating))
    return {(guids[c.note_id], c.ord): (c, logs.get(c.id, [])) for c in cards}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_a_2000_note_anki_collection_comes_in_whole(source: AnkiSource, store: Store) -> None:
    now = datetime.now(UTC)
    report = import_into(store, source.package, now)
    assert report.total("added") == len(source.notes) == 2_000
    assert report.reviews_imported == sum(
        1 for log in source.revlog.values() for r in log if r[2] in ANSWER_TYPES
    )
    # One line for the one thing pmcards has no place for: the custom note type's field.
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith(
        f"{source.package}: note type 'Vocab': field 'Example' has no place in a pmcards note: "
        "not shown in pmcards, kept for the way back to Anki (60 notes, the first note "
    )
    ours = pm_cards(store)
    assert set(ours) == set(source.cards)
    end_of_today = clock.study_day(now, 4).end
    by_state: dict[int, int] = {}
    for key, anki in source.cards.items():
        card, log = ours[key]
        by_state[card.state] = by_state.get(card.state, 0) + 1
        assert card.state == anki["type"], key  # Anki's card types are pmcards' states
        assert (card.reps, card.lapses) == (anki["reps"], anki["lapses"]), key
        assert card.suspended == (anki["queue"] == -1), key
        assert card.buried_until == (end_of_today if anki["queue"] in (-2, -3) else None), key
        assert card.flag == anki["flags"], key
        answers = [(rid, ease) for rid, ease, rtype, _ in source.revlog.get(key, [])]
        assert log == answers, key
        if card.state == NEW:
            continue
        # Anki's own package may differ from its collection in the last place it keeps.
        assert card.stability == pytest.approx(anki["s"], abs=1.5e-4), key
        assert card.difficulty == pytest.approx(anki["d"], abs=1.5e-3), key
        assert card.last_review is not None
        # The log's time, to the millisecond; Anki's `lrt`, to the second it took it.
        assert abs(int(card.last_review.timestamp()) - anki["lrt"]) <= 1, key
        if anki["queue"] in (1, -1, -2, -3) and anki["due"] > 1_000_000_000:
            assert card.due == datetime.fromtimestamp(anki["due"], UTC), key
        else:
            due_day = today() + timedelta(days=anki["due"] - source.today)
            assert clock.study_day(card.due, 4).date == due_day, key
        if card.state in (LEARNING, RELEARNING):
            steps = 2 if card.state == LEARNING else 1  # pmcards' (and Anki's) default steps
            assert card.step == cardstate.step_from_remaining(anki["left"], steps), key
        else:
            assert card.step is None
    assert by_state == {NEW: 855, LEARNING: 40, REVIEW: 1_633, RELEARNING: 12}

    # The notes: kinds by note type, fields as pmcards keeps them, tags and decks as they are.
    with store.read() as conn:
        notes = {guid_from_id(n.guid): n for n in queries.scoped_notes(conn, queries.Scope())}
        deck_names = {d.id: d.name for d in queries.decks(conn)}
    kinds = {
        "Basic": "qa",
        "Einfach": "qa",
        "Vocab": "qa",
        "Basic (and reversed card)": "qa_reversed",
        "Cloze": "cloze",
        "Lückentext": "cloze",
    }
    home_of: dict[str, set[str]] = {}
    for (guid, _), anki in source.cards.items():
        home_of.setdefault(guid, set()).add(anki["deck"])
    for guid, (notetype, fields, tags) in source.notes.items():
        note = notes[guid]
        if notetype == "Basic (optional reversed card)":
            assert note.kind == ("qa_reversed" if fields[2] else "qa")
        else:
            assert note.kind == kinds[notetype], notetype
        first, second = ("text", "why") if note.kind == "cloze" else ("front", "back")
        assert note.fields[first] == field_from_anki(fields[0])[0]
        assert note.fields.get(second, "") == field_from_anki(fields[1])[0]
        assert sorted(note.tags) == tags
        assert {deck_names[note.deck_id]} == home_of[guid]
    escaped = next(n for n in notes.values() if n.fields.get("front", "").startswith("Escaped"))
    assert escaped.fields["front"].endswith("&lt;br&gt; stays text")  # text, not a tag
    inline = next(n for n in notes.values() if n.fields.get("front", "").startswith("Inline"))
    name = inline.fields["back"].split('"')[1]
    assert name.startswith("inline-") and (paths.media_dir(store.url) / name).is_file()


@pytest.mark.parametrize("look_up", [True, False], ids=["by-index", "whole-passes"])
def test_a_streamed_package_reads_as_it_does_whole(
    source: AnkiSource, monkeypatch: pytest.MonkeyPatch, look_up: bool
) -> None:
    """Streamed (`pmcards import` of a big package), the 2,000 notes come deck by deck, in
    the same decks and order, with the same cards, answers, warnings and media as read
    whole; a deck's notes are found by the package's indexes, or, in a package without
    them, picked out of a pass over all."""
    whole = apkg.parse(source.package)
    monkeypatch.setattr(apkg, "STREAM_FROM_BYTES", 0)
    if not look_up:
        monkeypatch.setattr(apkg, "_can_look_up", lambda conn: False)
    streamed = apkg.parse(source.package, ParseOptions("apkg", stream=True))
    assert len(streamed) > 1 and all(d.stream is not None and not d.notes for d in streamed)
    assert [(d.name, d.count()) for d in streamed] == [(d.name, len(d.notes)) for d in whole]
    for ours, theirs in zip(streamed, whole, strict=True):
        assert [n for batch in ours.batches() for n in batch] == theirs.notes
    assert streamed[0].warnings == whole[0].warnings != []
    assert [m.name for m in streamed[0].media] == [m.name for m in whole[0].media] != []


def test_a_streamed_package_imports_as_it_does_whole(
    source: AnkiSource, store: Store, new_db: NewDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row the import writes is the same, streamed or read whole."""
    now = datetime.now(UTC)
    import_into(store, source.package, now)
    monkeypatch.setattr(apkg, "STREAM_FROM_BYTES", 0)
    streamed = Store(new_db("streamed"))
    try:
        with streamed.write() as conn:
            parsed = importer.parse_files([source.package], stream=True)
            assert all(d.stream is not None for d in parsed)
            importer.apply(conn, parsed, now)
        for table in (schema.decks, schema.notes, schema.cards, schema.review_log):
            assert all_rows(streamed, table) == all_rows(store, table), table.name
        with store.read() as a, streamed.read() as b:
            query = select(schema.anki_notetypes).order_by(schema.anki_notetypes.c.id)
            assert a.execute(query).all() == b.execute(query).all()
    finally:
        streamed.close()  # a PostgreSQL connection left open fails the test at teardown


def test_anki_to_pmcards_to_anki_loses_nothing(source: AnkiSource, store: Store) -> None:
    """pmcards' package of the collection makes, in a fresh Anki collection, what Anki's
    own package of it makes there: the same notes under the same note types, the same
    fields to the byte, tags, decks, the same cards with the same scheduling, the same
    review log."""
    now = datetime.now(UTC)
    import_into(store, source.package, now)
    ours = source.folder / "ours.apkg"
    with store.read() as conn:
        options = ExportOptions(format="apkg", with_history=True, now=now)
        ours.write_bytes(exporter("apkg")(conn, options))
    judged = {}
    for name, package in (("theirs", source.package), ("ours", ours)):
        col = new_collection(source.folder / f"fresh-{name}")
        col.set_config("fsrs", True)
        log = import_package(col, package).log
        assert (len(log.new), len(log.conflicting)) == (2_000, 0)
        judged[name] = (notes_full(col), cards_of(col), revlog_of(col))
        col.close()
    (their_notes, their_cards, their_log), (our_notes, our_cards, our_log) = (
        judged["theirs"],
        judged["ours"],
    )
    assert our_notes == their_notes
    assert our_log == their_log
    assert set(our_cards) == set(their_cards)
    new_order: dict[str, list[tuple[int, tuple[str, int]]]] = {}
    for key, theirs in their_cards.items():
        mine = dict(our_cards[key])
        if theirs["type"] == 0:
            # New cards keep their order in each deck (positions are the collection's own).
            new_order.setdefault(theirs["deck"], []).append((theirs["due"], key))
            mine["due"] = theirs["due"]
        for name in ("s", "d"):
            if theirs[name] is not None:
                assert mine[name] == pytest.approx(theirs[name], abs=1e-4), key
                mine[name] = theirs[name]
        assert mine == theirs, key
    for deck, cards in new_order.items():
        by_ours = sorted(cards, key=lambda c: (our_cards[c[1]]["due"], c[1][1]))
        assert [k for _, k in sorted(cards)] == [k for _, k in by_ours], deck


def test_back_into_the_collection_it_came_from(source: AnkiSource, store: Store) -> None:
    """Exported back, notes from Anki update their own notes under their own note types:
    no conflict, no duplicated note type, no new card, with or without merging note types."""
    now = datetime.now(UTC)
    import_into(store, source.package, now)
    ours = source.folder / "back.apkg"
    with store.read() as conn:
        options = ExportOptions(format="apkg", with_history=True, now=now)
        ours.write_bytes(exporter("apkg")(conn, options))
    for merge in (False, True):
        col = copy_of(source, f"original-{merge}")
        notetypes = len(col.models.all_names_and_ids())
        from anki.import_export_pb2 import (
            ImportAnkiPackageOptions,
            ImportAnkiPackageRequest,
            ImportAnkiPackageUpdateCondition,
        )

        log = col.import_anki_package(
            ImportAnkiPackageRequest(
                package_path=str(ours),
                options=ImportAnkiPackageOptions(
                    with_scheduling=True,
                    merge_notetypes=merge,
                    update_notes=ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER,
                ),
            )
        ).log
        assert (len(log.new), len(log.updated), len(log.conflicting)) == (0, 0, 0)
        assert len(log.duplicate) == 2_000  # each one already there, unchanged
        assert len(col.models.all_names_and_ids()) == notetypes
        assert col.card_count() == len(source.cards)
        assert notes_full(col) == source.notes
        col.close()


# -- pmcards → Anki → pmcards -----------------------------------------------------------------

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Each card's answers: (day, hour, minute, rating). First answers at 9:00, later ones at noon,
# so that py-fsrs's elapsed days (whole days since the last answer) are Anki's study days.
HISTORY: dict[tuple[str, int], list[tuple[int, int, int, int]]] = {
    ("q1", 0): [(0, 9, 0, 3), (0, 9, 1, 3), (3, 12, 0, 2), (9, 12, 0, 1), (9, 12, 10, 3)],
    ("q1", 1): [(0, 9, 5, 4), (5, 12, 0, 3), (20, 12, 0, 3)],
    ("r1", 0): [(1, 9, 0, 2), (1, 9, 1, 3), (1, 9, 11, 3), (4, 12, 0, 4)],
    ("c1", 0): [(2, 9, 0, 3), (2, 9, 1, 3)],
    ("c1", 1): [(2, 9, 20, 1)],  # a learning card: Again, one step to go
    ("z1", 1): [(0, 9, 30, 3), (0, 9, 31, 3), (6, 12, 0, 1)],  # relearning after a lapse
    ("p1", 0): [(3, 9, 0, 3), (3, 9, 1, 3), (8, 12, 0, 3)],
    ("q2", 0): [(4, 9, 0, 3), (4, 9, 1, 3)],
}
TODAY = START + timedelta(days=20, hours=6)  # the export, the day of the last answers


def pmcards_collection(tmp_path: Path, store: Store) -> None:
    """Notes of every kind, with sections, tags Anki allows, HTML and a nested cloze,
    answered at the times of `HISTORY`; a card suspended, one buried by hand, one by its
    sibling's answer, two flagged."""
    deck = write_deck(
        tmp_path / "prep.toml",
        "Prep::Sub",
        [
            {
                "id": "q1",
                "kind": "qa_reversed",
                "section": "Metrics and guardrails",
                "tags": ["C++", "Q&A"],
                "front": "a < b & c",
                "back": "line one\nline two",
                "why": "because",
            },
            {"id": "q2", "kind": "qa", "front": "Use <b>bold</b>", "back": "ok", "tags": ["50%"]},
            {"id": "q3", "kind": "qa", "front": "Never studied", "back": "new", "section": "X"},
            {"id": "r1", "kind": "reframe", "not": "accuracy", "but": "tolerance", "why": "w"},
            {"id": "c1", "kind": "contrast", "situation": "S", "bad": "B", "good": "G"},
            {
                "id": "z1",
                "kind": "cloze",
                "text": "{{c1::Canberra is the capital of {{c2::Australia}}}}",
                "why": "nested",
            },
            {
                "id": "p1",
                "kind": "prompt",
                "prompt": "Design fraud detection.",
                "rubric": "- [errors] Both failures.\n- [metrics] A money metric.",
            },
        ],
    )
    with store.write() as conn:
        importer.apply(conn, importer.parse_files([deck]), START - timedelta(days=1))
    moments = sorted(
        (START.replace(hour=h, minute=m) + timedelta(days=d), guid, ord, rating)
        for (guid, ord), answers in HISTORY.items()
        for d, h, m, rating in answers
    )
    for when, guid, ord, rating in moments:
        card_id = card_of(store, guid, ord).id
        with store.write() as conn:
            config = settings.load(conn)
            until = clock.study_day(when, config.rollover_hour).end
            answer.answer(conn, config, None, card_id, Rating(rating), when, bury_until=until)
    with store.write() as conn:
        until = clock.study_day(TODAY, 4).end
        answer.bury(conn, [card_of(store, "q3", 0).id], until, TODAY)
        answer.suspend(conn, [card_of(store, "p1", 0).id])
    set_card(store, "q2", 0, flag=1)
    set_card(store, "r1", 0, flag=7)


def snapshot(store: Store) -> tuple[dict[str, Any], dict[tuple[str, int], Any]]:
    """Notes (deck, kind, fields, tags, section) and cards (card, answers) of a collection."""
    with store.read() as conn:
        decks = {d.id: d.name for d in queries.decks(conn)}
        notes = {
            n.guid: (decks[n.deck_id], n.kind, n.fields, n.tags, n.section)
            for n in queries.scoped_notes(conn, queries.Scope())
        }
    return notes, pm_cards(store)


def same_card(mine: Card, theirs: Card) -> None:
    """The same card as far as Anki's card can hold it (`cardstate.anki_equivalent`), and
    the same suspension, burial (a burial over is none) and flag."""
    day = clock.study_day
    assert cardstate.anki_equivalent(
        mine.memory, theirs.memory, lambda a, b: day(a, 4).date == day(b, 4).date
    ), (mine, theirs)

    def burial(card: Card) -> datetime | None:
        return card.buried_until if card.buried_until and card.buried_until > TODAY else None

    assert (mine.suspended, burial(mine), mine.flag) == (
        theirs.suspended,
        burial(theirs),
        theirs.flag,
    )


def anki_of(tmp_path: Path, package: Path, name: str = "anki") -> Any:
    col = new_collection(tmp_path / name)
    col.set_config("fsrs", True)
    log = import_package(col, package).log
    assert len(log.conflicting) == 0
    return col


def export_apkg(store: Store, path: Path, now: datetime = TODAY) -> Path:
    with store.read() as conn:
        path.write_bytes(
            exporter("apkg")(conn, ExportOptions(format="apkg", with_history=True, now=now))
        )
    return path


def test_pmcards_to_anki_keeps_ratings_memory_steps_and_state(tmp_path: Path, store: Store) -> None:
    pmcards_collection(tmp_path, store)
    package = export_apkg(store, tmp_path / "prep.apkg")
    with zipfile.ZipFile(package) as archive:
        archive.extract("collection.anki2", tmp_path)
    import sqlite3

    conf = json.loads(
        sqlite3.connect(tmp_path / "collection.anki2").execute("SELECT conf FROM col").fetchone()[0]
    )
    assert conf["schedVer"] == 2  # without it Anki rewrites learning answers (v1)
    col = anki_of(tmp_path, package)
    cards, log, notes = cards_of(col), revlog_of(col), notes_full(col)
    ours = pm_cards(store)
    for key, (card, answers) in ours.items():
        anki = cards[key]
        # Anki's review log has pmcards' ratings, at pmcards' times (ids are times).
        assert [(rid, ease) for rid, ease, _, _ in log.get(key, [])] == answers, key
        assert anki["type"] == card.state and anki["reps"] == card.reps, key
        assert anki["lapses"] == card.lapses and anki["flags"] == card.flag, key
        if card.state == NEW:
            continue
        cid = col.db.scalar(
            "select c.id from cards c join notes n on n.id = c.nid where n.guid = ? and c.ord = ?",
            *key,
        )
        # Anki's FSRS, replaying the log it was given, finds the memory pmcards has.
        computed = col.compute_memory_state(cid)
        assert computed.stability == pytest.approx(card.stability, rel=1e-5), key
        assert computed.difficulty == pytest.approx(card.difficulty, rel=1e-5), key
        assert anki["s"] == pytest.approx(card.stability, abs=1e-4), key
        assert anki["lrt"] == int(card.last_review.timestamp()), key  # type: ignore[union-attr]
        if card.state in (LEARNING, RELEARNING):
            steps = 2 if card.state == LEARNING else 1
            assert anki["left"] == cardstate.remaining_from_step(card.step, steps), key
    queues = {key[0] + str(key[1]): cards[key]["queue"] for key in cards}
    assert queues["c11"] == 1 and cards[("c1", 1)]["left"] == 2  # learning, 2 steps to go
    assert queues["z11"] == 1 and cards[("z1", 1)]["type"] == 3  # relearning
    assert queues["p10"] == -1  # suspended
    assert queues["q30"] == -3  # buried by hand
    assert queues["q10"] == -2 and queues["q11"] == 2  # buried by its sibling's answer
    assert cards[("q2", 0)]["flags"] == 1 and cards[("r1", 0)]["flags"] == 7
    # Notes under pmcards' note types, sections in their own field, tags as they are.
    assert notes["q1"] == (
        "pmcards Q/A and reversed",
        ["a &lt; b &amp; c", "line one<br>line two", "because", "Metrics and guardrails"],
        ["C++", "Q&A"],
    )
    assert notes["z1"][1][0] == "{{c1::Canberra is the capital of {{c2::Australia}}}}"
    assert {cards[("z1", 0)]["type"], cards[("z1", 1)]["type"]} == {0, 3}  # two cards
    col.close()


def test_pmcards_to_anki_to_pmcards_loses_nothing(
    tmp_path: Path, store: Store, new_db: NewDb
) -> None:
    pmcards_collection(tmp_path, store)
    col = anki_of(tmp_path, export_apkg(store, tmp_path / "prep.apkg"))
    back = export_package(col, tmp_path / "back.apkg", legacy=False)
    col.close()
    notes, cards = snapshot(store)

    # Into the collection it came from: nothing changes, nothing is rescheduled.
    with store.write() as conn:
        report = importer.apply(conn, importer.parse_files([back]), TODAY)
    assert report.total("unchanged") == len(notes) and report.total("updated") == 0
    assert (report.reviews_imported, report.cards_rescheduled, report.reviews_left_out) == (0, 0, 0)
    assert report.warnings == []
    after_notes, after_cards = snapshot(store)
    assert after_notes == notes
    assert {k: v for k, v in after_cards.items() if v != cards[k]} == {}

    # Into a new collection: the same notes, cards and answers.
    fresh = Store(new_db("fresh"))
    with fresh.write() as conn:
        report = importer.apply(conn, importer.parse_files([back]), TODAY)
    assert report.reviews_imported == sum(len(a) for a in HISTORY.values())
    fresh_notes, fresh_cards = snapshot(fresh)
    assert fresh_notes == notes
    assert set(fresh_cards) == set(cards)
    for key, (card, answers) in cards.items():
        theirs, their_answers = fresh_cards[key]
        assert their_answers == answers, key
        same_card(card, theirs)
    fresh.close()


def test_answers_given_in_anki_merge_and_the_rest_is_reported(tmp_path: Path, store: Store) -> None:
    pmcards_collection(tmp_path, store)
    col = anki_of(tmp_path, export_apkg(store, tmp_path / "prep.apkg"))
    # Studied in Anki since: two cards; one of them answered in pmcards too.
    ids = {
        guid: col.db.scalar(
            "select c.id from cards c join notes n on n.id = c.nid where n.guid = ? and c.ord = 0",
            guid,
        )
        for guid in ("q2", "r1")
    }
    for cid in ids.values():
        card = col.get_card(cid)
        card.start_timer()
        col.sched.answerCard(card, 3)
    in_anki = cards_of(col)
    back = export_package(col, tmp_path / "back.apkg", legacy=False)
    col.close()
    later = TODAY + timedelta(hours=2)
    card_id = card_of(store, "r1", 0).id
    with store.write() as conn:
        config = settings.load(conn)
        until = clock.study_day(later, 4).end
        answer.answer(conn, config, None, card_id, Rating.Good, later, bury_until=until)
    before = pm_cards(store)

    with store.write() as conn:
        report = importer.apply(conn, importer.parse_files([back]), later)
    assert report.reviews_imported == 1 and report.cards_rescheduled == 1
    assert (report.reviews_left_out, report.cards_left_out) == (1, 1)
    lines = importer.format_report(report, dry_run=False, prune=False)
    assert "Carried over 1 reviews of history." in lines
    assert (
        "Left out 1 reviews of 1 cards in the package: those cards were answered here since "
        "(or the reviews are older than their history here), and keep their schedule here."
    ) in lines
    after = pm_cards(store)
    card, answers = after[("q2", 0)]
    assert len(answers) == len(before[("q2", 0)][1]) + 1  # Anki's answer, merged
    assert card.stability == in_anki[("q2", 0)]["s"] and card.reps == in_anki[("q2", 0)]["reps"]
    assert after[("r1", 0)] == before[("r1", 0)]  # answered here since: keeps its own
    from pmcards import check

    with store.read() as conn:
        assert check.run(conn, store.location, later).problems == []
    # The change of memory no answer here made is on record, for `check` to explain.
    assert count(store, schema.card_changes, schema.card_changes.c.source == "import") == 1


def test_a_first_import_adds_no_built_in_decks_and_keeps_all_history(
    tmp_path: Path, store: Store, collection_url: str
) -> None:
    pmcards_collection(tmp_path, store)
    package = export_apkg(store, tmp_path / "prep.apkg")
    # A fresh install whose first command is importing the user's own package.
    code, output = run("import", str(package), now=TODAY.isoformat())
    assert code == 0, output
    reviews = sum(len(a) for a in HISTORY.values())
    assert f"Carried over {reviews} reviews of history." in output
    assert (
        "The built-in decks were not added: this collection began with an import. "
        "Add them any time with: pmcards import --builtin"
    ) in output
    home = Store(collection_url)
    assert (count(home, schema.notes), count(home, schema.review_log)) == (7, reviews)
    home.close()
    assert run("status", now=TODAY.isoformat())[0] == 0  # first use is done: still 7 notes
    home = Store(collection_url)
    assert count(home, schema.notes) == 7
    home.close()
    code, output = run("import", "--builtin", now=TODAY.isoformat())
    assert code == 0 and "The built-in decks were not added" not in output
    home = Store(collection_url)
    assert count(home, schema.notes) > 7 and count(home, schema.review_log) == reviews
    home.close()


def test_a_deck_renamed_in_anki_is_followed(tmp_path: Path, store: Store) -> None:
    pmcards_collection(tmp_path, store)
    col = anki_of(tmp_path, export_apkg(store, tmp_path / "prep.apkg"))
    deck = col.decks.by_name("Prep::Sub")
    deck["name"] = "Interview::Prep"
    col.decks.save(deck)
    back = export_package(col, tmp_path / "back.apkg", legacy=False)
    col.close()
    with store.write() as conn:
        report = importer.apply(conn, importer.parse_files([back]), TODAY)
    (result,) = report.decks
    assert result.deck == "Interview::Prep" and len(result.unchanged) == 7
    assert result.notices == ["7 notes moved here from deck 'Prep::Sub', as in Anki"]
    with store.read() as conn:
        decks = {d.id: d.name for d in queries.decks(conn)}
        assert {decks[c.deck_id] for c in queries.cards_of_notes(conn, range(1, 8))} == {
            "Interview::Prep"
        }


# -- what Anki users have --------------------------------------------------------------------


def test_a_v1_scheduler_package_is_read_as_anki_reads_it(tmp_path: Path, store: Store) -> None:
    """No `schedVer` (or 1): Anki converts learning answers (2 Good → 3, 3 Easy → 4) and
    relearning cards; pmcards reads the package the same, judged by Anki's own import."""
    import sqlite3

    pmcards_collection(tmp_path, store)
    package = export_apkg(store, tmp_path / "prep.apkg")
    v1 = tmp_path / "v1.apkg"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(v1, "w") as dst:
        for member in src.namelist():
            data = src.read(member)
            if member == "collection.anki2":
                db_path = tmp_path / "v1.anki2"
                db_path.write_bytes(data)
                db = sqlite3.connect(db_path)
                conf = json.loads(db.execute("SELECT conf FROM col").fetchone()[0])
                del conf["schedVer"]
                db.execute("UPDATE col SET conf = ?", (json.dumps(conf),))
                # v1 had three buttons in learning: what v2 calls Good was 2, Easy 3.
                db.execute(
                    "UPDATE revlog SET ease = ease - 1 WHERE ease IN (3, 4) AND type IN (0, 2)"
                )
                db.commit()
                db.close()
                data = db_path.read_bytes()
            dst.writestr(member, data)
    col = anki_of(tmp_path, v1, "anki-v1")
    anki_log = revlog_of(col)
    col.close()
    decks = apkg.parse(v1)
    assert any("old (v1) scheduler" in w for w in decks[0].warnings)
    for note in (n for d in decks for n in d.notes):
        for card in note.cards:
            key = (guid_from_id(note.guid), card.ord)
            assert [r.rating for r in card.reviews] == [e for _, e, _, _ in anki_log.get(key, [])]


def test_image_occlusion_is_refused_with_one_warning(tmp_path: Path) -> None:
    col = new_collection(tmp_path / "anki")
    col.add_image_occlusion_notetype()
    occlusion = col.models.by_name("Image Occlusion")
    image = col.media.write_data("map.png", b"\x89PNG fake")
    for i in range(3):
        note = col.new_note(occlusion)
        note["Occlusion"] = "{{c1::image-occlusion:rect:left=.1:top=.1:width=.2:height=.2}}"
        note["Image"] = f'<img src="{image}">'
        note["Header"] = f"Map {i}"
        col.add_note(note, 1)
    basic = col.new_note(col.models.by_name("Basic"))
    basic["Front"], basic["Back"] = "kept", "yes"
    col.add_note(basic, 1)
    package = export_package(col, tmp_path / "io.apkg", legacy=False)
    col.close()
    decks = apkg.parse(package)
    assert [n.fields for d in decks for n in d.notes] == [{"front": "kept", "back": "yes"}]
    (line,) = [w for w in decks[0].warnings if "occlusion" in w]
    assert line.startswith(
        f"{package}: note type 'Image Occlusion': an image occlusion: pmcards cannot show masks "
        "over an image: not imported (3 notes, the first note "
    )


def test_warnings_are_one_line_per_note_type_and_field(tmp_path: Path) -> None:
    from anki.collection import AddNoteRequest
    from anki.decks import DeckId

    col = new_collection(tmp_path / "anki")
    custom = col.models.new("Lecture")
    for name in ("Front", "Back", "Page", "Source"):
        col.models.add_field(custom, col.models.new_field(name))
    template = col.models.new_template("Card 1")
    template["qfmt"], template["afmt"] = "{{Front}}", "{{Back}}"
    col.models.add_template(custom, template)
    col.models.add_dict(custom)
    custom = col.models.by_name("Lecture")
    requests = []
    for i in range(449):
        note = col.new_note(custom)
        note["Front"], note["Back"], note["Page"], note["Source"] = f"q{i}", "a", str(i), "book"
        requests.append(AddNoteRequest(note=note, deck_id=DeckId(1)))
    col.add_notes(requests)
    package = export_package(col, tmp_path / "lecture.apkg", legacy=False)
    col.close()
    decks = apkg.parse(package)
    assert sum(len(d.notes) for d in decks) == 449
    assert [w.split(" (449 notes")[0] for w in decks[0].warnings] == [
        f"{package}: note type 'Lecture': field 'Page' has no place in a pmcards note: not shown "
        "in pmcards, kept for the way back to Anki",
        f"{package}: note type 'Lecture': field 'Source' has no place in a pmcards note: not "
        "shown in pmcards, kept for the way back to Anki",
    ]


def test_csv_and_tsv_exports_import_into_anki_one_note_each(tmp_path: Path) -> None:
    """Anki's own CSV importer, given pmcards' CSV or TSV of the built-in decks, makes one
    note per pmcards note, every kind included; and pmcards reads the file back."""
    from anki.import_export_pb2 import ImportCsvRequest

    assert run("import", "--builtin")[0] == 0
    store = Store(paths.resolve_db_url(None))
    with store.read() as conn:
        notes = queries.scoped_notes(conn, queries.Scope())
    store.close()
    kinds = {n.kind for n in notes}
    assert kinds == {"qa", "qa_reversed", "reframe", "contrast", "cloze", "prompt"}
    for fmt in ("csv", "tsv"):
        path = tmp_path / f"all.{fmt}"
        assert run("export", fmt, "-o", str(path))[0] == 0
        col = new_collection(tmp_path / f"anki-{fmt}")
        metadata = col.get_csv_metadata(str(path), None)
        log = col.import_csv(ImportCsvRequest(path=str(path), metadata=metadata)).log
        assert len(log.new) == len(notes) and col.note_count() == len(notes)
        assert not (log.missing_notetype or log.missing_deck or log.empty_first_field)
        anki = notes_full(col)
        for note in notes:
            notetype, fields, tags = anki[guid_from_id(note.guid)]
            assert tags == sorted(note.user_tags)
            html = {k: markup.to_anki_html(v) for k, v in note.fields.items()}
            if note.kind == "qa":
                assert notetype == "Basic" and fields[0] == html["front"]
            elif note.kind == "cloze":
                assert notetype == "Cloze" and fields[0] == html["text"]
            elif note.kind == "reframe":
                assert notetype == "Basic" and fields[0] == f"Not {html['not']}, but …?"
        col.close()
        # pmcards reads its own file back: the same notes.
        parsed = {n.guid: n for d in importer.parse_files([path]) for n in d.notes}
        assert {g: (n.kind, n.fields, n.section) for g, n in parsed.items()} == {
            n.guid: (n.kind, n.fields, n.section) for n in notes
        }


def test_ankis_text_export_follows_the_package_rules(source: AnkiSource, tmp_path: Path) -> None:
    """Anki's "Notes in Plain Text" of the 2,000 notes imports, the Vocab field reported
    once; a row over the limit is cut and one with an empty Back skipped, with a warning,
    where pmcards' own files are refused."""
    col = copy_of(source, "text-export")
    out = tmp_path / "notes.txt"
    col.export_note_csv(
        out_path=str(out),
        limit=None,
        with_html=True,
        with_tags=True,
        with_deck=True,
        with_notetype=True,
        with_guid=True,
    )
    col.close()
    text = out.read_text(encoding="utf-8")
    lines = text.split("\n")
    basic = [i for i, line in enumerate(lines) if line.split("\t")[1:2] == ["Basic"]]
    # One field over the limit, one Back emptied.
    long, empty = basic[0], basic[1]
    cells = lines[long].split("\t")
    cells[4] = "x" * 20_050
    lines[long] = "\t".join(cells)
    cells = lines[empty].split("\t")
    cells[4] = ""
    lines[empty] = "\t".join(cells)
    out.write_text("\n".join(lines), encoding="utf-8")
    decks = importer.parse_files([out])
    assert sum(len(d.notes) for d in decks) == 1_999
    warnings = [w.split(" (")[0] for w in decks[0].warnings]
    assert f"{out}: note type 'Vocab': field 3 has no place in a pmcards note: not kept" in warnings
    assert any("field 'back' cut to 20,000 characters" in w for w in warnings)
    assert any("empty back: not imported" in w for w in warnings)
    assert all(d.from_anki for d in decks)


# -- the conversions -------------------------------------------------------------------------


def test_steps_left_and_step_index_as_anki_converts_them() -> None:
    assert [cardstate.step_from_remaining(left, 2) for left in (2, 1, 0, 3, 1002)] == [
        0,
        1,
        1,
        0,
        0,
    ]
    assert [cardstate.remaining_from_step(step, 2) for step in (0, 1)] == [2, 1]
    assert cardstate.step_from_remaining(2, 3) == 1  # another count of steps: by steps left
    assert cardstate.remaining_from_step(None, 2) == 0


def test_memories_equal_to_what_anki_can_hold() -> None:
    t = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)
    mine = Memory(REVIEW, None, 12.345678, 5.4321, t + timedelta(days=3), t, 4, 1)
    same_day = lambda a, b: clock.study_day(a, 4).date == clock.study_day(b, 4).date  # noqa: E731
    anki = Memory(
        REVIEW,
        None,
        12.3457,
        5.432,
        t.replace(hour=4, minute=0) + timedelta(days=3),
        t.replace(microsecond=0),
        4,
        1,
    )
    assert cardstate.anki_equivalent(mine, anki, same_day)
    assert not cardstate.anki_equivalent(
        mine, Memory(**{**anki.__dict__, "stability": 12.36}), same_day
    )
    assert not cardstate.anki_equivalent(
        mine, Memory(**{**anki.__dict__, "due": t + timedelta(days=4)}), same_day
    )
    assert not cardstate.anki_equivalent(mine, Memory(**{**anki.__dict__, "reps": 5}), same_day)


def test_a_note_whose_kind_changed_in_anki_keeps_its_history_here(
    tmp_path: Path, store: Store
) -> None:
    from pmcards.formats.parsed import ParsedDeck, ParsedNote

    pmcards_collection(tmp_path, store)
    before = pm_cards(store)
    changed = ParsedNote(
        guid="q2", kind="cloze", fields={"text": "{{c1::x}}"}, tags=(), section="", line=None
    )
    deck = ParsedDeck(path="a.apkg", name="Prep::Sub", notes=[changed], from_anki=True)
    with store.write() as conn:
        report = importer.apply(conn, [deck], TODAY)
    assert report.warnings == [
        "a.apkg: note 'q2' changed from a 'qa' note to a 'cloze' note in Anki: not updated "
        "(its cards would not match their history here)"
    ]
    assert pm_cards(store) == before


def test_a_dry_run_of_a_merge_says_what_it_would_do_and_does_nothing(
    tmp_path: Path, store: Store
) -> None:
    pmcards_collection(tmp_path, store)
    col = anki_of(tmp_path, export_apkg(store, tmp_path / "prep.apkg"))
    cid = col.db.scalar(
        "select c.id from cards c join notes n on n.id = c.nid where n.guid = 'q2' and c.ord = 0"
    )
    card = col.get_card(cid)
    card.start_timer()
    col.sched.answerCard(card, 3)
    back = export_package(col, tmp_path / "back.apkg", legacy=False)
    col.close()
    before = snapshot(store)
    with store.read() as conn:
        report = importer.apply(conn, importer.parse_files([back]), TODAY, dry_run=True)
    assert (report.reviews_imported, report.cards_rescheduled) == (1, 1)
    assert snapshot(store) == before


def test_a_burial_from_an_earlier_day_is_over(tmp_path: Path, store: Store, new_db: NewDb) -> None:
    """As in Anki, a card is buried until the next study day: a package read a day later
    buries nothing (the day of the burial is the card's modification time)."""
    pmcards_collection(tmp_path, store)
    package = export_apkg(store, tmp_path / "prep.apkg")
    for day, buried in ((TODAY, {("q1", 0), ("q3", 0)}), (TODAY + timedelta(days=1), set())):
        fresh = Store(new_db("fresh"))
        with fresh.write() as conn:
            importer.apply(conn, importer.parse_files([package]), day)
        found = {k for k, (card, _) in pm_cards(fresh).items() if card.buried_until is not None}
        assert found == buried, day
        fresh.close()


# -- elapsed time on the study-day grid (issue 13) -------------------------------------------

# (day, hour, minute, rating) from GRID_START, UTC (the tests' zone), rollover at 04:00.
GRID_HISTORY: dict[str, list[tuple[int, int, int, int]]] = {
    # An evening learner: each next-day answer 23.6-23.8 hours after the one before.
    "g1": [(0, 19, 0, 3), (0, 19, 10, 3), (1, 18, 48, 3), (2, 18, 40, 3), (3, 18, 30, 3)],
    # A lapse 23.7 hours later, its relearning step, Hard and Easy short of whole days.
    "g2": [
        *[(0, 19, 0, 3), (0, 19, 10, 3), (1, 18, 50, 1), (1, 19, 0, 3), (2, 18, 55, 2)],
        (4, 18, 0, 4),
    ],
    # Across the rollover: 20 minutes apart but a study day apart; then 16 hours, same day.
    "g3": [(0, 3, 40, 3), (0, 3, 50, 3), (0, 4, 10, 3), (0, 20, 0, 3), (1, 4, 5, 3)],
    # After midnight is still the evening's study day; 90 minutes later is the next one.
    "g4": [(0, 23, 30, 3), (0, 23, 40, 3), (1, 3, 30, 3), (1, 5, 0, 3), (2, 4, 30, 4)],
}
GRID_START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def test_elapsed_days_on_the_study_day_grid_agree_with_ankis_fsrs(
    tmp_path: Path, store: Store
) -> None:
    """Answers on consecutive study days less than 24 hours apart, and answers either side
    of the rollover, give the memory Anki's FSRS computes from the same review log; counting
    raw hours (py-fsrs floors them to whole days) gives a different one for every sequence."""
    from fsrs import Card as FsrsCard
    from fsrs import Scheduler

    deck = write_deck(
        tmp_path / "grid.toml",
        "Grid",
        [{"id": g, "kind": "qa", "front": g, "back": "b"} for g in GRID_HISTORY],
    )
    with store.write() as conn:
        importer.apply(conn, importer.parse_files([deck]), GRID_START - timedelta(days=1))
    moments = sorted(
        (GRID_START + timedelta(days=d, hours=h, minutes=m), guid, rating)
        for guid, answers in GRID_HISTORY.items()
        for d, h, m, rating in answers
    )
    for when, guid, rating in moments:
        card_id = card_of(store, guid).id
        with store.write() as conn:
            config = settings.load(conn)
            until = clock.study_day(when, config.rollover_hour).end
            answer.answer(conn, config, None, card_id, Rating(rating), when, bury_until=until)
    package = export_apkg(store, tmp_path / "grid.apkg", GRID_START + timedelta(days=6))
    col = anki_of(tmp_path, package)
    config = settings.Settings(fuzz=False)
    raw = Scheduler(
        parameters=config.fsrs_parameters(),
        learning_steps=config.learning_step_deltas(),
        relearning_steps=config.relearning_step_deltas(),
        enable_fuzzing=False,
    )
    for guid, answers in GRID_HISTORY.items():
        card = card_of(store, guid)
        cid = col.db.scalar(
            "select c.id from cards c join notes n on n.id = c.nid where n.guid = ?", guid
        )
        computed = col.compute_memory_state(cid)
        assert card.stability == pytest.approx(computed.stability, rel=1e-5), guid
        assert card.difficulty == pytest.approx(computed.difficulty, rel=1e-5), guid
        # The same answers on raw hours: another memory, so the sequences test the grid.
        fcard = FsrsCard()
        for d, h, m, rating in answers:
            fcard, _ = raw.review_card(
                fcard, Rating(rating), GRID_START + timedelta(days=d, hours=h, minutes=m)
            )
        assert fcard.stability != pytest.approx(computed.stability, rel=1e-3), guid


def test_a_learning_step_past_the_rollover_goes_to_anki_counted_in_days(
    tmp_path: Path, store: Store
) -> None:
    """Ten minutes from 03:55 end after the 04:00 rollover, on the next study day: Anki's
    answer would make that step a day-learning card (queue 3, due as a day number), and its
    package holds it so; the same step at noon stays in the learning queue, due by time."""
    deck = write_deck(
        tmp_path / "steps.toml",
        "Steps",
        [{"id": g, "kind": "qa", "front": g, "back": "b"} for g in ("late", "noon")],
    )
    with store.write() as conn:
        importer.apply(conn, importer.parse_files([deck]), GRID_START - timedelta(days=1))
    for guid, when in (
        ("late", GRID_START.replace(hour=3, minute=55)),
        ("noon", GRID_START.replace(hour=12)),
    ):
        with store.write() as conn:
            config = settings.load(conn)
            until = clock.study_day(when, config.rollover_hour).end
            answer.answer(
                conn, config, None, card_of(store, guid).id, Rating.Good, when, bury_until=until
            )
    package = export_apkg(store, tmp_path / "steps.apkg", GRID_START.replace(hour=13))
    cards = cards_of(anki_of(tmp_path, package))
    late, noon = cards[("late", 0)], cards[("noon", 0)]
    assert (late["type"], late["queue"], late["left"]) == (1, 3, 1)
    assert (noon["type"], noon["queue"], noon["left"]) == (1, 1, 1)
    assert noon["due"] == int(GRID_START.replace(hour=12, minute=10).timestamp())
