"""The Jinja environment for HTML exports: our templates, optionally overridden by the user's.

Autoescape is on for everything: card text such as `<script>` is shown, never run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError

from pmcards.errors import PmcardsError
from pmcards.resources import templates_dir


def environment(user_dir: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(user_dir))] if user_dir is not None else []
    loaders.append(FileSystemLoader(str(templates_dir())))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = lambda x: f"{x * 100:.0f}%"
    return env


def render(template: str, user_dir: Path | None, **context: Any) -> bytes:
    try:
        html = environment(user_dir).get_template(template).render(**context)
    except TemplateError as exc:
        where = f" in {user_dir}" if user_dir is not None else ""
        line = getattr(exc, "lineno", None)
        name = getattr(exc, "name", None) or template
        at = f"{name}:{line}: " if line else f"{name}: "
        raise PmcardsError(f"template error{where}: {at}{exc.message or exc}") from exc
    return html.encode("utf-8")
