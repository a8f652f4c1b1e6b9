"""Today by hour as server-side SVG: calls and missed as bars, the answered-in-20-s share as a line."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from dialer.core.sla import FiguresView

WIDTH, HEIGHT, PAD = 720, 220, 32


def hours_svg(hours: Mapping[int, FiguresView]) -> str:
    if not hours:
        return '<p class="empty">Сегодня звонков ещё не было.</p>'
    keys = sorted(hours)
    peak = max(1, *(int(hours[h]["calls"]) for h in keys))
    slot = (WIDTH - 2 * PAD) / len(keys)
    bar = max(4.0, slot * 0.35)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Звонки по часам">']
    parts.append(
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>'
    )
    line: list[str] = []
    for index, hour in enumerate(keys):
        row = hours[hour]
        x = PAD + index * slot + slot / 2
        for value, css, shift in ((int(row["calls"]), "calls", -bar), (int(row["missed"]), "missed", 0.0)):
            height = (HEIGHT - 2 * PAD) * value / peak
            parts.append(
                f'<rect class="{css}" x="{x + shift:.1f}" y="{HEIGHT - PAD - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}"><title>{escape(f"{hour}:00 — {value}")}</title></rect>'
            )
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 16}" class="label">{hour}</text>')
        share = float(row["answered_in_target_pct"])
        line.append(f"{x:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * share / 100:.1f}")
    parts.append(f'<polyline class="sla" points="{" ".join(line)}"/>')
    parts.append(
        f'<text x="{PAD}" y="16" class="legend">■ звонки  ■ пропущено  — отвечено за 20 с, %</text></svg>'
    )
    return "".join(parts)
