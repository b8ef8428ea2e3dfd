"""Throwaway TLS material for the real-server test helpers (Dovecot, the SMTP sink).

`make_certs` writes a test CA, a server certificate for 127.0.0.1/localhost signed by it,
and a second, unrelated CA that clients can be pointed at to prove verification fails.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Certs:
    ca_file: Path  # CA that signed server_cert
    server_cert: Path  # server certificate followed by its chain
    server_key: Path
    other_ca_file: Path  # unrelated CA: verification against it must fail

    def server_context(self) -> ssl.SSLContext:
        """Return a server-side SSLContext loaded with the server certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Return a client-side SSLContext that trusts only the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certs(dir: Path) -> Certs:
    """Write ca.pem, server.pem, server.key and other-ca.pem into dir and return their paths."""
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    certs = Certs(
        ca_file=dir / "ca.pem",
        server_cert=dir / "server.pem",
        server_key=dir / "server.key",
        other_ca_file=dir / "other-ca.pem",
    )
    ca.cert_pem.write_to_path(str(certs.ca_file))
    server.private_key_pem.write_to_path(str(certs.server_key))
    certs.server_cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    trustme.CA().cert_pem.write_to_path(str(certs.other_ca_file))
    certs.server_key.chmod(0o600)
    return certs
