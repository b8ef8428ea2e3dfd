"""Decision: the text of a `format=flowed` part (RFC 3676) as its writer typed it, its soft line breaks undone.

Thunderbird, Apple Mail, neomutt and many phones send plain text as format=flowed: a paragraph is cut into lines
of about 72 characters, each but the last ending in a space (a soft break), and a line that begins with a space,
">" or "From " is "stuffed" with one more space. Read as it arrives, a relayed answer keeps those cuts (ragged on
a phone) and a quote header a client wrapped, "On 3 Dec 2026, Anna Rossi\n<anna@...> wrote:", is two lines.

`unflow` joins each paragraph back into one line, keeping the quote depth of every line ("> " per level, the way
mail clients show it); "-- " (the signature separator) is never joined. One pass over the text: linear time.
"""

from __future__ import annotations

SIGNATURE_SEPARATOR = "-- "


def unflow(text: str, *, delsp: bool = False) -> str:
    """The text of a format=flowed part with its soft breaks joined; `delsp` (delsp=yes) drops the break's space."""
    out: list[str] = []
    paragraph: list[str] = []
    paragraph_depth = 0
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content.removeprefix(" ")  # the stuffing space (RFC 3676 4.4)
        # A flowed line followed by another depth, or by "-- " (neither flowed nor fixed: RFC 3676 4.3), ends there.
        if paragraph and (depth != paragraph_depth or content == SIGNATURE_SEPARATOR):
            out.append(_quoted(paragraph_depth, "".join(paragraph).rstrip(" ")))
            paragraph = []
        soft = content.endswith(" ") and content != SIGNATURE_SEPARATOR
        if soft:
            paragraph.append(content[:-1] if delsp else content)
            paragraph_depth = depth
            continue
        if paragraph:
            content = "".join(paragraph) + content
            paragraph = []
        out.append(_quoted(depth, content))
    if paragraph:
        out.append(_quoted(paragraph_depth, "".join(paragraph).rstrip(" ")))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    return f"{'>' * depth} {content}" if depth and content else ">" * depth + content
