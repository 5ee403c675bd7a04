"""What Anki's note types, ids and tags become in pmcards, and back. Shared by the CSV and
.apkg formats and the .apkg export, so the mapping lives in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pmcards.formats.toml_deck import GUID, TAG

# The note types pmcards writes to an .apkg: name -> (kind, Anki field names, pmcards fields).
MODELS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "pmcards Q/A": ("qa", ("Front", "Back", "Why"), ("front", "back", "why")),
    "pmcards Q/A and reversed": (
        "qa_reversed",
        ("Front", "Back", "Why"),
        ("front", "back", "why"),
    ),
    "pmcards Reframe": ("reframe", ("Not", "But", "Why"), ("not", "but", "why")),
    "pmcards Contrast": (
        "contrast",
        ("Situation", "BAD", "GOOD", "Why"),
        ("situation", "bad", "good", "why"),
    ),
    "pmcards Cloze": ("cloze", ("Text", "Why"), ("text", "why")),
    "pmcards Mock prompt": ("prompt", ("Prompt", "Rubric", "Why"), ("prompt", "rubric", "why")),
}
MODEL_OF_KIND = {kind: name for name, (kind, _, _) in MODELS.items()}

# Anki field names (lower case) that mean one of our fields.
FIELD_ALIASES = {
    "front": "front",
    "question": "front",
    "q": "front",
    "back": "back",
    "answer": "back",
    "a": "back",
    "why": "why",
    "extra": "why",
    "back extra": "why",
    "not": "not",
    "but": "but",
    "situation": "situation",
    "bad": "bad",
    "good": "good",
    "text": "text",
    "cloze": "text",
    "prompt": "prompt",
    "rubric": "rubric",
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
            return Mapping("cloze", ("text", "why"))
        if "optional reversed" in lowered:
            return Mapping("qa", ("front", "back", None), optional_reverse=2)
        kind = "qa_reversed" if "reversed" in lowered else "qa"
        return Mapping(kind, ("front", "back"))
    names = [FIELD_ALIASES.get(n.strip().lower()) for n in field_names]
    if is_cloze:
        mapped = _assign(names, ("text", "why"), ("text",))
        return Mapping("cloze", mapped) if mapped else None
    if "situation" in names:
        mapped = _assign(names, ("situation", "bad", "good", "why"), ("situation", "bad", "good"))
        return Mapping("contrast", mapped) if mapped else None
    if "not" in names:
        mapped = _assign(names, ("not", "but", "why"), ("not", "but"))
        return Mapping("reframe", mapped) if mapped else None
    mapped = _assign(names, ("front", "back", "why"), ("front", "back"))
    if mapped is None:
        return None
    reverse = next(
        (i for i, n in enumerate(field_names) if n.strip().lower() == "add reverse"), None
    )
    kind = "qa_reversed" if templates >= 2 and reverse is None else "qa"
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
