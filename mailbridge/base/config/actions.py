"""The `[actions.NAME]` and `[topics.NAME]` tables of mailbridge.toml, read into frozen settings.

An action is a named step an agent runs with `#NAME` in a reply (or `mailbridge tickets action`): a template mail to
the customer, the thread to a team's address, a status and a category, each optional. A topic lets the customer pick a
category: mail to a sub-address of ours (`support+returns@`) or with a subject tag (`[Returns]`) opens its ticket in
the topic's category. `settings.load_settings` hands each table in as its `Section` reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from mailbridge.base.errors import ConfigError

ACTION_KEYS = {"description", "template", "status", "category", "forward_to"}
TOPIC_KEYS = {"subaddress", "subject_tag", "category"}
# The statuses an action may set (`new` is only ever a ticket's first status; `spam` belongs to `#spam`).
ACTION_STATUSES = ("open", "waiting", "pending1", "pending2", "closed")
# The built-in agent commands, which no action may be named after; decisions.agent_commands reads them from here (base
# imports nothing above it). The status commands come first, as agent_commands.STATUS_COMMANDS lists them.
BUILT_IN_COMMANDS = (
    "close",
    "waiting",
    "open",
    "pending1",
    "pending2",
    "spam",
    "assign",
    "category",
    "note",
    "forward",
    "text",
    "requester",
    "merge",
    "cc",
    "cancel",
    "send",
)
ACTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
# A topic's sub-address tag never holds a dot: every reply token does (`a.<ticket>.<day>.<mac>`), so the two never meet.
SUBADDRESS = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ADDRESS = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class ActionSettings:
    name: str  # lower case: `#return` runs the action "return"
    description: str = ""
    template: str | None = None  # a template kind (mailbridge/templates/<template>/<locale>.{txt,html}.j2)
    status: str | None = None  # one of ACTION_STATUSES
    category: str | None = None  # "Orders > Returns" or "Orders/Returns"
    forward_to: str | None = None  # lower-cased; the thread goes there, as with `#forward`


@dataclass(frozen=True)
class TopicSettings:
    name: str
    category: str
    subaddress: str | None = None  # lower case: support+<subaddress>@ of any address of ours
    subject_tag: str | None = None  # case-folded: "[Returns]" in the subject


def read_actions(path: Path, tables: Any, make_section: Any, templates_dir: Path | None) -> tuple[ActionSettings, ...]:
    """Read every `[actions.NAME]` table; a name that is a built-in command, or an unknown key, is an error."""
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: actions: expected [actions.NAME] tables, got {tables!r}")
    actions = []
    for name, table in tables.items():
        section = make_section(path, f"actions.{name}", table, ACTION_KEYS)
        if not ACTION_NAME.fullmatch(name):
            section.fail(None, "expected a name of lower-case letters, digits, - and _ (at most 40)", name)
        if name in BUILT_IN_COMMANDS:
            section.fail(
                None, "expected a name that is no built-in command (" + ", ".join(BUILT_IN_COMMANDS) + ")", name
            )
        template = section.text("template")
        if template is not None:
            _check_template(section, template, templates_dir)
        status = section.text("status")
        if status is not None and status not in ACTION_STATUSES:
            section.fail("status", "expected one of " + " | ".join(f'"{s}"' for s in ACTION_STATUSES), status)
        forward_to = section.text("forward_to")
        if forward_to is not None and not ADDRESS.fullmatch(forward_to):
            section.fail("forward_to", "expected an email address like team@shop.example", forward_to)
        category = section.text("category")
        if not (template or status or category or forward_to):
            section.fail(None, "expected at least one of template, status, category, forward_to", table)
        actions.append(
            ActionSettings(
                name=name,
                description=section.text("description", ""),
                template=template,
                status=status,
                category=category,
                forward_to=forward_to.lower() if forward_to else None,
            )
        )
    return tuple(actions)


def _check_template(section: Any, template: str, templates_dir: Path | None) -> None:
    if not TEMPLATE_NAME.fullmatch(template):
        section.fail("template", "expected a template name of lower-case letters, digits and _", template)
    shipped = Path(str(files("mailbridge") / "templates"))
    roots = [r for r in (templates_dir, shipped) if r is not None]
    for part in ("txt", "html"):
        if not any((root / template / f"en.{part}.j2").is_file() for root in roots):
            section.fail(
                "template",
                f"expected a template with {template}/en.txt.j2 and {template}/en.html.j2 "
                "in templates_dir or the shipped templates",
                template,
            )


def read_topics(path: Path, tables: Any, make_section: Any) -> tuple[TopicSettings, ...]:
    """Read every `[topics.NAME]` table; each needs a category and a sub-address or a subject tag."""
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: topics: expected [topics.NAME] tables, got {tables!r}")
    topics: list[TopicSettings] = []
    for name, table in tables.items():
        section = make_section(path, f"topics.{name}", table, TOPIC_KEYS)
        subaddress = section.text("subaddress")
        if subaddress is not None and not SUBADDRESS.fullmatch(subaddress.lower()):
            section.fail(
                "subaddress", "expected a tag of letters, digits, - and _ (no dot, no +), like returns", subaddress
            )
        tag = section.text("subject_tag")
        if tag is not None and (any(c in tag for c in "[]\r\n") or tag.startswith("#")):
            section.fail("subject_tag", 'expected the words between the brackets, like "Returns"', tag)
        if subaddress is None and tag is None:
            section.fail(None, "expected subaddress or subject_tag", table)
        topic = TopicSettings(
            name=name,
            category=section.text("category", required=True),
            subaddress=subaddress.lower() if subaddress else None,
            subject_tag=tag.casefold() if tag else None,
        )
        for other in topics:
            for key in ("subaddress", "subject_tag"):
                if getattr(topic, key) is not None and getattr(topic, key) == getattr(other, key):
                    section.fail(key, f"expected a value no other topic has ([topics.{other.name}] has it)", table[key])
        topics.append(topic)
    return tuple(topics)
