"""StatsReport -> rich tables with bar charts for the terminal. Called by `cli/operate/stats_cmd.py`.

The HTML report is `stats_html.py`.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mailbridge.reports.figures import Csat, GroupRow, Spread, StatsReport

BAR_WIDTH = 30


def bar(value: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A text bar of `value` scaled so `largest` fills `width` characters."""
    return "█" * (round(width * value / largest) if largest else 0)


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:g} h"


def _period(report: StatsReport) -> str:
    since = report.since.date().isoformat() if report.since else "the start"
    until = report.until.date().isoformat() if report.until else "now"
    return f"{since} to {until} ({report.timezone})"


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


def _group_table(title: str, rows: tuple[GroupRow, ...]) -> Table:
    table = Table(title=title)
    for column in ("", "opened", "closed", "open now", "first response", "resolution", "CSAT"):
        table.add_column(column, justify="left" if not column else "right")
    for row in rows:
        csat = f"{row.csat.average:.2f} ({row.csat.count})" if row.csat else "-"
        table.add_row(
            row.name,
            str(row.opened),
            str(row.closed),
            str(row.open_now),
            _hours(row.first_response_median_hours),
            _hours(row.resolution_median_hours),
            csat,
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
    console.print(_group_table("Per agent", report.by_agent))
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
