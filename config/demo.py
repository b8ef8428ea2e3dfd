"""The demo: a throwaway mail stack on 127.0.0.1, five customer emails, one `mailbridge run --once`.

Starts Dovecot (IMAPS, self-signed CA) and an SMTP server that delivers what mailbridge sends
into the customers' Dovecot mailboxes, drops customer mail (Italian, Czech, Greek, English, one
with a PDF) into the support mailbox, runs mailbridge with ./mailbridge.toml, and prints the
tickets and the receipts as the customers' mailboxes hold them. Run it with `./dev.sh demo`.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers.dovecot import start_dovecot  # noqa: E402
from tests.servers.smtp_sink import start_smtp_sink  # noqa: E402

DEMO_DIR = REPO / "var" / "demo"
SUPPORT = "support@shop.example"
IMAPS_PORT, SMTP_PORT = 10993, 10025
PASSWORD = "demo-password"
SECRET = "demo-secret-not-for-production"

CUSTOMERS = [
    (
        "Giulia Bianchi",
        "giulia@example.it",
        "Ordine 10023 non ancora arrivato",
        "Buongiorno,\n\nho ordinato una lampada il 3 novembre (ordine 10023) ma non è ancora arrivata. "
        "Potete dirmi dove si trova il pacco?\n\nGrazie,\nGiulia",
        None,
    ),
    (
        "Petr Novák",
        "petr@example.cz",
        "Reklamace: rozbitý hrnek",
        "Dobrý den,\n\nhrnek z objednávky 10031 přišel rozbitý. Prosím o výměnu nebo vrácení peněz.\n\n"
        "Děkuji,\nPetr Novák",
        None,
    ),
    (
        "Νίκος Παπαδόπουλος",
        "nikos@example.gr",
        "Ερώτηση για την παραγγελία μου",
        "Καλησπέρα σας,\n\nθα ήθελα να μάθω πότε θα αποσταλεί η παραγγελία μου 10044. "
        "Ευχαριστώ πολύ για τη βοήθεια και την κατανόησή σας.\n\nΝίκος",
        None,
    ),
    (
        "Emma Clarke",
        "emma@example.co.uk",
        "Can I change my delivery address?",
        "Hello,\n\nI have just placed order 10052 and I would like to have it delivered to my office instead. "
        "Is that possible?\n\nThank you,\nEmma",
        None,
    ),
    (
        "Emma Clarke",
        "emma@example.co.uk",
        "Invoice for order 10052",
        "Hello again,\n\nplease find attached the invoice with the wrong VAT number. Could you send a corrected one?\n\n"
        "Thanks,\nEmma",
        ("invoice-10052.pdf", b"%PDF-1.4\n% demo invoice\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"),
    ),
]


def customer_email(name: str, address: str, subject: str, body: str, pdf: tuple[str, bytes] | None) -> bytes:
    message = EmailMessage()
    message["From"] = f"{name} <{address}>"
    message["To"] = f"Demo Shop <{SUPPORT}>"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=address.split("@")[1])
    message.set_content(body)
    if pdf:
        message.add_attachment(pdf[1], maintype="application", subtype="pdf", filename=pdf[0])
    return message.as_bytes(policy=policy.SMTP)


def mailbridge(*args: str) -> str:
    env = {**os.environ, "MAILBRIDGE_DEMO_PASSWORD": PASSWORD, "MAILBRIDGE_DEMO_SECRET": SECRET}
    command = [sys.executable, "-m", "mailbridge", "--config", str(REPO / "mailbridge.toml"), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if result.returncode != 0:
        sys.exit(f"demo: `mailbridge {' '.join(args)}` failed:\n{result.stderr}")
    return result.stdout


def heading(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 70 - len(text)))


def show_receipts(dovecot) -> None:
    for address in sorted({c[1] for c in CUSTOMERS}):
        for raw in dovecot.messages(address, "INBOX"):
            mail = email.message_from_bytes(raw, policy=policy.default)
            print(f"\nTo {address}\n  From: {mail['From']}\n  Subject: {mail['Subject']}")
            print(f"  Reply-To: {mail['Reply-To']}\n  In-Reply-To: {mail['In-Reply-To']}")
            print(f"  Auto-Submitted: {mail['Auto-Submitted']}")
            for line in mail.get_body(("plain",)).get_content().strip().splitlines()[:4]:
                print(f"  | {line}")


def main() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    heading("starting the local mail stack on 127.0.0.1")
    dovecot = start_dovecot(DEMO_DIR / "dovecot", password=PASSWORD, imaps_port=IMAPS_PORT)
    sink = None
    try:
        (DEMO_DIR / "certs").mkdir()
        shutil.copy(dovecot.ca_file, DEMO_DIR / "certs" / "ca.pem")
        sink = start_smtp_sink(deliver_to=dovecot, port=SMTP_PORT)
        print(f"Dovecot IMAPS on 127.0.0.1:{dovecot.imaps_port} (self-signed CA in var/demo/certs/ca.pem)")
        print(f"SMTP on 127.0.0.1:{sink.port}, delivering into the customers' Dovecot mailboxes")
        dovecot.add_user(SUPPORT)
        for customer in CUSTOMERS:
            dovecot.add_user(customer[1])
            dovecot.append(SUPPORT, "INBOX", customer_email(*customer))
        print(f"{len(CUSTOMERS)} customer emails dropped into {SUPPORT}")

        heading("mailbridge run --once")
        print(mailbridge("run", "--once").rstrip())
        heading("mailbridge tickets list")
        print(mailbridge("tickets", "list").rstrip())
        invoice = next(t for t in json.loads(mailbridge("tickets", "list", "--json")) if "Invoice" in t["subject"])
        heading(f"mailbridge tickets show {invoice['number']}  (the one with the PDF)")
        print(mailbridge("tickets", "show", invoice["number"]).rstrip())
        heading("receipts in the customers' mailboxes")
        show_receipts(dovecot)
        print(
            f"\nThe store is var/demo/mailbridge.db; look closer with:\n  MAILBRIDGE_DEMO_PASSWORD={PASSWORD} MAILBRIDGE_DEMO_SECRET={SECRET} .venv/bin/mailbridge tickets show NUMBER"
        )
    finally:
        if sink is not None:
            sink.stop()
        dovecot.stop()


if __name__ == "__main__":
    main()
