"""A self-contained HTML page: inline CSS, images as data URIs, no scripts, no external links."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._fig import data_uri

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1a202c;
background:#f7fafc;line-height:1.45}
header{background:#1a365d;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:24px}header p{margin:4px 0 0;color:#cbd5e0;font-size:13px}
nav{background:#fff;border-bottom:1px solid #e2e8f0;padding:8px 32px;font-size:13px}
nav a{margin-right:14px;color:#2b6cb0;text-decoration:none}
main{padding:8px 32px 32px;max-width:1320px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;margin:16px 0;padding:12px 20px}
h2{font-size:19px;margin:6px 0 10px;color:#1a365d}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border-bottom:1px solid #e2e8f0;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#edf2f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.warn{background:#fffaf0;border-left:5px solid #dd6b20}.warn li{margin:4px 0}
.ok{background:#f0fff4;border-left:5px solid #38a169}
.note{color:#4a5568;font-size:13px}code{background:#edf2f7;padding:0 3px;border-radius:3px}
.cols{display:flex;flex-wrap:wrap;gap:32px;align-items:flex-start}
footer{color:#718096;font-size:12px;padding:0 32px 24px}
"""


def esc(v: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(v), quote=True)


def fmt(v: Any, digits: int = 1) -> str:
    """Integers with thousands separators, floats with ``digits`` decimals, '–' for None."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    ids: Sequence[Sequence[str | None]] | None = None,
    digits: int = 1,
) -> str:
    """An HTML table; numbers right-aligned; ``ids`` gives cells an ``id`` (for tests, links)."""
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for r, row in enumerate(rows):
        out.append("<tr>")
        for c, v in enumerate(row):
            cls = ' class="num"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
            cid = ids[r][c] if ids and ids[r][c] else None
            attr = f' id="{esc(cid)}"' if cid else ""
            out.append(f"<td{cls}{attr}>{esc(fmt(v, digits))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def image(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a data URI."""
    return f'<img alt="{esc(alt)}" src="{data_uri(png)}">'


def para(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{esc(text)}</p>'


@dataclass
class Page:
    """Sections in order, a navigation bar, and the notes of sections left out."""

    title: str
    subtitle: str
    sections: list[tuple[str, str, str]] = field(default_factory=list)
    omitted: list[tuple[str, str]] = field(default_factory=list)
    footer: str = ""

    def add(self, sid: str, title: str, body: str) -> None:
        self.sections.append((sid, title, body))

    def omit(self, title: str, reason: str) -> None:
        self.omitted.append((title, reason))

    def render(self) -> str:
        """The whole document as one string."""
        sections = list(self.sections)
        if self.omitted:
            items = "".join(f"<li><b>{esc(t)}</b>: {esc(r)}</li>" for t, r in self.omitted)
            sections.append(("omitted", "Not in this report", f'<ul class="note">{items}</ul>'))
        nav = "".join(f'<a href="#{esc(s)}">{esc(t)}</a>' for s, t, _ in sections)
        body = "".join(
            f'<section id="{esc(s)}"><h2>{esc(t)}</h2>{b}</section>' for s, t, b in sections
        )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(self.title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(self.title)}</h1><p>{esc(self.subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main><footer>{esc(self.footer)}</footer>"
            "</body></html>\n"
        )
