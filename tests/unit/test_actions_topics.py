"""Issue 19: named actions (`[actions.NAME]`, `#return`), topics the customer picks and the pre-sale flag."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mailbridge.base.config.settings import load_settings
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.agent_commands import action_of, parse_agent_reply
from mailbridge.decisions.inbound.parse import parse_message
from mailbridge.decisions.matching.topics import choose_topic, is_presale, subject_tags, topic_category
from tests.unit.test_config import BASE

OWN = frozenset({"support@shop.example"})
EXAMPLE_ACTIONS = """
[actions.return]
description = "start a return for inspection"
template = "action_return"
status = "waiting"
category = "Returns"
[actions.escalate]
template = "action_escalate"
status = "pending1"
forward_to = "First-Level@shop.example"
[topics.returns]
subaddress = "Returns"
subject_tag = "Returns"
category = "Orders/Returns"
"""


def _load(tmp_path: Path, monkeypatch, extra: str, top: str = ""):
    monkeypatch.setenv("MB_PW", "pw")
    path = tmp_path / "mailbridge.toml"
    path.write_text(top + BASE + extra)
    return load_settings(path)


def _error(tmp_path: Path, monkeypatch, extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, monkeypatch, extra)
    return str(caught.value)


def _mail(to: str = "support@shop.example", subject: str = "Hello", headers: str = "") -> object:
    raw = f"From: a@example.org\r\nTo: {to}\r\nSubject: {subject}\r\n{headers}Message-ID: <m1@example.org>\r\n\r\nbody\r\n"
    return parse_message(raw.encode())


def test_actions_and_topics_are_read_with_their_keys(tmp_path, monkeypatch):
    settings = _load(tmp_path, monkeypatch, EXAMPLE_ACTIONS)
    ret, esc = settings.actions
    assert (ret.name, ret.template, ret.status, ret.category) == ("return", "action_return", "waiting", "Returns")
    assert (esc.forward_to, esc.status) == ("first-level@shop.example", "pending1")
    [topic] = settings.topics
    assert (topic.subaddress, topic.subject_tag, topic.category) == ("returns", "returns", "Orders/Returns")
    assert settings.support.presale_flag is True


def test_action_named_after_a_built_in_command_is_a_config_error(tmp_path, monkeypatch):
    message = _error(tmp_path, monkeypatch, '[actions.close]\nstatus = "closed"\n')
    assert "[actions.close]" in message and "no built-in command" in message


def test_action_with_a_bad_status_names_key_and_choices(tmp_path, monkeypatch):
    message = _error(tmp_path, monkeypatch, '[actions.return]\nstatus = "done"\n')
    assert message.endswith(
        '[actions.return] status: expected one of "open" | "waiting" | "pending1" | "pending2" | "closed", got \'done\''
    )


def test_action_with_an_unknown_key_is_a_typo(tmp_path, monkeypatch):
    message = _error(tmp_path, monkeypatch, '[actions.return]\nstatuss = "waiting"\n')
    assert "[actions.return] statuss: unknown key" in message


def test_action_with_a_missing_template_is_refused(tmp_path, monkeypatch):
    message = _error(tmp_path, monkeypatch, '[actions.return]\ntemplate = "action_nothing"\n')
    assert "[actions.return] template: expected a template with action_nothing/en.txt.j2" in message


def test_action_template_may_come_from_templates_dir(tmp_path, monkeypatch):
    for part in ("txt", "html"):
        (tmp_path / "site" / "action_gift").mkdir(parents=True, exist_ok=True)
        (tmp_path / "site" / "action_gift" / f"en.{part}.j2").write_text("gift")
    settings = _load(
        tmp_path, monkeypatch, '[actions.gift]\ntemplate = "action_gift"\n', top='templates_dir = "site"\n'
    )
    assert settings.actions[0].template == "action_gift"


def test_action_that_does_nothing_is_refused(tmp_path, monkeypatch):
    message = _error(tmp_path, monkeypatch, '[actions.noop]\ndescription = "nothing"\n')
    assert "expected at least one of template, status, category, forward_to" in message


def test_topic_sub_address_with_a_dot_cannot_look_like_a_reply_token(tmp_path, monkeypatch):
    message = _error(tmp_path, monkeypatch, '[topics.x]\nsubaddress = "a.b"\ncategory = "X"\n')
    assert "[topics.x] subaddress: expected a tag of letters, digits, - and _ (no dot, no +)" in message


def test_two_topics_with_one_subject_tag_are_refused(tmp_path, monkeypatch):
    extra = '[topics.a]\nsubject_tag = "Returns"\ncategory = "A"\n[topics.b]\nsubject_tag = "returns"\ncategory = "B"\n'
    assert "[topics.b] subject_tag: expected a value no other topic has" in _error(tmp_path, monkeypatch, extra)


def test_presale_flag_must_be_a_boolean(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    path = tmp_path / "mailbridge.toml"
    path.write_text(BASE.replace("[smtp]", 'presale_flag = "yes"\n[smtp]'))
    with pytest.raises(ConfigError, match=r"\[support\] presale_flag: expected true or false"):
        load_settings(path)


def test_configured_action_is_a_known_command():
    reply = parse_agent_reply("#Return\nPlease use the enclosed label.", ["return"])
    assert reply.problems == () and action_of(reply, ["return"]).name == "return"
    assert reply.body == "Please use the enclosed label."


def test_action_unknown_without_configuration_is_a_problem():
    reply = parse_agent_reply("#return\nThanks", [])
    assert reply.problems and "unknown command #return" in reply.problems[0]


def test_action_takes_no_argument_and_only_one_per_reply():
    assert "takes no argument" in parse_agent_reply("#return now\nx", ["return"]).problems[0]
    problems = parse_agent_reply("#return\n#escalate\nx", ["return", "escalate"]).problems
    assert problems == ("line 2: #escalate is a second action: one action per reply",)


def test_action_at_the_end_of_the_text_counts():
    reply = parse_agent_reply("Sorry about the lamp.\n\n#escalate", ["escalate"])
    assert action_of(reply, ["escalate"]) is not None and reply.body == "Sorry about the lamp."


def test_sub_address_picks_the_topic_in_any_case(tmp_path, monkeypatch):
    topics = _load(tmp_path, monkeypatch, EXAMPLE_ACTIONS).topics
    assert topic_category(_mail(to="Support+RETURNS@shop.example"), topics, OWN) == "Orders > Returns"
    delivered = _mail(headers="Delivered-To: support+returns@shop.example\r\n")
    assert choose_topic(delivered, topics, OWN) is topics[0]


def test_sub_address_of_someone_else_or_a_token_picks_nothing(tmp_path, monkeypatch):
    topics = _load(tmp_path, monkeypatch, EXAMPLE_ACTIONS).topics
    assert choose_topic(_mail(to="support+returns@other.example"), topics, OWN) is None
    assert choose_topic(_mail(to="support+a.b.c.returns@shop.example"), topics, OWN) is None


def test_subject_tag_picks_the_topic(tmp_path, monkeypatch):
    topics = _load(tmp_path, monkeypatch, EXAMPLE_ACTIONS).topics
    assert topic_category(_mail(subject="[ returns ] broken lamp"), topics, OWN) == "Orders > Returns"
    assert topic_category(_mail(subject="Returns of a broken lamp"), topics, OWN) is None
    assert subject_tags("Re: [#123] [Returns] x [") == frozenset({"#123", "returns"})


def test_subject_tags_run_in_linear_time():
    start = time.perf_counter()
    subject_tags("[" * 1_000_000)
    subject_tags("[" + "a" * 1_000_000)
    assert time.perf_counter() - start < 2


def test_first_contact_without_order_number_is_presale():
    assert is_presale(enabled=True, has_earlier_ticket=False, order_number=None)
    assert not is_presale(enabled=True, has_earlier_ticket=False, order_number="10023")
    assert not is_presale(enabled=True, has_earlier_ticket=True, order_number=None)
    assert not is_presale(enabled=False, has_earlier_ticket=False, order_number=None)


def test_the_commented_examples_of_the_example_file_load(tmp_path, monkeypatch):
    from mailbridge.base.config.starter import EXAMPLE

    lines = Path(str(EXAMPLE)).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# [topics.returns]"))
    block = [line.removeprefix("# ").removeprefix("#") for line in lines[start:] if line.startswith("#")]
    block = block[: next(i for i, line in enumerate(block) if line.startswith("forward_to =")) + 1]
    settings = _load(
        tmp_path,
        monkeypatch,
        "\n".join(
            line for line in block if line.startswith(("[", "descr", "templ", "stat", "categ", "forw", "subad", "subj"))
        ),
    )
    assert [a.name for a in settings.actions] == ["return", "escalate"] and settings.topics[0].subaddress == "returns"


def test_every_built_in_command_is_refused_as_an_action_name():
    from mailbridge.base.config.actions import BUILT_IN_COMMANDS
    from mailbridge.decisions.agent_commands import KNOWN, STATUS_COMMANDS

    # One list: the commands the parser knows are the names an action may not take, the status commands among them.
    assert KNOWN is BUILT_IN_COMMANDS and set(STATUS_COMMANDS) <= set(BUILT_IN_COMMANDS)
