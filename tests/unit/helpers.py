"""Small builders for unit tests."""

from mailbridge.decisions.inbound.parse import ParsedMessage


def parsed(**fields) -> ParsedMessage:
    """A ParsedMessage with plain defaults; keywords replace fields."""
    values = dict(
        message_id="<m1@example.org>",
        in_reply_to=None,
        references=(),
        from_addr="anna@example.org",
        from_name="Anna",
        to_addrs=("support@shop.example",),
        cc_addrs=(),
        reply_to=(),
        subject="Order 1234",
        date=None,
        text_body="Hello",
        html_body="",
        attachments=(),
        headers={},
        defects=(),
    )
    values.update(fields)
    return ParsedMessage(**values)
