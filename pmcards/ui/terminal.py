"""What every terminal screen shares: keys, the screen, wrapping, colour.

Colour and layout on a terminal; plain text when output is not a TTY or NO_COLOR is set.
Without a terminal on input, keys are read from standard input one character at a time.
Every screen reads keys inside `with Keys() as keys:`, so each gets the same guarantees:
keys typed ahead are kept, and Ctrl-C arrives as a key, never in the middle of a write.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from typing import Any

import click

from pmcards import markup

NEXT_KEYS = (" ", "\r", "\n")
QUIT_KEYS = ("q", "Q", "\x1b")
LABEL_COLOURS = {"BAD": "red", "GOOD": "green", "Why": "yellow"}


class Keys:
    """Single keypresses: the terminal held in non-canonical mode for the whole session on a
    TTY, characters from stdin otherwise.

    The terminal is switched once, not around each key (as click.getchar does): switching
    it flushes pending input, so a key pressed while the next card was being drawn was
    silently lost. Held for the session, keys typed ahead are read in order. Signals are
    off too, so Ctrl-C arrives as a key and never interrupts an answer being written.
    """

    def __init__(self) -> None:
        self.tty = sys.stdin.isatty()
        self._pending: list[str] = []
        self._saved: list[Any] | None = None
        self._entered = False

    def __enter__(self) -> Keys:
        self._entered = True
        if self.tty:
            try:
                import termios

                fd = sys.stdin.fileno()
                self._saved = termios.tcgetattr(fd)
                mode = termios.tcgetattr(fd)
                mode[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG)
                mode[6][termios.VMIN] = 1
                mode[6][termios.VTIME] = 0
                termios.tcsetattr(fd, termios.TCSANOW, mode)
            except (ImportError, OSError):
                self._saved = None  # no termios (Windows): click.getchar per key
        return self

    def __exit__(self, *exc: object) -> None:
        self._entered = False
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def read(self) -> str:
        """The next key. Ctrl-C raises KeyboardInterrupt, Ctrl-D (on a terminal) and the
        end of input raise EOFError."""
        assert self._entered, "read keys inside `with Keys() as keys:`"
        if not self.tty:
            ch = sys.stdin.read(1)
            if ch == "":
                raise EOFError
        elif self._saved is None:
            ch = click.getchar()
        else:
            if not self._pending:
                data = os.read(sys.stdin.fileno(), 64)
                if not data:
                    raise EOFError
                self._pending = split_keys(data.decode("utf-8", "replace"))
            ch = self._pending.pop(0)
        if ch == "\x03":
            raise KeyboardInterrupt
        if ch == "\x04" and self.tty:
            raise EOFError
        return ch

    def read_timeout(self, seconds: float) -> str | None:
        """A keypress within `seconds`, or None. Without a terminal (or without termios),
        waits for the key as `read` does."""
        if not self.tty or self._pending or self._saved is None:
            return self.read()
        import select

        ready, _, _ = select.select([sys.stdin.fileno()], [], [], max(0.0, seconds))
        return self.read() if ready else None


_KEY = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1bO.|\x1b.?|.", re.DOTALL)


def split_keys(data: str) -> list[str]:
    """What one read from the terminal holds, as keys: an escape sequence (an arrow key) is
    one key, so it is never taken for Esc followed by letters."""
    return _KEY.findall(data)


class Screen:
    def __init__(self, color: bool, tty: bool) -> None:
        self.color = color
        self.tty = tty

    @classmethod
    def detect(cls, color: bool | None = None) -> Screen:
        """The screen of this process: colour on a terminal unless NO_COLOR is set; cleared
        between cards only when both input and output are a terminal."""
        out_tty = sys.stdout.isatty()
        if color is None:
            color = out_tty and "NO_COLOR" not in os.environ
        return cls(color=color, tty=out_tty and sys.stdin.isatty())

    def style(self, text: str, **kw: object) -> str:
        return click.style(text, **kw) if self.color else text  # type: ignore[arg-type]

    def width(self) -> int:
        return max(40, min(100, shutil.get_terminal_size((80, 24)).columns))

    def show(self, lines: list[str]) -> None:
        if self.tty:
            click.clear()
        self.echo(lines)

    def echo(self, lines: list[str]) -> None:
        click.echo("\n".join(lines), color=self.color)


def wrap(text: str, width: int, *, indent: str = "", hanging: str | None = None) -> list[str]:
    """Plain text wrapped to `width` (words never broken unless longer than a line), each
    paragraph on its own lines; continuation lines indented by `hanging`."""
    hanging = indent if hanging is None else hanging
    lines: list[str] = []
    for para in text.split("\n"):
        body = textwrap.wrap(
            para,
            width,
            initial_indent=indent,
            subsequent_indent=hanging,
            break_long_words=True,
            break_on_hyphens=False,
        )
        lines.extend(body or [indent.rstrip()])
    return lines


def block(label: str, text: str, screen: Screen, colour: str | None = None) -> list[str]:
    """A labelled block of card text (`Why: ...`), sanitised for the terminal and wrapped
    to the screen with a hanging indent under the text, the label styled after wrapping so
    escape codes never count toward the width."""
    width = screen.width()
    prefix = f"{label}: " if label else ""
    pad = "  " + " " * len(prefix)
    lines: list[str] = []
    for n, para in enumerate(markup.safe(markup.to_terminal(text)).split("\n")):
        first = "  " + (prefix if n == 0 else " " * len(prefix))
        lines += wrap(para, width, indent=first, hanging=pad)
    if label and lines:
        colour = colour or LABEL_COLOURS.get(label, "magenta")
        lines[0] = lines[0].replace(prefix, screen.style(prefix, bold=True, fg=colour), 1)
    return lines


def fit(parts: list[tuple[str, dict[str, object]]], screen: Screen, gap: str = "   ") -> list[str]:
    """Styled pieces of one line (text, click.style options), laid out in as many lines as
    the screen's width needs, never cutting a piece: widths are measured on the plain text,
    so escape codes never count."""
    lines: list[str] = []
    plain = styled = ""
    for text, style in parts:
        piece = screen.style(text, **style) if style else text
        if plain and len(plain) + len(gap) + len(text) > screen.width():
            lines.append(styled)
            plain = styled = ""
        plain = f"{plain}{gap}{text}" if plain else text
        styled = f"{styled}{gap}{piece}" if styled else piece
    if styled:
        lines.append(styled)
    return lines


def hint(text: str, screen: Screen) -> list[str]:
    """A line of key hints, wrapped at the screen's width between hints (never inside one:
    hints are separated by two spaces or more)."""
    parts = [p for p in re.split(r"\s{2,}", text.strip()) if p]
    width = screen.width()
    lines: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}   {part}" if current else part
        if current and len(candidate) > width:
            lines.append(current)
            current = part
        else:
            current = candidate
    if current:
        lines.append(current)
    return [screen.style(line, dim=True) for line in lines]
