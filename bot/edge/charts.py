"""Inline SVG charts for the dashboard: drawn on the server, no script and no external asset."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

LABEL_W = 170
VALUE_W = 80
ROW_H = 22
BAR_COLOUR = "#3b6fb6"
OVER_COLOUR = "#c0392b"


def _label(text: str, limit: int = 26) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def bars(items: Sequence[tuple[str, float]], *, budget: float | None = None, width: int = 460,
         title: str = "") -> Markup:
    """One horizontal bar per (label, dollars); ``budget`` draws a dashed line there and turns
    the bars past it red."""
    if not items:
        return Markup('<p class="empty">No spend yet.</p>')
    plot = width - LABEL_W - VALUE_W
    top = max([v for _, v in items] + [budget or 0.0]) or 1.0
    height = ROW_H * len(items) + (18 if budget else 6)
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(items):
        y = i * ROW_H + 4
        w = max(1.0, plot * value / top) if value > 0 else 0.0
        colour = OVER_COLOUR if budget is not None and value > budget else BAR_COLOUR
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
                     f'<title>{escape(label)}</title>{_label(label)}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{ROW_H - 8}" fill="{colour}" rx="2"/>')
        parts.append(f'<text x="{LABEL_W + w + 4:.1f}" y="{y + 13}" font-size="12">${value:,.4f}</text>')
    if budget:
        x = LABEL_W + plot * budget / top
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 14}" stroke="#555" '
                     'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 2}" text-anchor="middle" font-size="11" fill="#555">'
                     f'budget ${budget:,.2f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def rate(part: int, whole: int, width: int = 110) -> Markup:
    """A small bar: the share of outputs that went well (``part`` of ``whole``)."""
    if not whole:
        return Markup('<span class="empty">&ndash;</span>')
    share = part / whole
    return Markup(
        f'<svg class="rate" role="img" aria-label="{part} of {whole}" width="{width}" height="12" '
        f'viewBox="0 0 {width} 12" xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="0" y="1" width="{width}" height="10" fill="#e3e7ee" rx="2"/>'
        f'<rect x="0" y="1" width="{width * share:.1f}" height="10" fill="#2e8b57" rx="2"/></svg>'
    )
