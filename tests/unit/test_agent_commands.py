from mailbridge.decisions.agent_commands import AgentCommand, insert_text_modules, parse_agent_reply


def test_commands_at_top_are_parsed_case_insensitively_and_stripped():
    reply = parse_agent_reply("#CLOSE\n#Assign luca@shop.example\nHello Anna")
    assert reply.commands == (AgentCommand("close"), AgentCommand("assign", "luca@shop.example"))
    assert reply.body == "Hello Anna" and not reply.problems


def test_hash_line_after_text_is_not_a_command():
    reply = parse_agent_reply("Hello\n#close\n")
    assert reply.commands == () and reply.body == "Hello\n#close"


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
