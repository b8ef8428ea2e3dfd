"""`mailbridge smtp test --to ADDRESS`: send a real test mail and report each step."""

from __future__ import annotations

import asyncio
from email import policy
from email.message import EmailMessage

import typer

from mailbridge.base.errors import CommandError
from mailbridge.cli.common import settings
from mailbridge.decisions.outgoing.compose import make_address
from mailbridge.outbox.smtp import probe
from mailbridge.runtime.app import build_app

app = typer.Typer(no_args_is_help=True, help="The SMTP side.")


@app.command("test")
def test(to: str = typer.Option(..., "--to", help="Address that receives the test mail.")) -> None:
    """Connect, secure, log in and send one test mail, reporting each step.

    Example: mailbridge smtp test --to me@shop.example
    """
    current = settings()
    app_ = build_app(current, upgrade=False)
    support = current.support
    message = EmailMessage()
    try:
        message["From"] = make_address(support.from_name, support.from_address)
        message["To"] = make_address("", to)
    except ValueError as exc:
        raise CommandError(f"--to: {exc}") from None
    message["Subject"] = "mailbridge SMTP test"
    message["Message-ID"] = app_.mail.new_message_id(support.from_address)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("This is a test mail sent by `mailbridge smtp test`. No action is needed.")
    asyncio.run(
        probe(
            current.smtp.connection,
            mail_from=support.from_address,
            recipient=to,
            raw=app_.signer.sign(message.as_bytes(policy=policy.SMTP)),
            report=lambda line: typer.echo(f"ok  {line}"),
        )
    )
    typer.echo("test mail sent")
