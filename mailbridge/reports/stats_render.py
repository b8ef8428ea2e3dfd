"""StatsReport -> rich tables with bar charts for the terminal, or one self-contained HTML page.

The HTML report draws its charts as inline SVG and carries its style inline: no external assets,
so it can be mailed around as one file. Called by `cli/stats_cmd.py`.
"""

from __future__ import annotations

from html import escape

from rich.console import Console
from rich.table import Table

from mailbridge.reports.figures import Csat, Spread, StatsReport

BAR_WIDTH = 30


def bar(value: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A text bar of `value` scaled so `largest` fills `width` characters."""
    return "█" * (round(width * value / largest) if largest else 0)


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:g} h"


def _period(report: StatsReport) -> str:
    since = report.since.date().isoformat() if report.since else "the start"
    until = report.until.date().isoformat() if report.until else "now"
    return f"{since} to {until}"


def _counts_table(title: str, counts: dict) -> Table:
    table = Table(title=title)
    table.add_column("", justify="right")
    table.add_column("count", justify="right")
    table.add_column("")
    largest = max(counts.values(), default=0)
    for key, value in counts.items():
        table.add_row(str(key), str(value), bar(value, largest))
    return table


def _csat_table(title: str, rows: tuple[Csat, ...]) -> Table:
    table = Table(title=title)
    for column in ("", "ratings", "average", "satisfied", ""):
        table.add_column(column, justify="left" if not column else "right")
    for row in rows:
        table.add_row(
            row.name,
            str(row.count),
            f"{row.average:.2f}",
            f"{row.satisfied_percent:g} %",
            bar(round(row.average * 10), 50, 20),
        )
    return table


def print_report(report: StatsReport, console: Console) -> None:
    """Print the report as tables with small bar charts."""
    summary = Table(title=f"Tickets, {_period(report)}")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    for label, value in _summary_rows(report):
        summary.add_row(label, value)
    console.print(summary)
    console.print(_counts_table("Backlog by status", report.backlog))
    console.print(_csat_table("CSAT per Contact", report.csat_by_contact))
    console.print(_csat_table("CSAT per agent", report.csat_by_agent))
    console.print(_counts_table("Customer messages per hour", report.by_hour))
    console.print(_counts_table("Customer messages per weekday", report.by_weekday))


def _spread_rows(name: str, value: Spread) -> list[tuple[str, str]]:
    return [
        (f"{name} median (business hours)", _hours(value.median_hours)),
        (f"{name} p90 (business hours)", _hours(value.p90_hours)),
        (f"{name} count", str(value.count)),
    ]


def _summary_rows(report: StatsReport) -> list[tuple[str, str]]:
    total = report.csat_total
    return [
        ("opened", str(report.opened)),
        ("opened pre-sale", str(report.presale)),
        ("closed", str(report.closed)),
        ("reopened", str(report.reopened)),
        *_spread_rows("first response", report.first_response),
        *_spread_rows("resolution", report.resolution),
        ("SLA met", str(report.sla_met)),
        ("SLA breached", str(report.sla_breached)),
        ("CSAT", f"{total.average:.2f} from {total.count}, {total.satisfied_percent:g} % satisfied" if total else "-"),
    ]


def svg_bars(counts: dict, *, width: int = 600, height: int = 160) -> str:
    """An inline SVG bar chart of `counts`, labelled below each bar."""
    largest = max(counts.values(), default=0) or 1
    step = width / max(len(counts), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" role="img">']
    for index, (key, value) in enumerate(counts.items()):
        tall = (height - 14) * value / largest
        x = index * step
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{height - tall:.1f}" width="{step - 4:.1f}" height="{tall:.1f}" '
            f'fill="#3b6ea5"><title>{escape(str(key))}: {value}</title></rect>'
        )
        parts.append(
            f'<text x="{x + step / 2:.1f}" y="{height + 14}" font-size="10" text-anchor="middle">'
            f"{escape(str(key))}</text>"
        )
        if value:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - tall - 3:.1f}" font-size="10" '
                f'text-anchor="middle">{value}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _csat_rows(rows: tuple[Csat, ...]) -> list[list[str]]:
    return [[r.name, str(r.count), f"{r.average:.2f}", f"{r.satisfied_percent:g} %"] for r in rows]


def html_report(report: StatsReport) -> str:
    """Render the whole report as one HTML page with inline SVG charts and no external assets."""
    csat_headers = ["", "ratings", "average", "satisfied"]
    sections = [
        f"<h1>Support statistics, {escape(_period(report))}</h1>",
        _html_table(["figure", "value"], [list(r) for r in _summary_rows(report)]),
        "<h2>Backlog by status</h2>",
        svg_bars(report.backlog),
        "<h2>CSAT per Contact</h2>",
        _html_table(csat_headers, _csat_rows(report.csat_by_contact)),
        "<h2>CSAT per agent</h2>",
        _html_table(csat_headers, _csat_rows(report.csat_by_agent)),
        "<h2>Customer messages per hour</h2>",
        svg_bars(report.by_hour),
        "<h2>Customer messages per weekday</h2>",
        svg_bars(report.by_weekday),
    ]
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Support statistics</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
