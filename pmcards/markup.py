"""HTML in card fields: from Anki, to Anki, and to the terminal.

pmcards' fields are plain text. Anki's are HTML. On the way in, a field whose HTML is only
line breaks and entities becomes plain text; one with real formatting is kept as HTML, cleaned
of anything active (scripts, event handlers, `javascript:` links). A field is kept as HTML,
too, when its text would read as a tag: `&lt;br&gt;` typed in Anki is the text "<br>", and
stays text, here and on the way back. On the way out, plain text is escaped for Anki and kept
HTML goes as it is. The terminal shows kept HTML as text, and every string bound for the
terminal passes `safe`, the one terminal sanitiser.

Images inlined as `data:` URLs become media files (`inline_images`): a field stays small, and
nothing is dropped without a word.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
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
_TAG_NAMES = "|".join(sorted(ALLOWED_TAGS))
# No space after "<": HTML reads "a < b and c > d" as text, and so does pmcards.
_TAG = re.compile(r"</?(" + _TAG_NAMES + r")\b[^<>]*>", re.IGNORECASE)
# A tag written as text in HTML (`&lt;br&gt;`): only kept HTML holds one.
_ESCAPED_TAG = re.compile(r"&(?:lt|#0*60|#x0*3c);/?(" + _TAG_NAMES + r")\b", re.IGNORECASE)
_UNSAFE_URL = re.compile(r"^\s*(javascript|vbscript|data)\s*:", re.IGNORECASE)
# An image inlined in an `src` attribute, and the raster types pmcards keeps as media files
# (an SVG can carry scripts: it is dropped, as any other `data:` URL).
_DATA_SRC = re.compile(
    r"""(\bsrc\s*=\s*)(["']?)data:([a-z0-9.+/-]*)((?:;[^,"'>\s]*)*),([^"'>\s]*)\2""",
    re.IGNORECASE,
)
INLINE_IMAGE_TYPES = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/bmp": "bmp",
}


def safe(text: str) -> str:
    """Text made harmless for a terminal: no escape sequences, no control characters."""
    text = _ANSI.sub("", text)
    return _CONTROL.sub("", text.replace("\t", "    "))


def looks_like_html(text: str) -> bool:
    """True when `text` holds formatting tags (HTML kept from Anki), not plain text; or a
    tag written as text (`&lt;b&gt;`), which only HTML kept from Anki holds."""
    return _TAG.search(text) is not None or _ESCAPED_TAG.search(text) is not None


def from_anki_html(value: str) -> str:
    """An Anki field as a pmcards field: plain text when it can be, else cleaned HTML.

    Plain text only when it would read back as the same text: if its text holds what looks
    like a tag (the user typed `<br>` in Anki, stored as `&lt;br&gt;`), it stays HTML, so the
    tag stays text in pmcards and in Anki."""
    simple = _Simple()
    simple.feed(value)
    simple.close()
    if simple.simple:
        plain = "".join(simple.out).replace("\xa0", " ").strip()
        if not looks_like_html(plain):
            return plain
    return sanitize(value).strip()


def inline_images(value: str) -> tuple[str, list[tuple[str, bytes]], list[str]]:
    """The images of an HTML field inlined as `data:` URLs, as files: returns the field
    pointing at them by name, the files (name, bytes), and the `data:` URLs that are not a
    raster image (SVG, text, broken base64), which the sanitiser will drop."""
    files: dict[str, bytes] = {}
    dropped: list[str] = []
    if "data:" not in value.lower():
        return value, [], []

    def one(match: re.Match[str]) -> str:
        prefix, quote, mime, params, payload = match.groups()
        kind = INLINE_IMAGE_TYPES.get(mime.lower())
        if kind is None or ";base64" not in params.lower():
            dropped.append(mime or "data")
            return match.group(0)
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            dropped.append(f"{mime} (broken base64)")
            return match.group(0)
        name = f"inline-{hashlib.sha256(data).hexdigest()[:16]}.{kind}"
        files[name] = data
        return f"{prefix}{quote or chr(34)}{name}{quote or chr(34)}"

    out = _DATA_SRC.sub(one, value)
    return out, list(files.items()), dropped


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
