from mailbridge.decisions.agent_commands import AgentCommand, insert_text_modules, parse_agent_reply


def test_commands_at_top_are_parsed_case_insensitively_and_stripped():
    reply = parse_agent_reply("#CLOSE\n#Assign luca@shop.example\nHello Anna")
    assert reply.commands == (AgentCommand("close"), AgentCommand("assign", "luca@shop.example"))
    assert reply.body == "Hello Anna" and not reply.problems


def test_command_on_the_last_line_is_a_command_and_not_sent():
    reply = parse_agent_reply("Hello Anna,\nthe parcel left today.\n\n#close\n")
    assert reply.commands == (AgentCommand("close"),) and reply.body == "Hello Anna,\nthe parcel left today."


def test_commands_at_top_and_end_are_both_read_in_order():
    reply = parse_agent_reply("#category Orders/Returns\nHello\n#assign luca@shop.example\n\n#waiting\n")
    names = [c.name for c in reply.commands]
    assert names == ["category", "assign", "waiting"] and reply.body == "Hello"


def test_hash_line_in_the_middle_of_the_text_is_not_a_command():
    reply = parse_agent_reply("Hello\n#close\nThanks, Marco")
    assert reply.commands == () and reply.body == "Hello\n#close\nThanks, Marco"


def test_unknown_hash_line_at_the_end_stays_text():
    reply = parse_agent_reply("Your order is\n#1 in the queue")
    assert reply.commands == () and reply.problems == () and reply.body.endswith("#1 in the queue")


def test_bad_argument_of_a_trailing_command_is_a_problem():
    assert "#assign needs one email address" in parse_agent_reply("Hi\n#assign luca").problems[0]


def test_unknown_command_is_a_problem():
    assert "unknown command #clsoe" in parse_agent_reply("#clsoe\nHi").problems[0]


def test_assign_without_address_is_a_problem():
    assert "#assign needs one email address" in parse_agent_reply("#assign luca").problems[0]


def test_status_command_with_argument_is_a_problem():
    assert "takes no argument" in parse_agent_reply("#close now").problems[0]


def test_note_takes_the_rest_as_internal_text():
    reply = parse_agent_reply("#note called her\nshe wants express")
    assert reply.is_note and reply.note == "called her\nshe wants express" and reply.body == ""


def test_text_module_line_is_replaced_where_it_stands():
    reply = parse_agent_reply("Hi\n#TEXT returns\nBye")
    assert insert_text_modules(reply.body, {"returns": "Send it back."}) == "Hi\nSend it back.\nBye"


def test_requester_forward_gives_the_original_sender_and_text():
    from mailbridge.decisions.agent_commands import unwrap_requester_forward

    forwarded = unwrap_requester_forward(
        "#Requester\n\nFrom: Anna Rossi [mailto:anna@example.org]\nSent: Monday\n"
        "To: Maria\nSubject: Broken lamp\n\nThe lamp arrived broken.\n"
    )
    assert (forwarded.from_addr, forwarded.subject, forwarded.text) == (
        "anna@example.org",
        "Broken lamp",
        "The lamp arrived broken.",
    )


def test_mail_without_requester_line_is_no_requester_forward():
    from mailbridge.decisions.agent_commands import unwrap_requester_forward

    assert unwrap_requester_forward("From: Anna <anna@example.org>\n\nhi") is None
