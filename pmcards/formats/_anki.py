"""What Anki's note types, fields, ids and tags become in pmcards, and back. Shared by the
CSV and .apkg formats and the .apkg export, so the mapping lives in one place.

A note type maps to a pmcards kind by, in order: being one of pmcards' own ("pmcards Q/A"
...); its stock kind (`originalStockKind`, set by Anki 2.1.62+ on the stock note types
whatever their name or language: "Einfach", "Lückentext", "基本"); the names of its fields;
for a text export, which names only the note type, its name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pmcards import markup
from pmcards.formats import GUID, MAX_FIELD_CHARS, TAG
from pmcards.kinds import CLOZE, CONTRAST, KINDS, QA, QA_REVERSED, REFRAME
from pmcards.media import MediaFile

# pmcards' note types carry a note's section in a field no card shows, so that a round trip
# through Anki keeps it.
SECTION = "section"
SECTION_FIELD = "Section"
# The note types pmcards writes to an .apkg, from the kinds:
# Anki note type name -> (kind, Anki field names, pmcards fields). Each also has the
# `SECTION_FIELD` last.
MODELS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    kind.anki.name: (kind.name, tuple(kind.anki_fields[f] for f in kind.fields), kind.fields)
    for kind in KINDS.values()
}
MODEL_OF_KIND = {kind: name for name, (kind, _, _) in MODELS.items()}
assert all(SECTION not in kind.fields for kind in KINDS.values())

# Anki's stock note types (`OriginalStockKind` in Anki's notetypes.proto).
STOCK_BASIC = 1
STOCK_BASIC_AND_REVERSED = 2
STOCK_BASIC_OPTIONAL_REVERSED = 3
STOCK_BASIC_TYPING = 4
STOCK_CLOZE = 5
STOCK_IMAGE_OCCLUSION = 6
# The English names of the stock note types, for text exports (which name the note type only)
# and for the CSV that pmcards writes for Anki: every Anki has these in English.
STOCK_NAMES = {
    "Basic": STOCK_BASIC,
    "Basic (and reversed card)": STOCK_BASIC_AND_REVERSED,
    "Basic (optional reversed card)": STOCK_BASIC_OPTIONAL_REVERSED,
    "Basic (type in the answer)": STOCK_BASIC_TYPING,
    "Cloze": STOCK_CLOZE,
    "Image Occlusion": STOCK_IMAGE_OCCLUSION,
}

# Anki field names (lower case) that mean one of our fields: our own field names, labels and
# Anki names, and the names of Anki's stock note types.
FIELD_ALIASES = {
    **{f: f for kind in KINDS.values() for f in kind.fields},
    **{
        name.lower(): f
        for kind in KINDS.values()
        for mapping in (kind.labels, kind.anki_fields)
        for f, name in mapping.items()
    },
    "question": "front",
    "answer": "back",
    "extra": "why",
    "back extra": "why",
}
_HEX = re.compile(r"^anki-((?:[0-9a-f]{2})+)$")
_NOT_IN_TAG = re.compile(r'[\s,"\x00-\x1f\x7f]')


# A GUID too long to carry in hex within an id's 128 characters (Anki's are 10) gets an id
# made from its hash: kept stable across imports, but not reversible (the way back to Anki
# makes a new note there).
LONG_GUID_PREFIX = "anki-sha256-"


def id_from_guid(guid: str) -> str:
    """A pmcards note id for an Anki GUID: the GUID itself when it is a valid id, else
    `anki-` and its UTF-8 bytes in hex (reversible, so an export back updates the same note),
    or, for a GUID over 61 bytes, `anki-sha256-` and its hash (ids are at most 128).
    """
    if GUID.match(guid) and not _HEX.match(guid):
        return guid
    encoded = guid.encode("utf-8", "surrogatepass")
    if 5 + 2 * len(encoded) > 128:
        return LONG_GUID_PREFIX + hashlib.sha256(encoded).hexdigest()[:40]
    return "anki-" + encoded.hex()


def guid_from_id(note_id: str) -> str:
    match = _HEX.match(note_id)
    if match:
        try:
            return bytes.fromhex(match.group(1)).decode("utf-8")
        except UnicodeDecodeError:
            return note_id
    return note_id


def clean_tag(tag: str) -> str:
    """An Anki tag as a pmcards tag: the few characters pmcards does not allow in a tag (a
    comma, a double quote) become '_', and it is cut to 64 characters."""
    if TAG.match(tag):
        return tag
    cleaned = _NOT_IN_TAG.sub("_", tag)[:64]
    return cleaned if TAG.match(cleaned) else "_"


def field_from_anki(raw: str) -> tuple[str, list[MediaFile], list[str]]:
    """An Anki field as a pmcards field (`markup.from_anki_html`), after its inlined images
    became media files: (text, files, the `data:` URLs dropped). Not cut to the limit."""
    html, files, dropped = markup.inline_images(raw)
    return markup.from_anki_html(html), [MediaFile(n, d) for n, d in files], dropped


def cut(text: str) -> str:
    return text[:MAX_FIELD_CHARS]


@dataclass(frozen=True)
class Mapping:
    """How the fields of an Anki note type become a pmcards note."""

    kind: str
    # per Anki field, in order: our field name, SECTION, or None (no place in pmcards)
    fields: tuple[str | None, ...]
    optional_reverse: int | None = None  # index of an "Add Reverse" field, if any
    image_occlusion: bool = False  # pmcards cannot show masks over an image: not imported

    def kinds(self) -> tuple[str, ...]:
        """The kinds a note of this note type can be (both, with an optional reverse)."""
        if self.optional_reverse is not None:
            return (QA.name, QA_REVERSED.name)
        return (self.kind,)


def map_notetype(
    name: str,
    field_names: list[str] | None,
    *,
    is_cloze: bool,
    templates: int,
    stock_kind: int = 0,
) -> Mapping | None:
    """The mapping of an Anki note type, or None when its fields cannot map to a pmcards kind.

    `field_names` is None when only the note type's name is known (a text export).
    """
    if name in MODELS:
        kind, _, ours = MODELS[name]
        if field_names is None or len(field_names) == len(ours):
            return Mapping(kind, ours)
        if len(field_names) == len(ours) + 1 and field_names[-1] == SECTION_FIELD:
            return Mapping(kind, (*ours, SECTION))
    if field_names is None:
        stock_kind = stock_kind or STOCK_NAMES.get(name, 0)
        lowered = name.lower()
        if not stock_kind:
            if is_cloze or "cloze" in lowered:
                stock_kind = STOCK_CLOZE
            elif "optional reversed" in lowered:
                stock_kind = STOCK_BASIC_OPTIONAL_REVERSED
            elif "reversed" in lowered:
                stock_kind = STOCK_BASIC_AND_REVERSED
            else:
                stock_kind = STOCK_BASIC
        field_names = {
            STOCK_CLOZE: ["Text", "Back Extra"],
            STOCK_BASIC_OPTIONAL_REVERSED: ["Front", "Back", "Add Reverse"],
            STOCK_IMAGE_OCCLUSION: ["Occlusion", "Image", "Header", "Back Extra", "Comments"],
        }.get(stock_kind, ["Front", "Back"])
        templates = 2 if stock_kind == STOCK_BASIC_AND_REVERSED else 1
    if stock_kind == STOCK_IMAGE_OCCLUSION:
        return Mapping(CLOZE.name, tuple(None for _ in field_names), image_occlusion=True)
    names = [FIELD_ALIASES.get(n.strip().lower()) for n in field_names]
    if stock_kind in (
        STOCK_BASIC,
        STOCK_BASIC_AND_REVERSED,
        STOCK_BASIC_OPTIONAL_REVERSED,
        STOCK_BASIC_TYPING,
        STOCK_CLOZE,
    ):
        # A stock note type: its first fields by position, whatever they are called (the
        # names are in the user's language); fields the user added, by name.
        own: tuple[str, ...] = ("text", "why") if stock_kind == STOCK_CLOZE else ("front", "back")
        names = [*own[: len(names)], *names[len(own) :]]
        if stock_kind == STOCK_BASIC_OPTIONAL_REVERSED and len(field_names) > 2:
            names[2] = None
        is_cloze = stock_kind == STOCK_CLOZE
    if is_cloze:
        mapped = _assign(names, ("text", "why"), ("text",))
        return Mapping(CLOZE.name, mapped) if mapped else None
    if "situation" in names:
        mapped = _assign(names, ("situation", "bad", "good", "why"), ("situation", "bad", "good"))
        return Mapping(CONTRAST.name, mapped) if mapped else None
    if "not" in names:
        mapped = _assign(names, ("not", "but", "why"), ("not", "but"))
        return Mapping(REFRAME.name, mapped) if mapped else None
    mapped = _assign(names, ("front", "back", "why"), ("front", "back"))
    if mapped is None:
        return None
    reverse: int | None
    if stock_kind == STOCK_BASIC_OPTIONAL_REVERSED and len(field_names) > 2:
        reverse = 2
    else:
        reverse = next(
            (i for i, n in enumerate(field_names) if n.strip().lower() == "add reverse"), None
        )
    kind = QA_REVERSED.name if templates >= 2 and reverse is None else QA.name
    return Mapping(kind, mapped, optional_reverse=reverse)


def _assign(
    names: list[str | None], wanted: tuple[str, ...], required: tuple[str, ...]
) -> tuple[str | None, ...] | None:
    """Fields by name; required ones not named are taken from the unnamed fields in order."""
    out: list[str | None] = [n if n in wanted else None for n in names]
    # Keep only the first field of each name.
    for i, n in enumerate(out):
        if n is not None and n in out[:i]:
            out[i] = None
    free = [i for i, n in enumerate(out) if n is None]
    for key in required:
        if key not in out:
            if not free:
                return None
            out[free.pop(0)] = key
    return tuple(out)


def notetype_mapping(definition: dict[str, Any]) -> Mapping | None:
    """The mapping of a note type given as Anki's schema-11 JSON."""
    return map_notetype(
        definition.get("name", ""),
        [f["name"] for f in sorted(definition.get("flds", []), key=lambda f: f.get("ord", 0))],
        is_cloze=definition.get("type") == 1,
        templates=len(definition.get("tmpls", [])),
        stock_kind=int(definition.get("originalStockKind") or 0),
    )


