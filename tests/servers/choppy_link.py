"""A TCP relay on loopback that hands the server's bytes to the client in small pieces with pauses.

It stands for a busy server or a slow network: a response line (or a TLS record) reaches the client in several
reads, as it does under load. It relays the bytes unchanged; only the timing differs.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from .util import HOST


@dataclass
class ChoppyLink:
    upstream_port: int
    piece: int = 5  # bytes per write towards the client
    pause: float = 0.002  # seconds between those writes
    port: int = 0
    connections: int = 0  # accepted so far
    _listener: socket.socket | None = None
    _sockets: list[socket.socket] = field(default_factory=list)

    def __enter__(self) -> ChoppyLink:
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="choppy-accept").start()
        return self

    def __exit__(self, *_exc) -> None:
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            server = socket.create_connection((HOST, self.upstream_port))
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, 65536, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.piece, self.pause), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, piece: int, pause: float) -> None:
        try:
            while data := source.recv(65536):
                for start in range(0, len(data), piece):
                    target.sendall(data[start : start + piece])
                    if pause:
                        time.sleep(pause)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
