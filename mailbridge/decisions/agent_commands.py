"""Decision: the command lines of an agent's reply -> AgentReply. Pure; agent_desk applies it.

Commands stand one per line before any text (`#close`, `#assign alice@shop.example`, ...), in any
case, or after all of it, at the end of the new text (the quote is cut off before this is read).
`#note` at the top makes the rest an internal note. `#text NAME` may stand on any line: it marks where
the Contact's text module NAME goes. A line that starts with `#` at the top but is no known
command, or a command with a bad argument, is a problem: the reply then goes to nobody. At the end,
only known commands count (a closing `#1 priority` stays text); they are never sent to the customer.
`#spam` marks the ticket spam and blocks its sender (BLOCKING_COMMANDS). `#merge NUMBER` merges the ticket
into ticket NUMBER (the rest of the reply becomes a note there). The names of the configured actions
(`[actions.NAME]`, handed in as `actions`) are known commands too, without an argument: `#return` runs "return".
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr

from mailbridge.base.config.actions import BUILT_IN_COMMANDS
from mailbridge.decisions.matching.ticket_numbers import is_valid_ticket_number

STATUS_COMMANDS = {
    "close": "closed",
    "waiting": "waiting",
    "open": "open",
    "pending1": "pending1",
    "pending2": "pending2",
    "spam": "spam",
}
ADDRESS_COMMANDS = frozenset({"assign", "forward"})
# `#spam` also puts the ticket's customer on the blocklist (`customers unblock` undoes it).
BLOCKING_COMMANDS = frozenset({"spam"})
# Every built-in command, listed once in base (an action's name is checked against it when the config is read).
KNOWN = BUILT_IN_COMMANDS
ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[A-Za-z]{2,}$")
NAMED_ADDRESS_MAX = 320  # `Name <address>` as `#cc add` takes it: an address (254 at most) and a name
COMMAND_LINE = re.compile(r"^#([A-Za-z0-9_-]+)\b[ \t]*(.*)$")
# Group 1 is the name with its trailing blanks (see `_module_name`): a lazy `.*?` before `[ \t]*$` would retry
# the blanks at every character of a long line (quadratic).
TEXT_LINE = re.compile(r"(?im)^[ \t]*#text[ \t]+(\S.*)$")


@dataclass(frozen=True)
class AgentCommand:
    name: str  # lower case, e.g. "close", "assign"
    argument: str = ""


@dataclass(frozen=True)
class AgentReply:
    commands: tuple[AgentCommand, ...]
    body: str  # what is left for the customer (or the note), `#text` lines still in place
    problems: tuple[str, ...] = ()
    note: str | None = None  # with `#note`: the internal note; the body is then empty

    @property
    def is_note(self) -> bool:
        return self.note is not None


@dataclass(frozen=True)
class _Scan:
    commands: list[AgentCommand] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    actions: frozenset[str] = frozenset()  # the configured action names, lower case


def parse_agent_reply(text: str, actions: Collection[str] = ()) -> AgentReply:
    """Split a reply's new text into its leading commands and the text that remains (`actions`: action names)."""
    lines = text.replace("\r\n", "\n").split("\n")
    scan = _Scan(actions=frozenset(a.lower() for a in actions))
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        match = COMMAND_LINE.match(line)
        if line and (match is None or match[1].lower() == "text"):
            break
        index += 1
        if match:
            _read_command(match[1].lower(), match[2].strip(), index, scan)
            if scan.commands and scan.commands[-1].name == "note":
                break
    rest_lines = lines[index:]
    if not any(c.name == "note" for c in scan.commands):
        rest_lines = _take_trailing_commands(rest_lines, scan)
    rest = "\n".join(rest_lines).strip()
    commands, problems = tuple(scan.commands), tuple(scan.problems)
    if any(c.name == "note" for c in commands):
        inline = next(c.argument for c in commands if c.name == "note")
        return AgentReply(commands, "", problems, note="\n".join(p for p in (inline, rest) if p))
    return AgentReply(commands, rest, problems)


# At the end of a reply these count; `#note` (the rest is a note) and `#text` (a module here) only make sense above.
_TRAILING = frozenset(KNOWN) - {"note", "text"}


def _take_trailing_commands(lines: list[str], scan: _Scan) -> list[str]:
    """Read the known command lines that close the text (blank lines between allowed); return the lines before them."""
    end = len(lines)
    trailing: list[tuple[int, re.Match[str]]] = []
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].strip()
        if not line:
            continue
        match = COMMAND_LINE.match(line)
        if match is None or (match[1].lower() not in _TRAILING and match[1].lower() not in scan.actions):
            break
        trailing.append((index, match))
        end = index
    if not any(line.strip() for line in lines[:end]):
        # Nothing but commands after the top ones: those were read already as leading commands.
        return lines
    for index, match in reversed(trailing):
        _read_command(match[1].lower(), match[2].strip(), index + 1, scan)
    return lines[:end]


def _read_command(name: str, argument: str, line_number: int, scan: _Scan) -> None:
    if name not in KNOWN and name not in scan.actions:
        known = (*KNOWN, *sorted(scan.actions))
        scan.problems.append(
            f"line {line_number}: unknown command #{name} (known: " + ", ".join(f"#{k}" for k in known) + ")"
        )
        return
    problem = argument_problem(name, argument) if name in KNOWN else _action_problem(name, argument, scan)
    if problem:
        scan.problems.append(f"line {line_number}: #{name} {problem}")
        return
    scan.commands.append(AgentCommand(name, argument))