def fields_for_anki(
    mapping: Mapping,
    kind: str,
    fields: dict[str, str],
    section: str,
    original: Sequence[str] | None,
) -> list[str]:
    """A note's fields for its Anki note type, in the note type's order. A field that still
    says what the Anki note said (`original`, the fields as Anki had them) goes back as Anki
    wrote it; one changed in pmcards goes as pmcards has it; one with no place in pmcards
    goes back from `original` untouched."""
    out = []
    for i, target in enumerate(mapping.fields):
        before = original[i] if original is not None and i < len(original) else ""
        if i == mapping.optional_reverse:
            wanted = kind == QA_REVERSED.name
            out.append(before if bool(before.strip()) == wanted else ("y" if wanted else ""))
        elif target is None:
            out.append(before)
        elif target == SECTION:
            out.append(markup.to_anki_html(section))
        else:
            value = fields.get(target, "")
            same = original is not None and cut(field_from_anki(before)[0]) == value
            out.append(before if same else markup.to_anki_html(value))
    return out


def dumps(definition: dict[str, Any]) -> str:
    """A note type's schema-11 JSON as stored (stable, so equal note types compare equal)."""
    return json.dumps(definition, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass
class Warnings:
    """What a file held that pmcards could not use, said once per kind of problem with how
    many notes it touched (a note type's 449 notes make one line, not 449)."""

    where: str
    counts: dict[str, int] = field(default_factory=dict)  # 0: said once, without a count
    first: dict[str, str] = field(default_factory=dict)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(
        self,
        message: str,
        where: str | None = None,
        unit: str = "note",
        units: str = "",
        count: int = 1,
    ) -> None:
        """One more note (or card, row...) with this problem, or `count` more; `where` says
        where the first one is ("note 'abc'", "line 7")."""
        self.counts[message] = self.counts.get(message, 0) + count
        if where is not None:
            self.first.setdefault(message, where)
        self.units.setdefault(message, (unit, units or unit + "s"))

    def say(self, message: str) -> None:
        """A problem of the whole file, said once."""
        self.counts.setdefault(message, 0)

    def lines(self) -> list[str]:
        out = []
        for message, n in self.counts.items():
            if not n:
                out.append(f"{self.where}: {message}")
                continue
            one, many = self.units[message]
            first = self.first.get(message)
            if n == 1:
                what = first or f"1 {one}"
            else:
                what = f"{n:,} {many}" + (f", the first {first}" if first else "")
            out.append(f"{self.where}: {message} ({what})")
        return out
