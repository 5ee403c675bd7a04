"""Writing the files a command produces (exports, backups, deck files with ids added).

A regular file is replaced atomically: written beside itself under a temporary name,
synced, then renamed over it, so it is never half written; it keeps the permissions it had.
A path that names something else is written through, never replaced: a symbolic link
writes its target (which keeps the link), a FIFO or a device is written to as it is (so
`-o /dev/null` or `-o /dev/stdout` do what they say, even as root).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pmcards.errors import PmcardsError


def target_of(path: Path) -> Path:
    """What `path` names: the file a symbolic link points to (through every link)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def is_special(path: Path) -> bool:
    """Whether `path` exists and is not a regular file (a FIFO, a device, a socket)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path`: a regular file atomically, anything else through."""
    with open_atomically(path) as f:
        f.write(data)


@contextmanager
def open_atomically(path: Path) -> Iterator[BinaryIO]:
    """A file to write `path` through, piece by piece: a regular file is written beside
    itself and put in place, synced, only when the block ends without an error (so a failed
    export leaves the old file as it was); anything else is written through."""
    target = target_of(path)
    try:
        if is_special(target):
            with open(target, "wb") as through:
                yield through
            return
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise PmcardsError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PmcardsError(f"cannot write {path}: {exc.strerror}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install(tmp: Path, path: Path) -> None:
    """Put a finished file `tmp` in place at `path` (see the module's rules): renamed over a
    regular file, copied into anything else, then removed. Raises OSError."""
    target = target_of(path)
    if is_special(target):
        with tmp.open("rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.unlink(missing_ok=True)
        return
    os.chmod(tmp, _mode_for(target))
    os.replace(tmp, target)


def _mode_for(target: Path) -> int:
    """The permissions a written file gets: those it had, else what a plain open() gives."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
