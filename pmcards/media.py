"""The collection's media folder: files that cards show (images, sounds from Anki packages).

Files arrive under names taken from a package, so every name is checked: a plain file name,
no folders, no `..`, no hidden or device names. A name that is taken by different content is
stored under a new name, and the notes that use it are pointed at that name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pmcards import paths

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class MediaFile:
    """A media file from a package, under the safe name it is stored as."""

    name: str
    data: bytes


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
MAX_NAME = 120


def media_dir(where: str | Connection) -> Path:
    """The media folder of a collection: by its URL, or the collection of a connection."""
    if not isinstance(where, str):
        where = where.engine.url.render_as_string(hide_password=False)
    return paths.media_dir(where)


def safe_media_name(name: str) -> str | None:
    """`name` if it is safe as a plain file name in the media folder, else None."""
    if not name or name != name.strip() or len(name) > MAX_NAME:
        return None
    if name.startswith(".") or _UNSAFE.search(name) or _RESERVED.match(name):
        return None
    return name


def store(files: Iterable[MediaFile], folder: Path) -> tuple[int, dict[str, str]]:
    """Copy `files` into the media folder. Returns how many were written, and the files that
    had to take a new name (old -> new) because their name held other content.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    renamed: dict[str, str] = {}
    for file in files:
        target = folder / file.name
        if target.is_symlink() or target.exists():
            if not target.is_symlink() and target.read_bytes() == file.data:
                continue
            stem, dot, ext = file.name.rpartition(".")
            digest = hashlib.sha1(file.data).hexdigest()[:10]
            new = f"{stem}-{digest}.{ext}" if dot else f"{file.name}-{digest}"
            renamed[file.name] = new
            target = folder / new
            if target.is_symlink() or target.exists():
                continue
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(file.data)
        tmp.replace(target)
        written += 1
    return written, renamed


def rewrite_references(text: str, renamed: dict[str, str]) -> str:
    """Point `src="old"` and `[sound:old]` in a field at the new names."""
    for old, new in renamed.items():
        text = text.replace(f'src="{old}"', f'src="{new}"').replace(
            f"[sound:{old}]", f"[sound:{new}]"
        )
    return text
