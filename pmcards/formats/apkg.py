"""Anki packages (.apkg, .colpkg): notes, decks, tags, scheduling, review history and media.

Reads the packages of current Anki (`collection.anki21b`: zstd-compressed SQLite, schema 18,
a protobuf media map, zstd-compressed media) and of older Anki and genanki
(`collection.anki21` / `collection.anki2`: schema 11, JSON note types and decks).
Everything pmcards cannot use is listed in the deck's warnings, never silently dropped.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import tempfile
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pmcards import markup
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW
from pmcards.errors import DeckFormatError
from pmcards.formats import MAX_FIELD_CHARS, TAG
from pmcards.formats._anki import Mapping, clean_tag, id_from_guid, map_notetype
from pmcards.formats.options import ParseOptions
from pmcards.formats.parsed import ParsedCard, ParsedDeck, ParsedNote, ParsedReview
from pmcards.kinds import KINDS, QA_REVERSED, card_ords, note_problem
from pmcards.media import MediaFile, safe_media_name

MAX_COLLECTION_BYTES = 1024 * 1024 * 1024
MAX_MEDIA_BYTES = 100 * 1024 * 1024
# All media files of one package together, and the map naming them: a zip bomb made of many
# small members, or of one huge map, stops here.
MAX_TOTAL_MEDIA_BYTES = 2 * 1024 * 1024 * 1024
MAX_MEDIA_MAP_BYTES = 64 * 1024 * 1024
# Anki's card types -> our states (the same numbers, as cardstate.State notes).
STATES = {0: NEW, 1: LEARNING, 2: REVIEW, 3: RELEARNING}


@dataclass(frozen=True)
class _Notetype:
    name: str
    fields: list[str]
    is_cloze: bool
    templates: int


def parse(path: Path, options: ParseOptions | None = None) -> list[ParsedDeck]:
    where = str(path)

    def fail(message: str) -> DeckFormatError:
        return DeckFormatError(message, path=where)

    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise fail("cannot read file: No such file or directory") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        # ValueError: a damaged directory (a member name that is not UTF-8, bad offsets).
        raise fail("not an Anki package: not a zip archive") from None
    with archive, tempfile.TemporaryDirectory(prefix="pmcards-apkg-") as tmp:
        names = set(archive.namelist())
        latest = "collection.anki21b" in names
        for member in ("collection.anki21b", "collection.anki21", "collection.anki2"):
            if member in names:
                break
        else:
            raise fail("not an Anki package: no collection.anki21b, .anki21 or .anki2 inside")
        data = _read_member(archive, member, MAX_COLLECTION_BYTES, compressed=latest, fail=fail)
        db_path = Path(tmp) / "collection.sqlite"
        db_path.write_bytes(data)
        del data
        try:
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            try:
                decks = _read_collection(conn, where)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise fail(f"the package's collection cannot be read: {exc}") from None
        except (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError) as exc:
            # The tables are there but their content is not what Anki writes (a damaged or
            # hand-made package): the file is refused, whatever field broke.
            what = f"{type(exc).__name__}: {exc}"
            raise fail(f"the package's collection is damaged ({what})") from None
        media, warnings = _read_media(archive, latest, fail)
    if not decks:
        decks = [ParsedDeck(path=where, name=path.stem, named=False)]
    decks[0].warnings[:0] = warnings
    decks[0].media = media
    return decks


def _read_member(
    archive: zipfile.ZipFile,
    member: str,
    limit: int,
    *,
    compressed: bool,
    fail: Any,
) -> bytes:
    info = archive.getinfo(member)
    if info.file_size > limit:
        raise fail(f"{member} is {info.file_size // 1_048_576} MB: too large")
    try:
        raw = archive.read(member)
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        zlib.error,
        NotImplementedError,
    ) as exc:
        # zlib.error: a deflate stream broken inside; NotImplementedError: a compression
        # method zipfile does not know.
        raise fail(f"{member} is damaged: {exc}") from None
    if not compressed:
        return raw
    import zstandard

    try:
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        out = reader.read(limit + 1)
    except zstandard.ZstdError as exc:
        raise fail(f"{member} cannot be decompressed: {exc}") from None
    if len(out) > limit:
        raise fail(f"{member} is over {limit // 1_048_576} MB when decompressed: too large")
    return bytes(out)


def _read_collection(conn: sqlite3.Connection, where: str) -> list[ParsedDeck]:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "notetypes" in tables:
        notetypes, deck_names = _schema18(conn)
    else:
        notetypes, deck_names = _schema11(conn)
    crt = int(conn.execute("SELECT crt FROM col").fetchone()[0])
    warnings: list[str] = []

    reviews: dict[int, list[ParsedReview]] = defaultdict(list)
    for rid, cid, ease, duration, rtype in conn.execute(
        "SELECT id, cid, ease, time, type FROM revlog ORDER BY id"
    ):
        # ease 0 is a manual reschedule, not an answer; type 4 is "manual", 5 "rescheduled".
        if 1 <= ease <= 4 and rtype in (0, 1, 2, 3):
            reviews[cid].append(
                ParsedReview(
                    reviewed_at=datetime.fromtimestamp(rid / 1000, UTC),
                    rating=int(ease),
                    duration_ms=max(0, int(duration)) or None,
                )
            )
    cards_by_note: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in conn.execute(
        "SELECT id, nid, did, odid, ord, type, queue, due, odue, ivl, reps, lapses, data "
        "FROM cards ORDER BY nid, ord"
    ):
        cards_by_note[row[1]].append(row)

    by_deck: dict[str, ParsedDeck] = {}
    mappings: dict[int, Mapping | None] = {}
    for nid, guid, mid, tags_text, flds in conn.execute(
        "SELECT id, guid, mid, tags, flds FROM notes ORDER BY id"
    ):
        label = f"note {guid!r}"
        notetype = notetypes.get(mid)
        if notetype is None:
            warnings.append(f"{where}: {label}: its note type is missing: not imported")
            continue
        if mid not in mappings:
            mappings[mid] = map_notetype(
                notetype.name,
                notetype.fields,
                is_cloze=notetype.is_cloze,
                templates=notetype.templates,
            )
        mapping = mappings[mid]
        if mapping is None:
            warnings.append(
                f"{where}: {label}: note type {notetype.name!r} has no fields pmcards can use "
                "as front and back: not imported"
            )
            continue
        values = flds.split("\x1f")
        kind = mapping.kind
        fields: dict[str, str] = {}
        for i, raw in enumerate(values):
            target = mapping.fields[i] if i < len(mapping.fields) else None
            if i == mapping.optional_reverse:
                kind = QA_REVERSED.name if raw.strip() else kind
                continue
            text = markup.from_anki_html(raw)
            if target is None:
                if text:
                    name = notetype.fields[i] if i < len(notetype.fields) else str(i + 1)
                    warnings.append(
                        f"{where}: {label}: field {name!r} has no place in a pmcards "
                        f"{kind!r} note: not kept"
                    )
                continue
            if text:
                fields[target] = text[:MAX_FIELD_CHARS]
                if len(text) > MAX_FIELD_CHARS:
                    warnings.append(
                        f"{where}: {label}: field {target!r} cut to {MAX_FIELD_CHARS} characters"
                    )
        missing = [k for k in KINDS[kind].required if k not in fields]
        if missing:
            warnings.append(
                f"{where}: {label}: empty {', '.join(missing)}: not imported "
                f"(a pmcards {kind!r} note needs {', '.join(KINDS[kind].required)})"
            )
            continue
        problem = note_problem(kind, fields)
        if problem:
            warnings.append(f"{where}: {label}: {problem[1]}: not imported")
            continue
        tags = []
        for tag in tags_text.split():
            if not TAG.match(tag):
                cleaned = clean_tag(tag)
                warnings.append(f"{where}: {label}: tag {tag!r} imported as {cleaned!r}")
                tag = cleaned
            tags.append(tag)
        rows = cards_by_note.get(nid, [])
        wanted = set(card_ords(kind, fields))
        cards = []
        deck_ids = []
        for row in rows:
            card_ord = row[4]
            if card_ord not in wanted:
                warnings.append(
                    f"{where}: {label}: card {card_ord + 1} has no pmcards counterpart: "
                    "not imported"
                )
                continue
            deck_ids.append(row[3] or row[2])
            cards.append(_card(row, crt, reviews.get(row[0], [])))
        deck_id = deck_ids[0] if deck_ids else (rows[0][3] or rows[0][2] if rows else 1)
        deck_name = deck_names.get(deck_id, "Default")
        if len(set(deck_ids)) > 1:
            warnings.append(
                f"{where}: {label}: its cards are in several decks; all go to {deck_name!r}"
            )
        parsed = by_deck.get(deck_name)
        if parsed is None:
            parsed = by_deck[deck_name] = ParsedDeck(path=where, name=deck_name)
        parsed.notes.append(
            ParsedNote(
                guid=id_from_guid(guid),
                kind=kind,
                fields=fields,
                tags=tuple(sorted(set(tags))),
                section="",
                line=None,
                cards=tuple(cards),
            )
        )
    decks = list(by_deck.values())
    if decks:
        decks[0].warnings.extend(warnings)
    elif warnings:
        decks = [ParsedDeck(path=where, name="Default", warnings=warnings, named=False)]
    return decks


def _card(row: tuple[Any, ...], crt: int, reviews: list[ParsedReview]) -> ParsedCard:
    _id, _nid, _did, odid, card_ord, ctype, queue, due, odue, ivl, reps, lapses, data = row
    if odid and odue:
        due = odue
    state = STATES.get(ctype, NEW)
    when: datetime | None = None
    if state != NEW:
        if due > 1_000_000_000:  # a learning card's due is a timestamp
            when = datetime.fromtimestamp(due, UTC)
        else:  # a day number, counted from the collection's creation
            when = datetime.fromtimestamp(crt, UTC) + timedelta(days=due)
    stability = difficulty = None
    if data:
        try:
            memory = json.loads(data)
        except ValueError:
            memory = {}
        if isinstance(memory, dict):
            s, d = memory.get("s"), memory.get("d")
            if isinstance(s, int | float) and isinstance(d, int | float) and s > 0:
                stability, difficulty = float(s), float(d)
    return ParsedCard(
        ord=card_ord,
        state=state,
        due=when,
        stability=stability,
        difficulty=difficulty,
        interval_days=float(ivl) if ivl and ivl > 0 else None,
        reps=max(0, reps),
        lapses=max(0, lapses),
        suspended=queue == -1,
        reviews=tuple(reviews),
    )


def _schema11(conn: sqlite3.Connection) -> tuple[dict[int, _Notetype], dict[int, str]]:
    models_json, decks_json = conn.execute("SELECT models, decks FROM col").fetchone()
    notetypes = {}
    for model in json.loads(models_json).values():
        fields = [f["name"] for f in sorted(model["flds"], key=lambda f: f["ord"])]
        notetypes[int(model["id"])] = _Notetype(
            name=model["name"],
            fields=fields,
            is_cloze=model.get("type") == 1,
            templates=len(model.get("tmpls", [])),
        )
    deck_names = {int(d["id"]): d["name"] for d in json.loads(decks_json).values()}
    return notetypes, deck_names


def _schema18(conn: sqlite3.Connection) -> tuple[dict[int, _Notetype], dict[int, str]]:
    fields: dict[int, list[str]] = defaultdict(list)
    for ntid, name in conn.execute("SELECT ntid, name FROM fields ORDER BY ntid, ord"):
        fields[ntid].append(name)
    templates: dict[int, int] = defaultdict(int)
    for (ntid,) in conn.execute("SELECT ntid FROM templates"):
        templates[ntid] += 1
    notetypes = {}
    for ntid, name, config in conn.execute("SELECT id, name, config FROM notetypes"):
        kind = _protobuf_fields(config).get(1, [0])[0]
        notetypes[ntid] = _Notetype(
            name=name, fields=fields[ntid], is_cloze=kind == 1, templates=templates[ntid]
        )
    deck_names = {
        did: name.replace("\x1f", "::") for did, name in conn.execute("SELECT id, name FROM decks")
    }
    return notetypes, deck_names


def _read_media(
    archive: zipfile.ZipFile, latest: bool, fail: Any
) -> tuple[list[MediaFile], list[str]]:
    """The package's media files under safe names, and what was refused."""
    warnings: list[str] = []
    if "media" not in archive.namelist():
        return [], warnings
    raw = _read_member(archive, "media", MAX_MEDIA_MAP_BYTES, compressed=False, fail=fail)
    entries: list[tuple[str, str]] = []  # (zip member, file name)
    if raw[:1] == b"{" or not raw:
        try:
            mapping = json.loads(raw or b"{}")
        except ValueError:
            raise fail("the package's media map is damaged") from None
        entries = [(str(k), str(v)) for k, v in mapping.items()]
    else:
        import zstandard

        try:
            data = zstandard.ZstdDecompressor().stream_reader(raw).read(MAX_MEDIA_MAP_BYTES + 1)
        except zstandard.ZstdError:
            raise fail("the package's media map is damaged") from None
        if len(data) > MAX_MEDIA_MAP_BYTES:
            raise fail(f"the package's media map is over {MAX_MEDIA_MAP_BYTES // 1_048_576} MB")
        try:
            found = [
                _protobuf_fields(e)
                for e in _protobuf_fields(data).get(1, [])
                if isinstance(e, bytes)
            ]
        except sqlite3.DatabaseError:
            raise fail("the package's media map is damaged") from None
        for index, values in enumerate(found):
            raw_name = values.get(1, [b""])[0]
            legacy = values.get(255, [index])[0]
            if isinstance(raw_name, bytes):
                entries.append((str(legacy), raw_name.decode("utf-8", "replace")))
    files = []
    total = 0
    for member, name in entries:
        safe = safe_media_name(name)
        if safe is None:
            warnings.append(f"media file {name!r}: unsafe name: not imported")
            continue
        try:
            info = archive.getinfo(member)
        except KeyError:
            warnings.append(f"media file {name!r}: missing from the package")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            warnings.append(f"media file {name!r}: a link, not a file: not imported")
            continue
        try:
            content = _read_member(archive, member, MAX_MEDIA_BYTES, compressed=latest, fail=fail)
        except DeckFormatError as exc:
            warnings.append(f"media file {name!r}: {exc.message}: not imported")
            continue
        total += len(content)
        if total > MAX_TOTAL_MEDIA_BYTES:
            raise fail(
                f"the package's media files are over {MAX_TOTAL_MEDIA_BYTES // 1_048_576} MB "
                "together: too large"
            )
        files.append(MediaFile(name=safe, data=content))
    return files, warnings


def _protobuf_fields(data: bytes) -> dict[int, list[int | bytes]]:
    """The fields of a protobuf message: enough of the wire format for Anki's small messages."""
    out: dict[int, list[int | bytes]] = defaultdict(list)
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(data):
                raise sqlite3.DatabaseError("truncated protobuf")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number].append(varint())
        elif wire == 2:
            size = varint()
            out[number].append(data[pos : pos + size])
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise sqlite3.DatabaseError(f"unsupported protobuf wire type {wire}")
    return out
