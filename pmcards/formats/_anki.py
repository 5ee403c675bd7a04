"""What Anki's note types, ids and tags become in pmcards, and back. Shared by the CSV and
.apkg formats and the .apkg export, so the mapping lives in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pmcards.formats import GUID, TAG
from pmcards.kinds import CLOZE, CONTRAST, KINDS, QA, QA_REVERSED, REFRAME

# The note types pmcards writes to an .apkg, from the kinds:
# Anki note type name -> (kind, Anki field names, pmcards fields).
MODELS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    kind.anki.name: (kind.name, tuple(kind.anki_fields[f] for f in kind.fields), kind.fields)
    for kind in KINDS.values()
}
MODEL_OF_KIND = {kind: name for name, (kind, _, _) in MODELS.items()}

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


def id_from_guid(guid: str) -> str:
    """A pmcards note id for an Anki GUID: the GUID itself when it is a valid id, else
    `anki-` and its UTF-8 bytes in hex (reversible, so an export back updates the same note).
    """
    if GUID.match(guid) and not _HEX.match(guid):
        return guid
    return "anki-" + guid.encode("utf-8").hex()


def guid_from_id(note_id: str) -> str:
    match = _HEX.match(note_id)
    if match:
        try:
            return bytes.fromhex(match.group(1)).decode("utf-8")
        except UnicodeDecodeError:
            return note_id
    return note_id


def clean_tag(tag: str) -> str:
    """An Anki tag as a pmcards tag: characters pmcards does not allow become '_'."""
    if TAG.match(tag):
        return tag
    cleaned = re.sub(r"[^\w:./-]", "_", tag)[:64]
    if not cleaned or not TAG.match(cleaned):
        cleaned = "_" + cleaned[:63]
    return cleaned


@dataclass(frozen=True)
class Mapping:
    """How the fields of an Anki note type become a pmcards note."""

    kind: str
    fields: tuple[str | None, ...]  # per Anki field, in order: our field name or None
    optional_reverse: int | None = None  # index of an "Add Reverse" field, if any


def map_notetype(
    name: str, field_names: list[str] | None, *, is_cloze: bool, templates: int
) -> Mapping | None:
    """The mapping of an Anki note type, or None when its fields cannot map to a pmcards kind.

    `field_names` is None when only the note type's name is known (a text export).
    """
    if name in MODELS and (field_names is None or len(field_names) == len(MODELS[name][2])):
        kind, _, ours = MODELS[name]
        return Mapping(kind, ours)
    lowered = name.lower()
    if field_names is None:
        if is_cloze or "cloze" in lowered:
            return Mapping(CLOZE.name, ("text", "why"))
        if "optional reversed" in lowered:
            return Mapping(QA.name, ("front", "back", None), optional_reverse=2)
        kind = QA_REVERSED.name if "reversed" in lowered else QA.name
        return Mapping(kind, ("front", "back"))
    names = [FIELD_ALIASES.get(n.strip().lower()) for n in field_names]
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
