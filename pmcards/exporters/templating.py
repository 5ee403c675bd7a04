"""The Jinja environment for HTML exports: our templates, optionally overridden by the user's.

Autoescape is on for everything: card text such as `<script>` is shown, never run.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError
from markupsafe import Markup

from pmcards.errors import PmcardsError
from pmcards.resources import templates_dir

# C0 and C1 control characters other than tab and line breaks: invalid in HTML, and an
# escape sequence in a card must not survive into a file someone may `cat` to a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _no_controls(value: Any) -> Any:
    if isinstance(value, Markup):
        return Markup(_CONTROL.sub("", str(value)))
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    return value


def environment(user_dir: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(user_dir))] if user_dir is not None else []
    loaders.append(FileSystemLoader(str(templates_dir())))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_no_controls,
    )
    env.filters["percent"] = lambda x: f"{x * 100:.0f}%"
    # The first letter up, the rest as written (Jinja's `capitalize` lowers "AUC" to "Auc").
    env.filters["sentence"] = lambda s: s[:1].upper() + s[1:]
    return env


def render(template: str, user_dir: Path | None, **context: Any) -> bytes:
    # Rendered a piece at a time, each thousand pieces joined and encoded as they come: a
    # study sheet of 10,000 notes is half a million small strings, which `render` would hold
    # all at once before joining them (about 40 MB more at the peak).
    out = io.BytesIO()
    pieces: list[str] = []
    try:
        for piece in environment(user_dir).get_template(template).generate(**context):
            pieces.append(piece)
            if len(pieces) >= 1000:
                out.write("".join(pieces).encode("utf-8"))
                pieces.clear()
    except TemplateError as exc:
        where = f" in {user_dir}" if user_dir is not None else ""
        line = getattr(exc, "lineno", None)
        name = getattr(exc, "name", None) or template
        at = f"{name}:{line}: " if line else f"{name}: "
        raise PmcardsError(f"template error{where}: {at}{exc.message or exc}") from exc
    out.write("".join(pieces).encode("utf-8"))
    return out.getvalue()
