"""`spend report --out report.html`: one self-contained page (plotly.js embedded once, no network) with
each section's charts and a one-line reading under them (training/report_sections.py)."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from spend.core.settings import SpendSettings
from spend.training.report_sections import SECTIONS, Section


def build_report(settings: SpendSettings, out: Path, progress: Callable[[str], None] = lambda step: None) -> dict:
    """Write the page; returns each section's reading and chart count."""
    sections = []
    for make in SECTIONS:
        progress(make.__name__)
        sections.append(make(settings))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(render(sections), encoding="utf-8")
    charts = sum(len(s.figures) for s in sections)
    return {"out": str(out), "charts": charts, "sections": {s.title: s.reading for s in sections}}


def render(sections: list[Section]) -> str:
    from plotly.offline import get_plotlyjs

    body = []
    for number, section in enumerate(sections):
        body.append(f"<section><h2>{html.escape(section.title)}</h2>")
        for k, figure in enumerate(section.figures):
            figure.update_layout(height=360, margin={"t": 48, "b": 48, "l": 56, "r": 24}, template="plotly_white")
            body.append(figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{number}-{k}"))
        body.append(f'<p class="reading">{html.escape(section.reading)}</p></section>')
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Spend report</title>"
        f"<script>{get_plotlyjs()}</script>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto;padding:1em}"
        ".reading{color:#333;margin:0.2em 0 2em}</style></head>"
        f"<body><h1>Spend report</h1><p>made {made}</p>{''.join(body)}</body></html>"
    )
