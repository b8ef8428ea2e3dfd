"""The one TLS-context helper: IMAP sources and the SMTP sender both build their context here.

Certificates are verified unless the admin turns that off explicitly (`validate_cert = false`).
"""

from __future__ import annotations

import ssl

from mailbridge.base.config.settings import ConnectionSettings


def tls_context(connection: ConnectionSettings) -> ssl.SSLContext:
    """Build the TLS context for a connection: verified by default, optionally against a private CA."""
    context = ssl.create_default_context(cafile=connection.ca_file)
    if not connection.validate_cert:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