def argument_problem(name: str, argument: str) -> str | None:
    """Say what is wrong with a command's argument, or None when it is fine."""
    if name in ADDRESS_COMMANDS:
        return None if ADDRESS.match(argument) else f"needs one email address, got {argument!r}"
    if name == "category":
        return None if category_path(argument) else "needs a category like Orders/Returns"
    if name == "merge":
        return None if is_valid_ticket_number(argument.lstrip("#")) else f"needs a ticket number, got {argument!r}"
    if name in STATUS_COMMANDS or name in ("requester", "cancel", "send"):
        return None if not argument else f"takes no argument, got {argument!r}"
    if name == "cc":
        return None if cc_argument(argument) else f"needs add or remove and one email address, got {argument!r}"
    return None


def cc_argument(argument: str) -> tuple[str, str] | None:
    """Read `add ADDRESS` or `remove ADDRESS` into (action, lower-cased address); None: neither.

    ADDRESS may be `<address>` or, as agents paste it, `Lisa Maier <lisa@example.de>`: the one address is taken when
    the text holds exactly one (a second address, a stray word or an unclosed `<` is refused, not guessed at).
    """
    action, _, rest = argument.strip().partition(" ")
    if action.lower() not in ("add", "remove"):
        return None
    address = _one_address(rest.strip())
    return (action.lower(), address.lower()) if address else None


def _one_address(text: str) -> str | None:
    bare = text.removeprefix("<").removesuffix(">")
    if ADDRESS.match(bare):
        return bare
    # parseaddr recurses into nested (comments): a pasted name and address is short and barely nested, else refused.
    if len(text) > NAMED_ADDRESS_MAX or text.count("(") > 2:
        return None
    pairs = getaddresses([text])
    if len(pairs) != 1 or parseaddr(text) != pairs[0] or not ADDRESS.match(pairs[0][1]):
        return None
    name, address = pairs[0]
    # One address only: none in the name (but the address itself), angle brackets closed.
    mentions = 2 if name.lower() == address.lower() else 1
    if text.count("@") != mentions or text.count("<") != text.count(">") or text.count("<") > 1:
        return None
    return address


def _action_problem(name: str, argument: str, scan: _Scan) -> str | None:
    if argument:
        return f"takes no argument, got {argument!r}"
    if sum(1 for c in scan.commands if c.name in scan.actions) >= 1:
        return "is a second action: one action per reply"
    return None


def action_of(reply: AgentReply, actions: Collection[str]) -> AgentCommand | None:
    """The reply's action command (one of the configured `actions`), or None."""
    names = {a.lower() for a in actions}
    return next((c for c in reply.commands if c.name in names), None)


def category_path(argument: str) -> str:
    """Turn `Orders/Returns` into the stored form `Orders > Returns`."""
    parts = [p.strip() for p in re.split(r"/|>", argument) if p.strip()]
    return " > ".join(parts)


def text_module_names(body: str) -> tuple[str, ...]:
    """Return the text module names that `#text NAME` lines of a body ask for, in order."""
    return tuple(_module_name(m) for m in TEXT_LINE.finditer(body))


def insert_text_modules(body: str, modules: dict[str, str]) -> str:
    """Replace each `#text NAME` line with its rendered module (names compared case-insensitively)."""
    folded = {k.casefold(): v for k, v in modules.items()}
    return TEXT_LINE.sub(lambda m: folded.get(_module_name(m).casefold(), m.group(0)).strip("\n"), body)


def _module_name(line: re.Match[str]) -> str:
    """The NAME of a `#text NAME` line, without the blanks after it."""
    return line.group(1).rstrip(" \t")


@dataclass(frozen=True)
class ForwardedMail:
    """The customer's mail inside an agent's forward: its sender, subject and text, wrapper removed."""

    from_name: str
    from_addr: str
    subject: str
    text: str


_REQUESTER = re.compile(r"^\s*#requester[ \t]*(?:\n|$)", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\s*-{2,}\s*(?:forwarded|original|weitergeleitete|messaggio|message)\b.*$", re.IGNORECASE)
# `(?:>\s*)?`, not `>?\s*`: two runs of `\s*` side by side would share a line of spaces in every way (quadratic).
_HEADER = re.compile(
    r"^\s*(?:>\s*)?(from|von|da|de|od|sent|date|datum|data|to|an|a|cc|subject|betreff|oggetto|"
    r"předmět|objet)\s*:\s*(.*)$",
    re.IGNORECASE,
)
_FROM_KEYS = {"from", "von", "da", "de", "od"}
_SUBJECT_KEYS = {"subject", "betreff", "oggetto", "předmět", "objet"}


def unwrap_requester_forward(text: str) -> ForwardedMail | None:
    """Read a forward that starts with `#requester`: the original sender, subject and text; None otherwise."""
    if not _REQUESTER.match(text.replace("\r\n", "\n")):
        return None
    lines = _REQUESTER.sub("", text.replace("\r\n", "\n"), count=1).split("\n")
    start = next((i for i, line in enumerate(lines) if _SEPARATOR.match(line) or _header_key(line) in _FROM_KEYS), None)
    if start is None:
        return None
    headers: dict[str, str] = {}
    index = start + (1 if _SEPARATOR.match(lines[start]) else 0)
    while index < len(lines) and lines[index].strip():
        found = _HEADER.match(lines[index])
        if found:
            headers.setdefault(found.group(1).lower(), found.group(2).strip())
        index += 1
    sender = next((headers[k] for k in _FROM_KEYS if k in headers), "")
    name, address = parseaddr(sender.replace("[mailto:", "<").replace("]", ">"))
    if not ADDRESS.match(address):
        return None
    subject = next((headers[k] for k in _SUBJECT_KEYS if k in headers), "")
    body = [re.sub(r"^>\s?", "", line) for line in lines[index:]]
    return ForwardedMail(name, address.lower(), subject, "\n".join(body).strip())


def _header_key(line: str) -> str | None:
    match = _HEADER.match(line)
    return match.group(1).lower() if match else None
