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
# Style properties kept in a `style` attribute: how text looks, nothing that loads a URL
# (background, content, behavior) or moves text over other things (position).
STYLE_PROPERTIES = frozenset(
    [
        "color",
        "background-color",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "text-align",
        "text-decoration",
        "vertical-align",
        "white-space",
    ]
)
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
_TAG_NAMES = "|".join(sorted(ALLOWED_TAGS))
# No space after "<": HTML reads "a < b and c > d" as text, and so does pmcards.
_TAG = re.compile(r"</?(" + _TAG_NAMES + r")\b[^<>]*>", re.IGNORECASE)
# A tag written as text in HTML (`&lt;br&gt;`): only kept HTML holds one.
_ESCAPED_TAG = re.compile(r"&(?:lt|#0*60|#x0*3c);/?(" + _TAG_NAMES + r")\b", re.IGNORECASE)
# An image inlined in an `src` attribute, and the raster types pmcards keeps as media files
# (an SVG can carry scripts: it is dropped, as any other `data:` URL).
_DATA_SRC = re.compile(
    r"""(\bsrc\s*=\s*)(["']?)data:([a-z0-9.+/-]*)((?:;[^;,"'>\s]*)*),([^"'>\s]*)\2""",
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
    if text.isascii():
        return text.lower()  # the same for ASCII, without a pass per character
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def looks_like_html(text: str) -> bool:
    """True when `text` holds formatting tags (HTML kept from Anki), not plain text; or a
    tag written as text (`&lt;b&gt;`), which only HTML kept from Anki holds."""
    return _TAG.search(text) is not None or _ESCAPED_TAG.search(text) is not None


def from_anki_html(value: str) -> str:
    """An Anki field as a pmcards field: plain text when it can be, else cleaned HTML.

    Plain text only when it would read back as the same text: if its text holds what looks
    like a tag (the user typed `<br>` in Anki, stored as `&lt;br&gt;`), it stays HTML, so the
    tag stays text in pmcards and in Anki."""
    if "<" not in value and "&" not in value:
        # No tag and no character reference: the parser would hand the text back as it is
        # (most fields; parsing them was a tenth of a 100,000-note package's import).
        return value.replace("\xa0", " ").strip()
    return _from_parsed_html(value)


def _from_parsed_html(value: str) -> str:
    """`from_anki_html` by the parser, whatever the field holds."""
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
    """A pmcards field for Anki: kept HTML sanitised (a hand-written deck's `<img onerror>`
    must not run in Anki), plain text escaped with <br> breaks."""
    if looks_like_html(text):
        return sanitize(text)
    return html.escape(text, quote=False).replace("\n", "<br>")


def sanitize(value: str) -> str:
    """HTML with only harmless tags, attributes and styles: no scripts, handlers, script
    links or style URLs. The work is ammonia's (through nh3), a parser that reads HTML as
    a browser does, so entity- and CSS-escaped tricks that fool patterns do not get past."""
    import nh3

    cleaned = nh3.clean(
        value,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_TEXT),
        attributes={"*": set(ALLOWED_ATTRS)},
        url_schemes={"http", "https", "mailto"},
        filter_style_properties=set(STYLE_PROPERTIES),
        link_rel=None,
        strip_comments=True,
    )
    # A style whose every property was removed stays as an empty attribute; drop it. (In
    # ammonia's output, text never holds a raw quote, so this only matches attributes.)
    return cleaned.replace(' style=""', "")


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
