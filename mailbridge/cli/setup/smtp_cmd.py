"""`mailbridge smtp test --to ADDRESS [--relay NAME]`: send a real test mail and report each step.

`check_smtp_connection` is the probe `init` runs too: its errors name the server, the port and the user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email import policy
from email.message import EmailMessage

import typer

from mailbridge.base.config.settings import ConnectionSettings, SmtpSettings
from mailbridge.base.errors import CommandError, MailbridgeError, PermanentDeliveryError, TemporaryDeliveryError
from mailbridge.base.port_security import security_hint
from mailbridge.cli.common import echo_json, settings
from mailbridge.decisions.outgoing.compose import make_address
from mailbridge.outbox.smtp import probe
from mailbridge.runtime.app import build_app

app = typer.Typer(no_args_is_help=True, help="The SMTP side.")


@app.command("test")
def test(
    to: str = typer.Option(..., "--to", help="Address that receives the test mail."),
    relay: str = typer.Option(
        None, "--relay", help="Test the brand relay of this [smtp.NAME] table instead of [smtp] (NAME as configured)."
    ),
    from_address: str = typer.Option(
        None, "--from", help="From address of the test mail (default: [support] from_address), e.g. a brand's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the steps and the outcome as JSON."),
) -> None:
    """Connect, secure, log in and send one test mail, reporting each step.

    An error names the server, the port and the user with the server's reply
    ("smtp.shop.example:587 as support@shop.example: 535 5.7.8 Authentication credentials invalid"); a security that
    does not fit the port is named in under 2 s ("port 465 speaks TLS: use security = ssl").

    --relay NAME tests a brand's relay (`[smtp.NAME]`, the one a Contact's `--smtp NAME` sends through) the same
    way; --from sends it From that brand's address when the relay accepts only its own.

    JSON (printed on failure too, with "sent": false and the "error"; exit code 1 then):

      {"host": "smtp.shop.example", "port": 587, "security": "starttls",
       "username": "support@shop.example", "to": "me@shop.example", "relay": null,
       "steps": ["connected to smtp.shop.example:587 (starttls)", "...",
       "accepted for me@shop.example"], "sent": true, "error": null}

    Example: mailbridge smtp test --to me@shop.example

    Example: mailbridge smtp test --to me@shop.example --json

    Example: mailbridge smtp test --to me@shop2.example --relay shop2 --from help@shop2.example
    """
    current = settings()
    c = relay_connection(current.smtp, relay)
    app_ = build_app(current, upgrade=False)
    support = current.support
    sender = from_address or support.from_address
    message = EmailMessage()
    try:
        message["From"] = make_address("" if from_address else support.from_name, sender)
    except ValueError as exc:
        raise CommandError(f"--from: {exc}") from None
    try:
        message["To"] = make_address("", to)
    except ValueError as exc:
        raise CommandError(f"--to: {exc}") from None
    message["Subject"] = "mailbridge SMTP test" + (f" (relay {relay})" if relay else "")
    message["Message-ID"] = app_.mail.new_message_id(sender)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("This is a test mail sent by `mailbridge smtp test`. No action is needed.")
    steps: list[str] = []
    outcome = {
        "host": c.host,
        "port": c.port,
        "security": c.security,
        "username": c.username,
        "to": to,
        "relay": relay,
    }
    try:
        check_smtp_connection(
            c,
            mail_from=sender,
            recipient=to,
            raw=app_.signer.sign(message.as_bytes(policy=policy.SMTP)),
            report=steps.append if as_json else lambda line: typer.echo(f"ok  {line}"),
        )
    except MailbridgeError as exc:
        if as_json:
            echo_json({**outcome, "steps": steps, "sent": False, "error": str(exc)})
        raise
    if as_json:
        echo_json({**outcome, "steps": steps, "sent": True, "error": None})
    else:
        typer.echo("test mail sent")


def relay_connection(smtp: SmtpSettings, relay: str | None) -> ConnectionSettings:
    """The connection of `[smtp.NAME]` (relay), else of `[smtp]`. Raises: CommandError naming the relays there are."""
    if relay is None:
        return smtp.connection
    profile = smtp.profile(relay)
    if profile is None:
        known = ", ".join(p.name for p in smtp.profiles) or "none configured"
        raise CommandError(f"--relay: expected the NAME of an [smtp.NAME] table ({known}), got {relay!r}")
    return profile.connection


def check_smtp_connection(
    connection: ConnectionSettings, *, mail_from: str, recipient: str, raw: bytes | None, report: Callable[[str], None]
) -> None:
    """Run the SMTP probe (raw None: stop after login) with errors that name the server, the port and the user.

    Raises: TemporaryDeliveryError or PermanentDeliveryError, "HOST:PORT as USER: <reply>", with a hint when the
    security does not fit the port.
    """
    c = connection
    where = f"{c.host}:{c.port}" + (f" as {c.username}" if c.username else "")
    # Plaintext or STARTTLS to a TLS port waits for a greeting that never comes: sniff first, within 2 s.
    if c.security != "ssl" and (hint := security_hint(c.host, c.port, c.security)):
        raise TemporaryDeliveryError(f"{where}: {hint}")
    steps: list[str] = []

    def step(line: str) -> None:
        steps.append(line)
        report(line)

    try:
        asyncio.run(probe(c, mail_from=mail_from, recipient=recipient, raw=raw, report=step))
    except (TemporaryDeliveryError, PermanentDeliveryError) as exc:
        # SSL to a plaintext port fails in the handshake, before the first step: say why.
        hint = security_hint(c.host, c.port, c.security) if c.security == "ssl" and not steps else None
        raise type(exc)(f"{where}: {exc}" + (f"; {hint}" if hint else "")) from None
