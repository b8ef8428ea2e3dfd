"""Issue 15 on Dovecot: a GB2312 mail with a raw 8-bit subject and an Outlook mail with a winmail.dat are fetched,
stored and shown by `tickets show --json` as a person reads them: the subject in Chinese, the files inside the
winmail.dat stored beside it as Attachment rows."""

from __future__ import annotations

import base64
import hashlib
import json

from sqlmodel import Session, select

from mailbridge.store.models import Attachment, Message
from tests.conftest import SUPPORT_USER, run_cli
from tests.tnef_stream import winmail

GB_SUBJECT = "关于订单 18 号的退款问题"
GB_BODY = "您好，我的订单还没有收到退款，请帮忙查一下。谢谢！"
QUOTE = b"%PDF-1.4\n% quote 2026-031\ntrailer <<>>\n%%EOF\n"
NOTES = b"Lieferung bitte ab Montag.\r\n"


def gb2312_mail() -> bytes:
    return (
        b"From: =?GB2312?B?zfXOsA==?= <wang.wei@example.cn>\r\n"
        b"To: support@shop.example\r\n"
        b"Subject: " + GB_SUBJECT.encode("gb2312") + b"\r\n"
        b"Date: Tue, 03 Mar 2026 09:12:44 +0800\r\n"
        b"Message-ID: <20260303091244.4711@mail.example.cn>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + GB_BODY.encode("gb2312") + b"\r\n"
    )


def outlook_mail(tnef: bytes) -> bytes:
    encoded = base64.encodebytes(tnef).replace(b"\n", b"\r\n")
    return (
        b"From: Klaus Meier <k.meier@example.de>\r\n"
        b"To: support@shop.example\r\n"
        b"Subject: Angebot 2026-031\r\n"
        b"Date: Wed, 04 Mar 2026 11:00:00 +0100\r\n"
        b"Message-ID: <0123456789ABCDEF@EXCH01.example.de>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="----_=_NextPart_001"\r\n'
        b"X-MS-TNEF-Correlator: <0123456789ABCDEF@EXCH01.example.de>\r\n"
        b"\r\n"
        b"------_=_NextPart_001\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"\r\n"
        b"Sehr geehrte Damen und Herren, anbei unser Angebot.\r\n"
        b"------_=_NextPart_001\r\n"
        b'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="winmail.dat"\r\n'
        b"\r\n" + encoded + b"------_=_NextPart_001--\r\n"
    )


def shown_tickets(path) -> dict[str, dict]:
    listed = json.loads(run_cli("tickets", "list", "--json", config=path).stdout)
    return {
        t["subject"]: json.loads(run_cli("tickets", "show", t["number"], "--json", config=path).stdout) for t in listed
    }


def test_gb2312_and_winmail_dat_mails_are_stored_as_people_read_them(config_file, make_app, dovecot, sink, mailbox):
    tnef = winmail([("Angebot 2026-031.pdf", QUOTE), ("Notizen.txt", NOTES)])
    dovecot.append(SUPPORT_USER, mailbox, gb2312_mail())
    dovecot.append(SUPPORT_USER, mailbox, outlook_mail(tnef))
    path = config_file()
    result = run_cli("run", "--once", config=path, env={"MAILBRIDGE_NOW": "2026-03-04T12:00:00Z"})
    assert result.returncode == 0, result.stderr

    shown = shown_tickets(path)
    assert set(shown) == {GB_SUBJECT, "Angebot 2026-031"}
    [chinese] = shown[GB_SUBJECT]["messages"]
    assert chinese["from_name"] == "王伟"
    assert chinese["text"].strip() == GB_BODY
    assert not chinese["malformed"]

    [outlook] = shown["Angebot 2026-031"]["messages"]
    assert [(a["filename"], a["content_type"], a["size"]) for a in outlook["attachments"]] == [
        ("winmail.dat", "application/ms-tnef", len(tnef)),
        ("Angebot 2026-031.pdf", "application/pdf", len(QUOTE)),
        ("Notizen.txt", "text/plain", len(NOTES)),
    ]
    assert not outlook["malformed"]

    app = make_app()
    with Session(app.engine) as session:
        stored = session.exec(select(Message).where(Message.subject == "Angebot 2026-031")).one()
        rows = session.exec(select(Attachment).where(Attachment.message_id == stored.id).order_by(Attachment.id)).all()
    assert [r.content for r in rows] == [tnef, QUOTE, NOTES]
    assert [r.sha256 for r in rows] == [hashlib.sha256(r.content).hexdigest() for r in rows]
