"""HTML in card fields: from Anki, to Anki, and to the terminal.

pmcards' fields are plain text. Anki's are HTML. On the way in, a field whose HTML is only
line breaks and entities becomes plain text; one with real formatting is kept as HTML, cleaned
of anything active (scripts, event handlers, `javascript:` links). On the way out, plain text
is escaped for Anki and kept HTML goes as it is. The terminal shows kept HTML as text, and
every string bound for the terminal passes `safe`, the one terminal sanitiser.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# Tags kept in fields; anything else is dropped (its text kept), and DROP_WITH_TEXT go whole.
ALLOWED_TAGS = frozenset(
    [
        "a",
        "b",
        "big",
        "blockquote",
        "br",
        "code",
        "del",
        "div",
        "em",
        "font",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "li",
        "mark",
        "ol",
        "p",
        "pre",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
)
DROP_WITH_TEXT = frozenset(
    ["script", "style", "iframe", "object", "embed", "template", "noscript", "title", "head"]
)
ALLOWED_ATTRS = frozenset(
    ["href", "src", "alt", "title", "class", "style", "color", "face", "size", "colspan", "rowspan"]
)
VOID = frozenset(("br", "hr", "img"))
BLOCK = frozenset(
    [
        "div",
        "p",
        "li",
        "ul",
        "ol",
        "table",
        "tr",
        "blockquote",
        "pre",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
    ]
)
SIMPLE = frozenset(("br", "div", "p"))
# Escape sequences (CSI, OSC, and two-character ones) and the control characters left after.
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Characters that change how text around them is shown without being seen: bidirectional
# overrides and isolates (which can make text read backwards), zero-width characters, the
# byte-order mark and Unicode tag characters (which can hide text).
INVISIBLE = "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f"
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
# What a JSON document printed to a terminal must not hold raw: C1 controls and the above.
_JSON_UNSAFE = re.compile(f"[\\x7f-\\x9f{INVISIBLE}]")
_TAG = re.compile(r"</?\s*(" + "|".join(sorted(ALLOWED_TAGS)) + r")\b[^<>]*>", re.IGNORECASE)
_UNSAFE_URL = re.compile(r"^\s*(javascript|vbscript|data)\s*:", re.IGNORECASE)


def safe(text: str) -> str:
    """Text made harmless for a terminal: no escape sequences, no control characters, no
    invisible characters that reorder or hide text. The one terminal sanitiser: every
    string bound for the terminal passes it."""
    text = _ANSI.sub("", text)
    return _INVISIBLE.sub("", _CONTROL.sub("", text.replace("\t", "    ")))


def safe_json(document: str) -> str:
    """A JSON document for the terminal: characters a terminal would act on (C1 controls,
    invisible reordering characters) written as \\u escapes, which JSON reads back as the
    same text. (json.dumps escapes C0 controls itself.)"""
    return _JSON_UNSAFE.sub(
        lambda m: (
            "\\u"
            + "".join(f"{ord(c):04x}" if ord(c) < 0x10000 else _surrogates(c) for c in m.group())
        ),
        document,
    )


def _surrogates(char: str) -> str:
    code = ord(char) - 0x10000
    return f"{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def has_control(text: str) -> bool:
    """Whether `text` holds a control, escape or invisible character (refused in deck
    names, sections and descriptions, which are shown as they are)."""
    return bool(_CONTROL.search(text.replace("\t", " ")) or _INVISIBLE.search(text))


def cut(text: str, width: int) -> str:
    """Text on one line of at most `width` characters, cut with an ellipsis when longer."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)].rstrip() + "…"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 day`, `2 days`: a count with its noun."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def fold(text: str) -> str:
    """Text for searching: case folded and stripped of accents ("Régime" -> "regime"), so a
    search matches whatever case and accents either side was typed with."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def looks_like_html(text: str) -> bool:
    """True when `text` holds formatting tags (HTML kept from Anki), not plain text."""
    return _TAG.search(text) is not None


def from_anki_html(value: str) -> str:
    """An Anki field as a pmcards field: plain text when it can be, else cleaned HTML."""
    simple = _Simple()
    simple.feed(value)
    simple.close()
    if simple.simple:
        return "".join(simple.out).replace("\xa0", " ").strip()
    return sanitize(value).strip()


def to_anki_html(text: str) -> str:
    """A pmcards field for Anki: kept HTML as it is, plain text escaped with <br> breaks."""
    if looks_like_html(text):
        return text
    return html.escape(text, quote=False).replace("\n", "<br>")


def sanitize(value: str) -> str:
    """HTML with only harmless tags and attributes: no scripts, handlers or script links."""
    cleaner = _Cleaner()
    cleaner.feed(value)
    cleaner.close()
    return "".join(cleaner.out)


def to_terminal(text: str) -> str:
    """Text for the terminal: kept HTML shown as plain text with line breaks and bullets."""
    if not looks_like_html(text):
        return text
    parser = _Text()
    parser.feed(text)
    parser.close()
    out = "".join(parser.out).replace("\xa0", " ")
    return re.sub(r"\n{3,}", "\n\n", out).strip()


class _Simple(HTMLParser):
    """Plain text from HTML that has only <br>, <div> and <p> without attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.simple = True

    def _newline(self) -> None:
        if self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SIMPLE or attrs:
            self.simple = False
        elif tag == "br":
            self.out.append("\n")
        else:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag not in SIMPLE:
            self.simple = False
        elif tag != "br":
            self._newline()

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def handle_comment(self, data: str) -> None:
        self.simple = False

    def handle_decl(self, decl: str) -> None:
        self.simple = False

    def handle_pi(self, data: str) -> None:
        self.simple = False

    def unknown_decl(self, data: str) -> None:
        self.simple = False


class _Cleaner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_WITH_TEXT:
            self.dropping += 1
            return
        if self.dropping or tag not in ALLOWED_TAGS:
            return
        kept = []
        for name, value in attrs:
            if name not in ALLOWED_ATTRS or value is None:
                continue
            if name in ("href", "src") and _UNSAFE_URL.match(value):
                continue
            if name == "style" and re.search(r"url\s*\(|expression|@import", value, re.I):
                continue
            kept.append(f' {name}="{html.escape(value, quote=True)}"')
        self.out.append(f"<{tag}{''.join(kept)}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in DROP_WITH_TEXT:
            self.dropping -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in DROP_WITH_TEXT:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in ALLOWED_TAGS or tag in VOID:
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(html.escape(data, quote=False))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.dropping = 0

    def _newline(self) -> None:
        if self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_WITH_TEXT:
            self.dropping += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self._newline()
            self.out.append("• ")
        elif tag == "img":
            src = dict(attrs).get("src") or ""
            self.out.append(f"[image: {src}]")
        elif tag in BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in DROP_WITH_TEXT:
            self.dropping = max(0, self.dropping - 1)
        elif tag in BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(data)
