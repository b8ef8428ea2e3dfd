"""A throwaway Dovecot IMAP server on 127.0.0.1, for the integration tests and the demo script.

`start_dovecot(base_dir)` writes its own dovecot.conf (own base_dir, state_dir, log and
instance_name, so several can run at once), one passwd-file per user, a maildir root owned by nobody,
and self-signed certificates, then starts `dovecot -c` with an IMAPS listener and a plain
listener that offers STARTTLS (or, with `tls=False`, `ssl = no` and one plain listener without STARTTLS). The master runs in the foreground (-F) as our child; stop it with
`DovecotServer.stop()` and start it again, on the same ports and mail, with `DovecotServer.start()`;
`freeze()` and `thaw()` SIGSTOP and SIGCONT the master and every process under it (a hung server).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from .certs import make_certs
from .util import HOST, free_port, log_tail, make_traversable, pid_alive, port_open, wait_until

MAIL_UID = 65534
START_TIMEOUT = 15.0
USER_TIMEOUT = 5.0

CONFIG = """\
# Written by tests/servers/dovecot.py; throwaway instance.
instance_name = {instance}
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = {host}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  # one passwd-file per user: a new file is read on its first lookup, whereas Dovecot
  # re-stats a changed file at most once a second
  args = scheme=PLAIN username_format=%u {users}/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={base}/mail/%u
}}
# No growing delay after failed logins from 127.0.0.1 (tests fail logins on purpose).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
    ssl = yes
  }}
}}
"""

# start_dovecot(oauth2_introspection_url=...): the token is the password of an XOAUTH2/OAUTHBEARER
# login, and Dovecot asks the introspection endpoint whether it is active and whose it is.
OAUTH2_CONFIG = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {args}
}}
"""


