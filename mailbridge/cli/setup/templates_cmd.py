"""`mailbridge templates list|preview`: see which mail templates exist and render one with sample data."""

from __future__ import annotations

from pathlib import Path

import typer
from jinja2 import meta

from mailbridge.base.errors import NotFoundError
from mailbridge.cli.common import echo_json, settings
from mailbridge.decisions.outgoing.templates import SHIPPED, make_environment, render
from mailbridge.decisions.survey import rating_links

app = typer.Typer(no_args_is_help=True, help="Mail templates.")

SAMPLE = {
    "number": "48213907751",
    "customer_name": "Giulia Bianchi",
    "subject": "Ordine 10023 non ancora arrivato",
    "from_name": "Demo Shop support",
    "reference_line": "Ticket: [#48213907751]",
    "auto_close_days": 5,
    # receipt, auto_closed, auto_close_reminder
    "expected_by_text": "Monday 10:00 (CET)",
    "days": 5,
    "hours": "24",
    "contact_name": "Customer service",
    # survey and survey_thanks
    "links": rating_links("support@shop.example", "r.sample.token", "My rating [#48213907751]"),
    "window_days": 14,
    "score": 4,
    "is_replacement": False,
    # agent_notification, agent_notice, agent_forward, agent_reply
    "headline": "New ticket",
    "status": "new",
    "customer_email": "giulia@example.org",
    "history_line": "1 message, opened 2026-11-24 09:00, unassigned",
    "attachments": ["foto.jpg"],
    "text": "Buongiorno, il mio ordine non è ancora arrivato.",
    "thread": [],
    "text_modules": ["returns"],
    "actions": ["return"],
    "shop": {
        "orders": 3,
        "total_spent": "187.40 EUR",
        "registered": "2024-02-11",
        "named_order": {"reference": "10023", "state": "Shipped", "total": "59.90 EUR", "date": "2026-11-20"},
    },
    "line": "This ticket was transferred to Luca Bianchi.",
    "comment": "Can you trace this parcel?",
    "agent_name": "Maria Rossi",
    "greeting": "Dear Giulia Bianchi,",
    "signature": "Kind regards, Shop support",
}


def _template_files(override_dir: Path | None) -> dict[tuple[str, str], list[str]]:
    """Map (kind, locale) -> the parts found, shipped and overridden."""
    found: dict[tuple[str, str], list[str]] = {}
    for root, origin in ((SHIPPED, "shipped"), (override_dir, "site")):
        if root is None or not root.is_dir():
            continue
        for path in sorted(root.glob("*/*.j2")):
            locale, part = path.name.split(".")[0], path.name.split(".")[1]
            found.setdefault((path.parent.name, locale), []).append(f"{part} ({origin})")
    return found


@app.command("list")
def list_templates(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every kind of mail and the locales it has.

    Example: mailbridge templates list
    """
    found = _template_files(settings().templates_dir)
    rows = [{"kind": kind, "locale": locale, "parts": parts} for (kind, locale), parts in sorted(found.items())]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['kind']:<20} {row['locale']:<4} {', '.join(row['parts'])}")


@app.command("preview")
def preview(
    kind: str,
    locale: str = typer.Option("en", help="Locale to render (en, it, cs, el, de)."),
    html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text part."),
) -> None:
    """Render one kind of mail with sample data.

    Example: mailbridge templates preview receipt --locale it
    """
    env = make_environment(settings().templates_dir)
    if not any(k == kind for k, _ in _template_files(settings().templates_dir)):
        raise NotFoundError(f"no template kind {kind!r}; see `mailbridge templates list`")
    context = dict(SAMPLE)
    for part in ("txt", "html"):
        name = (
            f"{kind}/{locale}.{part}.j2"
            if (SHIPPED / kind / f"{locale}.{part}.j2").exists()
            else f"{kind}/en.{part}.j2"
        )
        source = env.loader.get_source(env, name)[0]
        for variable in meta.find_undeclared_variables(env.parse(source)):
            context.setdefault(variable, f"<{variable}>")
    rendered = render(env, kind, locale, context)
    typer.echo((rendered.html if html else rendered.text).rstrip("\n"))
