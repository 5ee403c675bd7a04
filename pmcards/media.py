"""The collection's media folder: files that cards show (images, sounds from Anki packages).

Files arrive under names taken from a package, so every name is checked: a plain file name,
no folders, no `..`, no hidden or device names. A name that is taken by different content is
stored under a new name, and the notes that use it are pointed at that name.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pmcards import paths

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class MediaFile:
    """A media file from a package, under the safe name it is stored as. Its content is in
    memory (`data`: an image inlined in a field, a few KB) or in a file (`path`: a package's
    media, extracted to a temporary folder so that no package's media is ever held in
    memory whole)."""

    name: str
    data: bytes | None = None
    path: Path | None = None

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.path is not None
        with self.path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                yield block

    def size(self) -> int:
        return len(self.data) if self.data is not None else _stat_size(self.path)

    def digest(self) -> str:
        hasher = hashlib.sha1()
        for block in self.chunks():
            hasher.update(block)
        return hasher.hexdigest()

    def same_as(self, target: Path) -> bool:
        """Whether the file at `target` holds exactly this content."""
        try:
            if target.stat().st_size != self.size():
                return False
            with target.open("rb") as handle:
                return all(handle.read(len(block)) == block for block in self.chunks())
        except OSError:
            return False


_BLOCK = 1 << 20


def _stat_size(path: Path | None) -> int:
    assert path is not None
    return path.stat().st_size


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


def store(files: Iterable[MediaFile], folder: Path, written: list[Path]) -> dict[str, str]:
    """Copy `files` into the media folder. Each new file is added to `written` as soon as
    it is in place (the caller removes them again if its transaction fails, even when this
    fails half way); returns the files that had to take a new name (old -> new) because
    their name held other content. A full disk or a folder that cannot be written is a
    PmcardsError, its half-written file removed."""
    from pmcards.errors import PmcardsError

    renamed: dict[str, str] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for file in files:
            target = folder / file.name
            if target.is_symlink() or target.exists():
                if not target.is_symlink() and file.same_as(target):
                    continue
                stem, dot, ext = file.name.rpartition(".")
                digest = file.digest()[:10]
                new = f"{stem}-{digest}.{ext}" if dot else f"{file.name}-{digest}"
                renamed[file.name] = new
                target = folder / new
                if target.is_symlink() or target.exists():
                    continue
            tmp = target.with_name(f".{target.name}.tmp")
            try:
                with tmp.open("wb") as out:
                    for block in file.chunks():
                        out.write(block)
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(target)
    except OSError as exc:
        raise PmcardsError(
            f"cannot write media files to {folder}: {exc.strerror or exc}; nothing was imported"
        ) from None
    return renamed


def remove(paths: Iterable[Path]) -> None:
    """Take back files `store` wrote (their import was rolled back)."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def rewrite_references(text: str, renamed: dict[str, str]) -> str:
    """Point `src="old"` and `[sound:old]` in a field at the new names."""
    for old, new in renamed.items():
        text = text.replace(f'src="{old}"', f'src="{new}"').replace(
            f"[sound:{old}]", f"[sound:{new}]"
        )
    return text