@dataclass
class DovecotServer:
    host: str
    imaps_port: int
    imap_port: int
    ca_file: str
    other_ca_file: str
    password: str
    base_dir: Path
    pid: int
    has_tls: bool = True  # False: `ssl = no`, no IMAPS listener, no STARTTLS
    _users: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def users_dir(self) -> Path:
        """Directory of the per-user passwd-files (base_dir/users/<username>)."""
        return self.base_dir / "users"

    @property
    def log_path(self) -> Path:
        """Path of the Dovecot log."""
        return self.base_dir / "dovecot.log"

    def add_user(self, username: str) -> None:
        """Write username's passwd-file and wait until Dovecot lets it log in; no-op if present."""
        if "/" in username or username.startswith("."):
            raise ValueError(f"unusable IMAP username {username!r}")
        with self._lock:
            if username in self._users:
                return
            path = self.users_dir / username
            path.write_text(f"{username}:{self.password}\n")
            path.chmod(0o644)
            self._users.add(username)
        # A failed lookup of this user in the same second would hide the file until the
        # clock ticks over, so prove the login works before returning.
        deadline = time.monotonic() + USER_TIMEOUT
        while True:
            try:
                self.client(username).logout()
                return
            except LoginError:
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"{username} still cannot log in {USER_TIMEOUT}s after "
                        f"being added; log tail:\n{log_tail(self.log_path)}"
                    ) from None
                time.sleep(0.1)

    def has_user(self, username: str) -> bool:
        """Return True if add_user(username) has been called."""
        return username in self._users

    def ssl_context(self, ca_file: str | None = None) -> ssl.SSLContext:
        """Return a client SSLContext trusting ca_file (default: the server's CA)."""
        return ssl.create_default_context(cafile=ca_file or self.ca_file)

    def client(self, username: str, ssl: bool = True) -> IMAPClient:
        """Return an IMAPClient logged in as username (IMAPS, or plain + STARTTLS)."""
        if not self.has_tls:
            client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
            ssl = True  # nothing to start: log in in plaintext
        elif ssl:
            client = IMAPClient(self.host, port=self.imaps_port, ssl=True, ssl_context=self.ssl_context(), timeout=10)
        else:
            client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        try:
            if not ssl:
                client.starttls(self.ssl_context())
            client.login(username, self.password)
        except Exception:
            client.shutdown()
            raise
        return client

    def create_folder(self, username: str, folder: str) -> None:
        """Create folder for username unless it already exists."""
        with self.client(username) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)

    def append(self, username: str, folder: str, raw: bytes, flags=()) -> int:
        """IMAP APPEND raw to folder and return the UID the server assigned (APPENDUID)."""
        with self.client(username) as client:
            response = client.append(folder, raw, flags=tuple(flags))
        match = re.search(rb"APPENDUID \d+ (\d+)", response)
        if not match:
            raise RuntimeError(f"no APPENDUID in APPEND response: {response!r}")
        return int(match.group(1))

    def uids(self, username: str, folder: str = "INBOX") -> list[int]:
        """Return the UIDs in folder, ascending."""
        with self.client(username) as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def flags(self, username: str, folder: str = "INBOX") -> dict[int, tuple[str, ...]]:
        """Return {uid: flags} for folder, flags as str like "\\Seen" (session-only \\Recent left out)."""
        with self.client(username) as client:
            client.select_folder(folder, readonly=True)
            fetched = client.get_flags(client.search("ALL"))
        return {uid: tuple(_text(f) for f in flags if _text(f) != "\\Recent") for uid, flags in sorted(fetched.items())}

    def messages(self, username: str, folder: str = "INBOX") -> list[bytes]:
        """Return the raw messages in folder, in UID order."""
        with self.client(username) as client:
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        return [fetched[uid][b"BODY[]"] for uid in uids]

    def start(self) -> None:
        """Run the Dovecot master (-F: in the foreground, our child) on base_dir's config; wait until it listens."""
        stderr_path = self.base_dir / "dovecot.stderr"
        with stderr_path.open("a") as stderr:
            process = subprocess.Popen(
                [find_dovecot(), "-F", "-c", str(self.base_dir / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        self._process, self.pid = process, process.pid
        pid_file = self.base_dir / "run" / "master.pid"
        ready = wait_until(
            lambda: (
                process.poll() is not None
                or (
                    _master_pid(pid_file) == process.pid
                    and (not self.has_tls or port_open(self.imaps_port))
                    and port_open(self.imap_port)
                )
            ),
            timeout=START_TIMEOUT,
        )
        if not ready or process.poll() is not None:
            self.stop()
            raise RuntimeError(
                f"dovecot did not listen on {HOST}:{self.imaps_port}/{self.imap_port} "
                f"within {START_TIMEOUT}s (exit code {process.poll()}); "
                f"log tail:\n{log_tail(stderr_path)}\n{log_tail(self.log_path)}"
            )
        self.pid = int(pid_file.read_text().split()[0])

    def processes(self) -> list[int]:
        """The master's pid and those of every process under it (login, imap, auth ...)."""
        parents: dict[int, int] = {}
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat_file.read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            parents[int(stat_file.parent.name)] = int(fields[1])
        found, frontier = [self.pid], [self.pid]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            found += frontier
        return found

    def freeze(self) -> None:
        """SIGSTOP the master and every process under it: connections stay open, nothing answers."""
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT every process `freeze()` stopped."""
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        """Kill the Dovecot master (pid from base_dir/run/master.pid) and wait for it to exit."""
        pid_file = self.base_dir / "run" / "master.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else self.pid
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            if not wait_until(lambda: not pid_alive(pid), timeout=10):
                os.kill(pid, signal.SIGKILL)
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _master_pid(pid_file: Path) -> int | None:
    """The pid in Dovecot's master.pid, or None while the file is missing or half written."""
    try:
        return int(pid_file.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _text(flag) -> str:
    """Decode an imapclient flag (bytes) to str."""
    return flag.decode() if isinstance(flag, bytes) else str(flag)


def find_dovecot() -> str:
    """Return the dovecot binary path or raise with the apt package to install."""
    path = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )
    if not path:
        raise RuntimeError("dovecot not found: apt-get install -y dovecot-imapd")
    return path


def _without_tls(conf: str) -> str:
    """Turn the config into a plaintext-only one: `ssl = no` and no IMAPS listener."""
    conf = re.sub(r"ssl = yes\nssl_cert = .*\nssl_key = .*\n", "ssl = no\n", conf)
    return re.sub(r"  inet_listener imaps \{[^}]*\}\n", "", conf)


def _with_oauth2(conf: str, base: Path, introspection_url: str) -> str:
    """Add XOAUTH2 and OAUTHBEARER backed by an oauth2 passdb that asks introspection_url (RFC 7662, POST)."""
    oauth2_conf = base / "dovecot-oauth2.conf.ext"
    oauth2_conf.write_text(OAUTH2_CONFIG.format(url=introspection_url))
    conf = conf.replace("auth_mechanisms = plain login\n", "auth_mechanisms = plain login xoauth2 oauthbearer\n")
    return conf + OAUTH2_PASSDB.format(args=oauth2_conf)


def start_dovecot(
    base_dir: Path,
    password: str = "secret",
    imaps_port: int | None = None,
    tls: bool = True,
    oauth2_introspection_url: str | None = None,
) -> DovecotServer:
    """Write a config under base_dir, start Dovecot on two free ports (or the IMAPS port given) and wait until both accept.

    With tls=False only the plain port listens (imaps_port is 0) and STARTTLS is not offered.
    With oauth2_introspection_url, XOAUTH2 and OAUTHBEARER logins are checked against that endpoint.
    """
    binary = find_dovecot()
    base = Path(base_dir).resolve()
    (base / "mail").mkdir(parents=True, exist_ok=True)
    make_traversable(base)
    os.chown(base / "mail", MAIL_UID, MAIL_UID)
    certs = make_certs(base / "certs")
    (base / "users").mkdir(exist_ok=True)
    imap_port, imaps_port = free_port(), imaps_port or free_port()
    while imaps_port == imap_port:
        imaps_port = free_port()
    conf = base / "dovecot.conf"
    text = CONFIG.format(
        instance=f"mailbridge-test-{imaps_port}",
        base=base,
        host=HOST,
        cert=certs.server_cert,
        key=certs.server_key,
        users=base / "users",
        uid=MAIL_UID,
        imap_port=imap_port,
        imaps_port=imaps_port,
    )
    text = text if tls else _without_tls(text)
    conf.write_text(_with_oauth2(text, base, oauth2_introspection_url) if oauth2_introspection_url else text)
    imaps_port = imaps_port if tls else 0
    check = subprocess.run([binary, "-c", str(conf), "-n"], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"dovecot rejected {conf}:\n{check.stderr}")
    (base / "dovecot.stderr").write_text("")
    server = DovecotServer(
        host=HOST,
        imaps_port=imaps_port,
        imap_port=imap_port,
        ca_file=str(certs.ca_file),
        other_ca_file=str(certs.other_ca_file),
        password=password,
        base_dir=base,
        pid=0,
        has_tls=tls,
    )
    server.start()
    return server
