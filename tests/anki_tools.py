"""Build real Anki collections and packages with Anki's own engine (the `anki` package)."""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

import pytest

anki_collection = pytest.importorskip("anki.collection")


def new_collection(folder: Path) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    return anki_collection.Collection(str(folder / "collection.anki2"))


def sample_collection(folder: Path) -> Any:
    """Basic, reversed and cloze notes in a deck and subdeck, tags, HTML, media, 2 answers."""
    col = new_collection(folder)
    child = col.decks.id("Parent::Child")
    basic = col.models.by_name("Basic")
    note = col.new_note(basic)
    note["Front"] = "Q <b>bold</b>"
    note["Back"] = "A &amp; B<br>line two"
    note.tags = ["t1", "a#b"]
    col.add_note(note, child)
    reverse = col.new_note(col.models.by_name("Basic (and reversed card)"))
    reverse["Front"] = "F2"
    reverse["Back"] = "B2"
    col.add_note(reverse, child)
    cloze = col.new_note(col.models.by_name("Cloze"))
    cloze["Text"] = "{{c1::Paris}} is in {{c2::France}}"
    cloze["Back Extra"] = "geo"
    col.add_note(cloze, col.decks.id("Other"))
    name = col.media.write_data("pic.png", b"\x89PNG fake")
    image = col.new_note(basic)
    image["Front"] = f'<img src="{name}">'
    image["Back"] = "an image"
    col.add_note(image, child)
    col.decks.select(child)
    for _ in range(2):
        card = col.sched.getCard()
        col.sched.answerCard(card, 3)
    return col


def export_package(col: Any, path: Path, *, legacy: bool) -> Path:
    from anki.import_export_pb2 import ExportAnkiPackageOptions

    col.export_anki_package(
        out_path=str(path),
        options=ExportAnkiPackageOptions(with_scheduling=True, with_media=True, legacy=legacy),
        limit=None,
    )
    return path


def import_package(col: Any, path: Path) -> Any:
    from anki.import_export_pb2 import (
        ImportAnkiPackageOptions,
        ImportAnkiPackageRequest,
        ImportAnkiPackageUpdateCondition,
    )

    return col.import_anki_package(
        ImportAnkiPackageRequest(
            package_path=str(path),
            options=ImportAnkiPackageOptions(
                with_scheduling=True,
                update_notes=ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_ALWAYS,
            ),
        )
    )


