"""Parse limits (issue 16): MIME part count, nesting depth and decoded bytes stop the walk with an `over-limit`
defect, which intake turns into a quarantine reason."""

from __future__ import annotations

import base64

from mailbridge.decisions.inbound.parse import ParseLimits, is_malformed, limit_exceeded, parse_message

HEAD = b"From: anna@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"


def many_parts(count: int) -> bytes:
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=f%d.txt\r\n\r\nx\r\n" % i
        for i in range(count)
    )
    return HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"


def nested(depth: int) -> bytes:
    layers = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(depth)
    )
    return HEAD + b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + layers + b"--b%d\r\n\r\ntext\r\n" % depth


def attachment(size: int) -> bytes:
    payload = base64.encodebytes(b"\0" * size).replace(b"\n", b"\r\n")
    return (
        HEAD
        + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        + b"--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + payload
        + b"--b--\r\n"
    )


def test_message_within_the_limits_is_not_over_any():
    parsed = parse_message(many_parts(5), ParseLimits(max_parts=10))
    assert len(parsed.attachments) == 5 and limit_exceeded(parsed, ParseLimits(max_parts=10)) is None


def test_more_parts_than_max_parts_stop_the_walk_with_a_reason():
    limits = ParseLimits(max_parts=10)
    parsed = parse_message(many_parts(50), limits)
    assert len(parsed.attachments) < 10 and "over-limit:parts" in parsed.defects
    assert limit_exceeded(parsed, limits) == "over the MIME part limit of 10 parts" and is_malformed(parsed)


def test_default_limit_allows_a_few_hundred_parts():
    parsed = parse_message(many_parts(300))
    assert len(parsed.attachments) == 300 and limit_exceeded(parsed, ParseLimits()) is None


def test_nesting_deeper_than_max_depth_is_over_the_limit():
    limits = ParseLimits(max_depth=5)
    assert limit_exceeded(parse_message(nested(4), limits), limits) is None
    assert limit_exceeded(parse_message(nested(8), limits), limits) == "over the MIME nesting limit of 5 levels"


def test_decoded_bytes_over_the_limit_stop_before_the_file_is_kept():
    limits = ParseLimits(max_decoded_bytes=100_000)
    assert limit_exceeded(parse_message(attachment(50_000), limits), limits) is None
    parsed = parse_message(attachment(200_000), limits)
    assert parsed.attachments == () and parsed.text_body.strip() == "hello"
    assert limit_exceeded(parsed, limits) == "over the decoded size limit of 100000 bytes"


def test_attached_messages_count_towards_the_decoded_bytes():
    inner = attachment(60_000)
    raw = HEAD + b"Content-Type: message/rfc822\r\n\r\n" + inner
    limits = ParseLimits(max_decoded_bytes=50_000)
    assert limit_exceeded(parse_message(raw, limits), limits) is not None
