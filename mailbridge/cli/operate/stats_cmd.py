"""`mailbridge stats`: tickets, response and resolution times, SLA and CSAT for a period, as tables,
JSON or a self-contained HTML report.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from mailbridge.base.errors import CommandError
from mailbridge.base.files import write_private
from mailbridge.cli.common import echo_json, open_store, option_instant
from mailbridge.decisions.business_hours import build_calendar
from mailbridge.reports.figures import compute_report
from mailbridge.reports.stats import StatsFilter, gather_facts
from mailbridge.reports.stats_html import html_report
from mailbridge.reports.stats_render import print_report
from mailbridge.reports.trends import BUCKETS
from mailbridge.store import db


def stats(
    since: str = typer.Option(
        None, help="From this date/time (ISO 8601), inclusive; without an offset, in the report's time zone."
    ),
    until: str = typer.Option(
        None, help="Up to this date/time (ISO 8601), exclusive; without an offset, in the report's time zone."
    ),
    contact: str = typer.Option(None, help="Only this Contact (department), by name."),
    agent: str = typer.Option(None, help="Only tickets assigned to this agent address."),
    timezone: str = typer.Option(
        None, "--timezone", help="Time zone of the days, hours and times shown (default: [sla] timezone)."
    ),
    by: str = typer.Option(
        None, "--by", help="Trend per day, week or month (default: day up to 45 days, week up to a year, else month)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML report to this file."),
) -> None:
    """Show tickets opened, closed and reopened, backlog, response and resolution times, SLA and CSAT.

    The HTML report adds the trend per day or week, the backlog by age, each agent's and category's work,
    the SLA breaches, the oldest waiting tickets and the rating comments.

    Example: mailbridge stats --since 2026-11-01 --until 2026-12-01 --contact "Customer service" --html report.html
    """
    app = open_store()
    now = app.clock.now()
    zone = _zone(timezone or app.settings.sla.timezone)
    if by is not None and by not in BUCKETS:
        raise CommandError(f"--by: expected one of {', '.join(BUCKETS)}, got {by!r}")
    filters = StatsFilter(
        since=option_instant(since, "--since", zone=zone),
        until=option_instant(until, "--until", zone=zone),
        contact=contact,
        agent=agent,
    )
    if filters.since and filters.until and filters.until <= filters.since:
        raise CommandError(f"--until: expected a time after --since ({since}), got {until!r}")
    with db.transaction(app.engine) as session:
        facts = gather_facts(session=session, filters=filters, sla=app.settings.sla, now=now)
    first = min((t.created_at for t in facts.tickets), default=now)
    calendar = build_calendar(app.settings.sla, range(first.year, now.year + 2))
    report = compute_report(facts, calendar, zone=zone, bucket=by)
    if html:
        write_private(html, html_report(report, now))  # customers' subjects and comments
    if as_json:
        echo_json(asdict(report))
        return
    print_report(report, Console())
    if html:
        typer.echo(f"HTML report written to {html}")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise CommandError(f"--timezone: expected a time zone name like Europe/Rome, got {name!r}") from None