def notes_of(col: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for nid in col.find_notes(""):
        note = col.get_note(nid)
        out[note.guid] = {
            "type": note.note_type()["name"],
            "fields": list(note.fields),
            "tags": sorted(note.tags),
            "decks": sorted({col.decks.name(c.did) for c in note.cards()}),
            "cards": [(c.ord, c.type, c.reps) for c in sorted(note.cards(), key=lambda c: c.ord)],
        }
    return out


# -- a realistic collection, built with Anki's own API -------------------------------------

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
TAGS = ("C++", "c#", "Q&A", "50%", "lang::es", "ml::metrics", "leech-ish")


def realistic_collection(folder: Path, *, notes: int = 2_000, seed: int = 7) -> Any:
    """A collection as an Anki user has one, every part of it made by Anki's engine: `notes`
    notes in nested decks, of the stock note types (one of them renamed as German Anki names
    it), a custom note type with a field pmcards has no place for, nested clozes, HTML, a
    tag typed as text, an inlined image, tags Anki allows (`C++`, `Q&A`); FSRS on; about
    two thirds of the cards studied over the past months (their review log written first,
    then each card's memory computed by Anki's FSRS from it and its due date set from that,
    as Anki's "reschedule cards on change" does), some answered now by Anki's scheduler
    (learning and relearning cards with their steps left); suspended, buried (by hand and
    by a sibling), flagged cards; and a filtered deck holding some."""
    from anki.cards import FSRSMemoryState as FsrsMemoryState
    from anki.collection import AddNoteRequest

    rng = random.Random(seed)
    col = new_collection(folder)
    col.set_config("fsrs", True)
    basic = col.models.by_name("Basic")
    reverse = col.models.by_name("Basic (and reversed card)")
    optional = col.models.by_name("Basic (optional reversed card)")
    cloze = col.models.by_name("Cloze")
    # German Anki's stock Basic: its names translated, its stock kind the same.
    german = col.models.copy(basic, add=False)
    german["name"] = "Einfach"
    german["flds"][0]["name"], german["flds"][1]["name"] = "Vorderseite", "Rückseite"
    german["tmpls"][0]["qfmt"] = "{{Vorderseite}}"
    german["tmpls"][0]["afmt"] = "{{FrontSide}}<hr id=answer>{{Rückseite}}"
    col.models.add_dict(german)
    german = col.models.by_name("Einfach")
    lueckentext = col.models.copy(cloze, add=False)
    lueckentext["name"] = "Lückentext"
    lueckentext["flds"][1]["name"] = "Rückseite Extra"
    lueckentext["tmpls"][0]["afmt"] = "{{cloze:Text}}<br>{{Rückseite Extra}}"
    col.models.add_dict(lueckentext)
    lueckentext = col.models.by_name("Lückentext")
    vocab = col.models.new("Vocab")
    for name in ("Word", "Meaning", "Example"):
        col.models.add_field(vocab, col.models.new_field(name))
    template = col.models.new_template("Recognise")
    template["qfmt"], template["afmt"] = "{{Word}}", "{{FrontSide}}<hr id=answer>{{Meaning}}"
    col.models.add_template(vocab, template)
    col.models.add_dict(vocab)
    vocab = col.models.by_name("Vocab")
    decks = [col.decks.id(n) for n in ("Spanish", "Spanish::Verbs", "ML::Metrics", "ML", "Misc")]
    image = col.media.write_data("chart.png", PNG)
    inline = '<img src="data:image/png;base64,' + base64.b64encode(PNG).decode() + '">'

    requests = []
    for i in range(notes):
        share = i % 100
        if share < 58:
            model, values = basic, [f"Q{i} <b>bold</b> &amp; more", f"A{i}<br>line two"]
        elif share < 70:
            model, values = reverse, [f"Front {i}", f"Back {i}"]
        elif share < 76:
            model, values = optional, [f"Term {i}", f"Definition {i}", "y" if i % 2 else ""]
        elif share < 88:
            text = (
                f"{{{{c1::Canberra {i}}}}} is the capital of {{{{c2::Australia}}}}"
                if share % 2
                else f"{{{{c1::Canberra {i} is the capital of {{{{c2::Australia}}}}}}}}"
            )
            model, values = cloze, [text, f"extra {i}"]
        elif share < 92:
            model, values = german, [f"Frage {i}", f"Antwort {i}"]
        elif share < 94:
            model, values = lueckentext, [f"Die {{{{c1::Hauptstadt}}}} ist {i}", f"Extra {i}"]
        elif share < 97:
            model, values = vocab, [f"palabra {i}", f"word {i}", f"<i>example {i}</i>"]
        elif share == 97:
            model, values = basic, [f"Escaped {i}: &lt;br&gt; stays text", "typed as text"]
        elif share == 98:
            model, values = basic, [f"Chart {i}", f'<img src="{image}">']
        else:
            model, values = basic, [f"Inline {i}", inline]
        note = col.new_note(model)
        for n, value in enumerate(values):
            note.fields[n] = value
        note.tags = rng.sample(TAGS, rng.randint(0, 2))
        requests.append(AddNoteRequest(note=note, deck_id=decks[i % len(decks)]))
    col.add_notes(requests)

    # Two thirds of the cards studied over the past months: their log, then Anki's memory.
    cards = col.db.list("select id from cards order by id")
    studied = [cid for cid in cards if rng.random() < 0.66]
    today = col.sched.today
    day_start = col.sched.day_cutoff - 86_400
    rows = []
    plans = {}
    for cid in studied:
        day = rng.randint(30, 240)  # days ago of the first answer
        at = day_start - day * 86_400 + rng.randint(3_600, 36_000)  # seconds, on that day
        history = [(at, 3, 0), (at + 600, 3, 0)]  # learning steps: Good, Good
        interval, lapses = 2.0, 0
        while True:
            gap = max(1, round(interval * rng.uniform(0.9, 1.4)))
            if day - gap <= 0:
                break
            day -= gap
            at = day_start - day * 86_400 + rng.randint(3_600, 36_000)
            rating = rng.choices((1, 2, 3, 4), (10, 10, 70, 10))[0]
            history.append((at, rating, 1))
            if rating == 1:
                lapses += 1
                history.append((at + 600, 3, 2))  # a relearning step
                interval = max(1.0, interval / 3)
            else:
                interval *= {2: 1.3, 3: 2.4, 4: 3.2}[rating]
        plans[cid] = (history, lapses)
        for when, rating, kind in history:
            rows.append(
                (when * 1000 + rng.randint(0, 999), cid, -1, rating, 1, 0, 2500, 4000, kind)
            )
    used: set[int] = set()
    unique = []
    for row in sorted(rows):
        rid = row[0]
        while rid in used:
            rid += 1
        used.add(rid)
        unique.append((rid, *row[1:]))
    # Whole numbers only: a few statements of many rows (one per row takes a minute).
    for start in range(0, len(unique), 2_000):
        rows_sql = ",".join(
            "(" + ",".join(str(int(v)) for v in row) + ")" for row in unique[start : start + 2_000]
        )
        col.db.execute(
            "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type) values "
            + rows_sql
        )
    updated = []
    for cid in studied:
        history, lapses = plans[cid]
        memory = col.compute_memory_state(cid)
        card = col.get_card(cid)
        last = max(when for when, _, _ in history)
        last_day = today - ((day_start - last) // 86_400 + 1)  # the study day it fell on
        interval = max(1, round(memory.stability or 1))
        card.type, card.queue = 2, 2  # CARD_TYPE_REV, QUEUE_TYPE_REV
        card.ivl, card.due = interval, last_day + interval
        card.reps, card.lapses, card.factor = len(history), lapses, 2500
        card.memory_state = FsrsMemoryState(
            stability=memory.stability, difficulty=memory.difficulty
        )
        card.decay = memory.decay
        card.last_review_time = last
        updated.append(card)
    col.update_cards(updated)

    # Answered now by Anki's own scheduler: learning and relearning cards; with siblings
    # buried by the answers (Anki's option), as pmcards buries them.
    options = col.decks.config_dict_for_deck_id(decks[0])
    options["new"]["bury"] = options["rev"]["bury"] = True
    col.decks.update_config(options)
    new = [cid for cid in cards if cid not in plans]
    for cid in new[:30]:
        card = col.get_card(cid)
        card.start_timer()
        col.sched.answerCard(card, 1 if cid % 2 else 3)
    for cid in studied[:12]:
        card = col.get_card(cid)
        card.start_timer()
        col.sched.answerCard(card, 1)
    pairs = col.db.list(
        "select min(id) from cards where type = 0 and queue = 0 group by nid having count() = 2"
    )
    for cid in pairs[:10]:  # its sibling is buried by the answer
        card = col.get_card(cid)
        card.start_timer()
        col.sched.answerCard(card, 3)
    # Suspended, buried (by hand, by a sibling's answer), flagged; a filtered deck.
    col.sched.suspend_cards(studied[20:60] + new[40:50])
    col.sched.bury_cards(studied[60:75], manual=True)
    for flag in range(1, 8):
        col.set_user_flag_for_cards(flag, studied[100 + 10 * flag : 105 + 10 * flag])
    filtered = col.sched.get_or_create_filtered_deck(deck_id=0)
    filtered.name = "Cram"
    filtered.config.search_terms[0].search = "deck:ML is:review -is:suspended -is:buried"
    filtered.config.search_terms[0].limit = 25
    filtered.config.reschedule = True
    col.sched.add_or_update_filtered_deck(filtered)
    return col


def cards_of(col: Any) -> dict[tuple[str, int], dict[str, Any]]:
    """Every card's scheduling as Anki holds it, by (note GUID, card ordinal): a card in a
    filtered deck as it is at home (its deck and due date there)."""
    import json

    out = {}
    rows = col.db.all(
        "select n.guid, c.ord, c.type, c.queue, c.due, c.ivl, c.reps, c.lapses, c.left,"
        " c.odue, c.odid, c.did, c.flags, c.data from cards c join notes n on n.id = c.nid"
    )
    for guid, ord, ctype, queue, due, ivl, reps, lapses, left, odue, odid, did, flags, data in rows:
        memory = json.loads(data or "{}")
        out[(guid, ord)] = {
            "type": ctype,
            "queue": queue,
            "due": odue if odid else due,
            "ivl": ivl,
            "reps": reps,
            "lapses": lapses,
            "left": left % 1000,
            "deck": col.decks.name(odid or did),
            "flags": flags,
            "s": memory.get("s"),
            "d": memory.get("d"),
            "lrt": memory.get("lrt"),
        }
    return out


def revlog_of(col: Any) -> dict[tuple[str, int], list[tuple[int, int, int, int]]]:
    """Every card's answers as Anki's review log holds them: (id, button, type, time)."""
    out: dict[tuple[str, int], list[tuple[int, int, int, int]]] = {}
    rows = col.db.all(
        "select n.guid, c.ord, r.id, r.ease, r.type, r.time from revlog r"
        " join cards c on c.id = r.cid join notes n on n.id = c.nid order by r.id"
    )
    for guid, ord, rid, ease, rtype, duration in rows:
        out.setdefault((guid, ord), []).append((rid, ease, rtype, duration))
    return out


def notes_full(col: Any) -> dict[str, tuple[str, list[str], list[str]]]:
    """Every note by GUID: its note type's name, its fields, its tags (sorted)."""
    out = {}
    for nid in col.find_notes(""):
        note = col.get_note(nid)
        out[note.guid] = (note.note_type()["name"], list(note.fields), sorted(note.tags))
    return out
