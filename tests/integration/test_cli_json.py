"""`--json` for scripts: `run --once`, `ingest`, `mailboxes test`, `smtp test` and `status`, against the real servers.

Each output parses and has its documented keys; a failure still prints one line on stderr with its exit code.
"""

from __future__ import annotations

import json

from tests.conftest import IMAP_PASSWORD_ENV, SUPPORT_USER, customer_mail, run_cli
from tests.integration.test_contacts_cli import LOG_LINE
from tests.integration.test_ingest import run_ingest

POLL_KEYS = ["mailbox", "ok", "fetched", "stored", "duplicates", "failed", "vanished", "error", "skipped"]
PROBE_KEYS = ["mailbox", "host", "port", "security", "username", "ok", "error", "tls_version", "cipher"]
PROBE_KEYS += ["cert_subject", "cert_issuer", "cert_expires", "capabilities", "folders", "missing"]


def error_lines(stderr: str) -> list[str]:
    """The command's own lines on stderr, without log lines."""
    return LOG_LINE.sub("", stderr).strip().splitlines()


def test_run_once_json_counts_each_mailbox_and_the_outbox(config_file, dovecot, mailbox, sink):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Parcel missing"))
    result = run_cli("run", "--once", "--json", config=config_file())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report) == ["mailboxes", "outbox", "errors"]
    [row] = report["mailboxes"]
    assert list(row) == POLL_KEYS
    assert row == {**row, "mailbox": "support", "ok": True, "fetched": 1, "stored": 1, "duplicates": 0, "error": None}
    assert report["outbox"] == {"sent": 1, "failed": 0} and len(sink.messages) == 1
    assert report["errors"] == []


def test_run_once_json_reports_a_failed_mailbox_and_exits_1(config_file, monkeypatch):
    path = config_file()
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "wrong")
    result = run_cli("run", "--once", "--json", config=path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    [row] = report["mailboxes"]
    assert row["ok"] is False and row["fetched"] is None and "login refused" in row["error"]
    assert report["errors"] == [row["error"]]
    assert error_lines(result.stderr) == [f"mailbridge: error: {row['error']}"]


def test_run_json_without_once_is_refused(config_file):
    result = run_cli("run", "--json", config=config_file())
    assert result.returncode == 1 and "--json: only with --once" in result.stderr


def test_ingest_json_on_stdin_says_stored_then_already_stored(config_file):
    path, raw = config_file(), customer_mail(subject="Refund please")
    first = run_ingest(path, "--json", stdin=raw)
    assert first.returncode == 0, first.stderr
    stored = json.loads(first.stdout)
    assert list(stored) == ["result", "message", "ticket", "new_ticket", "flagged"]
    assert stored["result"] == "stored" and stored["new_ticket"] is True and stored["flagged"] is False
    again = json.loads(run_ingest(path, "--json", stdin=raw).stdout)
    assert again == {**stored, "result": "already_stored", "new_ticket": False}


def test_ingest_json_of_files_gives_the_summary_counts(config_file, tmp_path):
    mails = tmp_path / "eml"
    mails.mkdir()
    (mails / "a.eml").write_bytes(customer_mail(subject="One"))
    (mails / "b.eml").write_bytes(customer_mail(subject="Two"))
    result = run_ingest(config_file(), "--json", str(mails))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "stored": 2,
        "duplicate": 0,
        "flagged": 0,
        "not_stored": 0,
        "failed": 0,
        "tickets": {"opened": 2, "threaded": 0, "answers": 0, "statuses": {"new": 2}},
    }


def test_ingest_json_keeps_errors_on_stderr_with_the_exit_code(config_file):
    result = run_ingest(config_file(), "--json", stdin=b"")
    assert result.returncode == 65 and result.stdout == b""
    assert result.stderr.strip() == b"mailbridge: error: no message on stdin"


def test_mailboxes_test_json_describes_the_server(config_file, mailbox):
    result = run_cli("mailboxes", "test", "--json", config=config_file())
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert list(row) == PROBE_KEYS
    assert row["ok"] is True and row["error"] is None and row["tls_version"].startswith("TLSv1.")
    assert row["capabilities"]["IDLE"] is True and row["folders"][mailbox] == 0 and row["missing"] == []


def test_mailboxes_test_json_of_a_failure_has_the_error_and_exits_1(config_file, monkeypatch):
    path = config_file()
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "wrong")
    result = run_cli("mailboxes", "test", "--json", config=path)
    assert result.returncode == 1
    [row] = json.loads(result.stdout)
    assert list(row) == PROBE_KEYS and row["ok"] is False and row["folders"] is None
    assert error_lines(result.stderr) == [f"mailbridge: error: {row['error']}"] and "login refused" in row["error"]


def test_smtp_test_json_lists_the_steps(config_file, sink):
    result = run_cli("smtp", "test", "--to", "admin@shop.example", "--json", config=config_file())
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert list(outcome) == ["host", "port", "security", "username", "to", "relay", "steps", "sent", "error"]
    assert outcome["relay"] is None  # [smtp] itself; `--relay NAME` names a brand's [smtp.NAME]
    assert outcome["sent"] is True and outcome["port"] == sink.port and outcome["error"] is None
    assert outcome["steps"][0].startswith("connected to 127.0.0.1") and outcome["steps"][-1].startswith("accepted")
    assert [m.rcpt_tos for m in sink.messages] == [("admin@shop.example",)]


def test_smtp_test_json_of_a_refusal_has_the_error_and_exits_1(config_file, sink):
    sink.fail_next("RCPT", 550, "5.1.1 No such user")
    result = run_cli("smtp", "test", "--to", "admin@shop.example", "--json", config=config_file())
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert (
        outcome["sent"] is False
        and outcome["error"] == f"127.0.0.1:{sink.port}: 550 5.1.1 No such user (admin@shop.example)"
    )
    assert error_lines(result.stderr) == [f"mailbridge: error: {outcome['error']}"]


def test_status_json_has_its_keys(config_file):
    result = run_cli("status", "--json", config=config_file())
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert {"mailboxes", "outbox_depth", "outbox_held", "oldest_unsent_at", "warnings"} <= set(status)
    assert [m["name"] for m in status["mailboxes"]] == ["support"]
