from datetime import UTC, datetime
from email import policy

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailbridge.base.config.settings import DkimKey
from mailbridge.decisions.outgoing.compose import OutgoingDraft, compose
from mailbridge.decisions.outgoing.templates import RenderedMail
from mailbridge.outbox.dkim import DkimSigner


def key_pair() -> tuple[bytes, bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def outgoing(from_address: str) -> bytes:
    draft = OutgoingDraft(
        kind="receipt",
        from_name="Shop",
        from_address=from_address,
        to_name="Πέτρος",
        to_address="p@example.gr",
        subject="[#12345678901] Παραγγελία",
        in_reply_to=None,
        references=(),
        auto_submitted="auto-replied",
        instance_id="i",
        body=RenderedMail(text="Γεια σας", html="<p>Γεια σας</p>"),
    )
    return compose(draft, "<o1@shop.example>", datetime(2026, 11, 24, tzinfo=UTC)).as_bytes(policy=policy.SMTP)


def test_signed_mail_verifies_with_the_published_key():
    pem, record = key_pair()
    signed = DkimSigner((DkimKey("shop.example", "mb1", pem),)).sign(outgoing("support@shop.example"))
    assert signed.startswith(b"DKIM-Signature:")
    dns = {b"mb1._domainkey.shop.example.": record}
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: dns.get(name))


def test_tampered_mail_fails_verification():
    pem, record = key_pair()
    signed = DkimSigner((DkimKey("shop.example", "mb1", pem),)).sign(outgoing("support@shop.example"))
    dns = {b"mb1._domainkey.shop.example.": record}
    assert not dkim.verify(signed.replace(b"Shop", b"Sh0p", 1), dnsfunc=lambda name, timeout=5: dns.get(name))


def test_mail_from_a_domain_without_key_is_unchanged():
    pem, _ = key_pair()
    raw = outgoing("support@other.example")
    assert DkimSigner((DkimKey("shop.example", "mb1", pem),)).sign(raw) == raw
