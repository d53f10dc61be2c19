"""The text the bot posts and the prompts it sends live in templates/, rendered with jinja2.

StrictUndefined: a template that names a missing variable fails loudly instead of posting a gap.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("model_routing_templates", ""),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown and prompts, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # the templates ship with the package and never change while the process runs; the
        # reload check costs a stat per render, and a large review renders thousands of pieces
        auto_reload=False,
    )
    return env


def render(template: str, **values: Any) -> str:
    """Render templates/<name>, e.g. ``render("comments/help.md.j2", commands=...)``."""
    return environment().get_template(template).render(**values)


@lru_cache(maxsize=1)
def page_environment() -> jinja2.Environment:
    """HTML pages (templates/web/): every value escaped unless marked safe."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("model_routing_templates", ""),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def render_page(template: str, **values: Any) -> str:
    """Render an HTML page, e.g. ``render_page("web/dashboard.html.j2", data=...)``."""
    return page_environment().get_template(template).render(**values)
