"""Several `mailbridge run` daemons on one PostgreSQL while Dovecot comes back with a certificate from another CA
(issue 18, "an untrusted certificate appearing"): nothing is stored or marked from it, no daemon falls back to
plaintext or crashes, `status` names the certificate problem; once the trusted certificate is back every message is
stored once, marked and answered once. The other faults under several daemons are in test_fleet_faults.py.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import trustme

from mailbridge.store import db
from tests.conftest import IMAP_PASSWORD_ENV, SUPPORT_USER, run_cli
from tests.integration.fleet_processes import (
    FLEET,
    LEASE,
    append,
    daemons,
    held_by_pid,
    stop_cleanly,
    stored,
)
from tests.integration.test_fleet_faults import assert_all_done, every_log_has, logs
from tests.servers.dovecot import DovecotServer, start_dovecot
from tests.servers.util import wait_until

NOT_TRUSTED = "certificate not trusted"


def mailbox_table(server: DovecotServer, name: str, folder: str, security: str) -> str:
    port = server.imaps_port if security == "ssl" else server.imap_port
    return f"""
[[mailboxes]]
name = "{name}"
host = "127.0.0.1"
port = {port}
security = "{security}"
ca_file = "{server.ca_file}"
username = "{SUPPORT_USER}"
password_env = "{IMAP_PASSWORD_ENV}"
folder = "{folder}"
contact = "Customer service"
create_contact = true
initial_sync = "import"
timeout_seconds = 5
"""


def restart_with(server: DovecotServer, cert: bytes, key: bytes) -> None:
    """Stop Dovecot, put `cert`/`key` where its configuration reads them (ssl_cert, ssl_key), start it again."""
    server.stop()
    (server.base_dir / "certs" / "server.pem").write_bytes(cert)
    (server.base_dir / "certs" / "server.key").write_bytes(key)
    server.start()


def logins(server: DovecotServer, since: int) -> tuple[int, list[str]]:
    """How many logins Dovecot logged after byte `since` of its log, and the lines of those not over TLS."""
    text = server.log_path.read_bytes()[since:].decode(errors="replace")
    found = [line for line in text.splitlines() if "Login: user=" in line]
    return len(found), [line for line in found if ", TLS" not in line]


def status_lines(config: Path) -> list[str]:
    result = run_cli("status", config=config)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def error_of(lines: list[str], mailbox: str) -> tuple[str, str]:
    """The state line of `mailbox` in `status` and its "last error" line ("" when there is none)."""
    at = next(n for n, line in enumerate(lines) if line.startswith(f"mailbox {mailbox}: "))
    after = lines[at + 1] if at + 1 < len(lines) else ""
    return lines[at], after if after.startswith("  last error") else ""


def test_untrusted_certificate_appearing_under_two_daemons_stores_and_marks_nothing_until_it_is_trusted_again(
    config_file, postgres, dovecot, sink, tmp_path, monkeypatch
):
    own = start_dovecot(tmp_path / "dovecot")  # its own server: this test restarts it with another certificate
    try:
        own.add_user(SUPPORT_USER)
        monkeypatch.setenv(IMAP_PASSWORD_ENV, own.password)
        folders = {"support": "Certs", "box2": "Certsx2"}
        for folder in folders.values():
            own.create_folder(SUPPORT_USER, folder)
        url = postgres.create_database("faults_untrusted_cert")
        # One mailbox over IMAPS (the support table of the test configuration), the other over STARTTLS.
        config = config_file(
            db_url=url,
            imap_port=own.imaps_port,
            ca_file=own.ca_file,
            folder=folders["support"],
            extra=mailbox_table(own, "box2", folders["box2"], "starttls") + FLEET,
        )
        engine = db.make_engine(url)
        expected, per_folder = Counter(), Counter()
        for name, folder in folders.items():
            expected.update(append(own, folder, f"{name}-", 5))
            per_folder[folder] = 5
        trusted = (
            (own.base_dir / "certs" / "server.pem").read_bytes(),
            (own.base_dir / "certs" / "server.key").read_bytes(),
        )
        trusted_ca = own.ca_file
        other = trustme.CA()  # another CA, not in any ca_file of the configuration; the same host names
        other_ca = tmp_path / "other-ca.pem"
        other.cert_pem.write_to_path(str(other_ca))
        issued = other.issue_cert("127.0.0.1", "localhost")
        untrusted = b"".join(blob.bytes() for blob in issued.cert_chain_pems), issued.private_key_pem.bytes()

        with daemons(config, tmp_path, 2) as pair:
            assert_all_done(engine, own, sink, folders, expected, per_folder)
            # Each daemon holds one of the two mailboxes, so both meet the new certificate.
            assert wait_until(
                lambda: sorted(map(len, held_by_pid(engine).values())) == [1, 1], timeout=3 * LEASE, interval=0.2
            )
            before = stored(engine)
            log_mark = own.log_path.stat().st_size
            restart_with(own, *untrusted)
            swapped_at = time.monotonic()
            own.ca_file = str(other_ca)  # the test's own client (APPEND, flags) trusts the new CA; the daemons do not
            meanwhile = Counter()
            for name, folder in folders.items():
                meanwhile.update(append(own, folder, f"untrusted-{name}-", 4))
            # Every daemon meets the certificate (its IDLE watcher or its poll) and says so.
            assert wait_until(lambda: every_log_has(tmp_path, 2, NOT_TRUSTED), timeout=60, interval=0.5), logs(tmp_path)

            def both_failing_on_the_certificate() -> bool:
                lines = status_lines(config)
                return all(
                    "FAILING since" in error_of(lines, m)[0] and NOT_TRUSTED in error_of(lines, m)[1] for m in folders
                )

            assert wait_until(both_failing_on_the_certificate, timeout=60, interval=1)
            lines = status_lines(config)
            state, error = error_of(lines, "support")
            assert re.search(r"mailbox 'support' \(127\.0\.0\.1:\d+, ssl\): certificate not trusted \(", error), error
            assert "set ca_file to the issuing CA" in error
            assert f"(127.0.0.1:{own.imap_port}, starttls): certificate not trusted" in error_of(lines, "box2")[1]
            # Give them a few more rounds against it: nothing stored, nothing marked, no plaintext, no crash.
            time.sleep(5)
            untrusted_for = time.monotonic() - swapped_at
            assert stored(engine) == before
            for folder in folders.values():
                flags = own.flags(SUPPORT_USER, folder)
                assert len(flags) == 9 and sum("\\Seen" in f for f in flags.values()) == 5, flags
            assert logins(own, log_mark)[1] == []
            assert "alert unknown ca" in own.log_path.read_bytes()[log_mark:].decode(errors="replace")
            assert [p.poll() for p in pair] == [None, None]
            assert "loop crashed" not in logs(tmp_path) and "restarting" not in logs(tmp_path)

            restart_with(own, *trusted)
            own.ca_file = trusted_ca
            restored_at = time.monotonic()
            expected.update(meanwhile)
            for folder in folders.values():
                per_folder[folder] += 4
            resends = assert_all_done(engine, own, sink, folders, expected, per_folder)
            caught_up = time.monotonic() - restored_at
            assert resends == 0
            assert sum(expected.values()) == 18 and set(stored(engine).values()) == {1}
            assert len(sink.messages) == 18
            assert wait_until(
                lambda: not any("FAILING" in line for line in status_lines(config)), timeout=30, interval=1
            )
            # The daemons logged in again once they trusted the server, over TLS only (IMAPS and STARTTLS alike).
            count, plaintext = logins(own, log_mark)
            assert count >= 2 and plaintext == []
            assert stop_cleanly(pair) == [0, 0]
    finally:
        own.stop()
    print(
        f"\nuntrusted certificate for {untrusted_for:.1f}s under 2 daemons (8 mails appended meanwhile, none stored "
        f"or marked); caught up {caught_up:.1f}s after the trusted one was back; 18 stored, 18 receipts, no resend"
    )
