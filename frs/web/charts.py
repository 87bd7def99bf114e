"""Server-rendered SVG charts for the dashboards.

Inline ``<svg>`` is not script, so it works under the portal's strict Content-Security-Policy
(which forbids inline ``style`` attributes: the look comes from classes in ``frs-reports.css`` and
SVG presentation attributes). Each chart has a title and a description for screen readers, and the
page always shows the same numbers in a table next to it. The school is a solid dark bar, all
schools a light bar with a dark outline, so the chart reads in black and white too.
"""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

ROW = 40  # height of one label's pair of bars
LABEL_WIDTH = 240
WIDTH = 620
BAR = 15


def _fmt(value: float | None, decimals: int, percent: bool) -> str:
    if value is None:
        return "–"
    return f"{value:,.{decimals}f}" + ("%" if percent else "")


def _nice_max(top: float) -> float:
    for power in range(-1, 7):
        for step in (1, 2, 2.5, 5):
            candidate = step * 10 ** power
            if candidate >= top:
                return float(candidate)
    return float(top)


def _truncate(label: str, limit: int = 32) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def paired_bars(chart_id: str, title: str, labels: Sequence[str], school: Sequence[float | None],
                others: Sequence[float | None], *, decimals: int = 1, percent: bool = False,
                value_max: float | None = None, other_name: str = "All schools") -> Markup:
    """Horizontal bars, one pair per label: the school against all schools, values printed at the
    bar ends. ``chart_id`` must be unique on the page (it names the title and description)."""
    known = [v for v in list(school) + list(others) if isinstance(v, (int, float))]
    top = value_max or _nice_max(max(known + [0.0]) or 1.0)
    plot = WIDTH - LABEL_WIDTH - 70
    height = 30 + ROW * len(labels) + 10
    cid = escape(chart_id)
    description = "; ".join(f"{label}: school {_fmt(s, decimals, percent)}, {other_name.lower()} "
                            f"{_fmt(o, decimals, percent)}" for label, s, o in zip(labels, school, others))
    parts = [f'<svg class="frs-chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
             f'aria-labelledby="{cid}-title {cid}-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(description)}</desc>',
             # legend
             f'<rect x="{LABEL_WIDTH}" y="6" width="14" height="12" class="frs-chart__school" fill="#0b0c0c"/>',
             f'<text x="{LABEL_WIDTH + 20}" y="16" class="frs-chart__text" font-size="13">School</text>',
             f'<rect x="{LABEL_WIDTH + 90}" y="6" width="14" height="12" class="frs-chart__other" fill="#ffffff" '
             f'stroke="#0b0c0c"/>',
             f'<text x="{LABEL_WIDTH + 110}" y="16" class="frs-chart__text" font-size="13">{escape(other_name)}</text>']
    for i, (label, s, o) in enumerate(zip(labels, school, others)):
        y = 30 + i * ROW
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR + 4}" text-anchor="end" class="frs-chart__text" '
                     f'font-size="14">{escape(_truncate(label))}</text>')
        for k, (value, css, fill) in enumerate(((s, "frs-chart__school", "#0b0c0c"),
                                                (o, "frs-chart__other", "#ffffff"))):
            by = y + k * (BAR + 2)
            if not isinstance(value, (int, float)):
                parts.append(f'<text x="{LABEL_WIDTH + 4}" y="{by + BAR - 2}" class="frs-chart__text" '
                             f'font-size="13">no figure</text>')
                continue
            w = max(0.0, min(1.0, value / top)) * plot if top else 0.0
            stroke = ' stroke="#0b0c0c"' if k else ""
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{by}" width="{w:.1f}" height="{BAR}" class="{css}" '
                         f'fill="{fill}"{stroke}/>')
            parts.append(f'<text x="{LABEL_WIDTH + w + 4:.1f}" y="{by + BAR - 2}" class="frs-chart__text" '
                         f'font-size="13">{escape(_fmt(value, decimals, percent))}</text>')
    parts.append(f'<line x1="{LABEL_WIDTH}" y1="26" x2="{LABEL_WIDTH}" y2="{height - 6}" stroke="#505a5f"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
