"""StatsReport -> one self-contained HTML page a support lead reads at a glance, on a desk or a phone.

The page is the Jinja2 template `reports/templates/stats.html.j2` (autoescaped: subjects, comments and names
from mail are text, never markup) with inline CSS and inline SVG charts (`stats_charts`): no script, no external
URL. Times are shown in the report's time zone. Called by `cli/operate/stats_cmd.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from mailbridge.reports.figures import Csat, StatsReport
from mailbridge.reports.render import visible_text
from mailbridge.reports.stats_charts import svg_bars, svg_lines
from mailbridge.reports.trends import AGE_BANDS

BUCKET_WORDS = {"day": "per day", "week": "per week (from Monday)", "month": "per month"}


def hours(value: float | None) -> str:
    """A duration in hours for a table cell ("-" when there is none)."""
    return "-" if value is None else f"{value:.1f} h"


def age(value_hours: float) -> str:
    """A wall-clock age: "5 h", "3 d 4 h"."""
    whole = int(value_hours)
    return f"{whole} h" if whole < 24 else f"{whole // 24} d {whole % 24} h"


def csat_text(value: Csat | None) -> str:
    """Average score and share of satisfied customers: "4.50 (100% happy, 2)"."""
    return "-" if value is None else f"{value.average:.2f} ({value.satisfied_percent:g}% happy, {value.count})"


def _period(report: StatsReport, zone: ZoneInfo) -> str:
    start = report.since or report.period_start
    first = start.astimezone(zone).date().isoformat() if start else "the start"
    if report.until is not None:
        last = (report.until - timedelta(microseconds=1)).astimezone(zone).date().isoformat()
    else:
        last = "now"
    return first if first == last else f"{first} to {last}"


def _short(bucket: str, kind: str) -> str:
    return bucket if kind == "month" else bucket[5:]


def _charts(report: StatsReport) -> dict:
    labels = [_short(p.bucket, report.bucket) for p in report.trend]
    backlog_ages = {band: sum(row[band] for row in report.backlog_by_age.values()) for band in AGE_BANDS}
    return {
        "volume": svg_lines(
            labels,
            [("opened", [p.opened for p in report.trend]), ("closed", [p.closed for p in report.trend])],
            "tickets",
        ),
        "times": svg_lines(
            labels,
            [
                ("first response", [p.first_response_median_hours for p in report.trend]),
                ("resolution", [p.resolution_median_hours for p in report.trend]),
            ],
            "business hours",
        ),
        "ages": svg_bars(backlog_ages, "open tickets"),
        "hours": svg_bars({f"{h:02d}": n for h, n in report.by_hour.items()}, "messages"),
        "weekdays": svg_bars(dict(report.by_weekday), "messages"),
    }


def _kpis(report: StatsReport) -> list[tuple[str, str]]:
    answered = report.sla_met + report.sla_breached
    sla = f"{100 * report.sla_met / answered:.0f}%" if answered else "-"
    return [
        ("opened", str(report.opened)),
        ("closed", str(report.closed)),
        ("reopened", str(report.reopened)),
        ("open now", str(sum(report.backlog.values()))),
        ("first response, median", hours(report.first_response.median_hours)),
        ("resolution, median", hours(report.resolution.median_hours)),
        ("SLA met", f"{sla} ({report.sla_breached} breached)"),
        ("CSAT", csat_text(report.csat_total)),
    ]


def html_report(report: StatsReport, generated_at: datetime) -> str:
    """Render the whole report as one HTML page with inline SVG charts and no external assets."""
    zone = ZoneInfo(report.timezone)
    environment = Environment(
        loader=PackageLoader("mailbridge.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        hours=hours,
        age=age,
        csat=csat_text,
        local=lambda at: at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        # Stored text from mail, control and bidi characters made visible (autoescaping does the markup).
        text=visible_text,
        lines=lambda value: visible_text(value, multiline=True),
    )
    return environment.get_template("stats.html.j2").render(
        report=report,
        period=_period(report, zone),
        bucket_words=BUCKET_WORDS[report.bucket],
        generated=generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        kpis=_kpis(report),
        charts=_charts(report),
        age_bands=AGE_BANDS,
        breaches_hidden=max(report.sla_breached - len(report.breaches), 0),
    )
