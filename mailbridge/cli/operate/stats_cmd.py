"""`mailbridge stats`: tickets, response and resolution times, SLA and CSAT for a period, as tables,
JSON or a self-contained HTML report.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console

from mailbridge.base.files import write_private
from mailbridge.cli.common import echo_json, open_store, option_instant
from mailbridge.decisions.business_hours import build_calendar
from mailbridge.reports.figures import compute_report
from mailbridge.reports.stats import StatsFilter, gather_facts
from mailbridge.reports.stats_render import html_report, print_report
from mailbridge.store import db


def stats(
    since: str = typer.Option(None, help="From this date/time (ISO 8601), inclusive."),
    until: str = typer.Option(None, help="Up to this date/time (ISO 8601), exclusive."),
    contact: str = typer.Option(None, help="Only this Contact (department), by name."),
    agent: str = typer.Option(None, help="Only tickets assigned to this agent address."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML report to this file."),
) -> None:
    """Show tickets opened, closed and reopened, backlog, response and resolution times, SLA and CSAT.

    Example: mailbridge stats --since 2026-11-01 --until 2026-12-01 --contact "Customer service" --html report.html
    """
    app = open_store()
    now = app.clock.now()
    filters = StatsFilter(
        since=option_instant(since, "--since"), until=option_instant(until, "--until"), contact=contact, agent=agent
    )
    with db.transaction(app.engine) as session:
        facts = gather_facts(session=session, filters=filters, sla=app.settings.sla, now=now)
    first = min((t.created_at for t in facts.tickets), default=now)
    report = compute_report(facts, build_calendar(app.settings.sla, range(first.year, now.year + 2)))
    if html:
        write_private(html, html_report(report))  # customers' addresses and figures
    if as_json:
        echo_json(asdict(report))
        return
    print_report(report, Console())
    if html:
        typer.echo(f"HTML report written to {html}")
