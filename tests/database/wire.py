"""A TCP proxy in front of a database server that cuts a connection at a chosen moment.

Fault injection at the wire, with the real server and driver on either side:
`lose_reply_to=pattern` forwards the client's message that contains `pattern`, waits for
the server's answer, drops it and closes the connection (a COMMIT whose reply was lost);
`cut_at=pattern` closes the connection instead of forwarding that message (a connection
dropped in the middle of a command). Each cuts once, the first time its pattern passes.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

# The first bytes of a client's COMMIT on the wire (both drivers send it as plain text).
_MYSQL_COMMIT = b"\x03COMMIT"  # MySQL COM_QUERY (0x03) "COMMIT"
COMMIT = {
    "mysql": _MYSQL_COMMIT,
    "mariadb": _MYSQL_COMMIT,
    # PostgreSQL simple Query message: 'Q', int32 length 11, "COMMIT\0"
    "postgresql": b"Q\x00\x00\x00\x0bCOMMIT\x00",
}


class CuttingProxy:
    """Listens on 127.0.0.1 (`port`; by default a free one) and forwards to `target`; with
    neither pattern it only forwards (a server that starts listening late, say)."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        lose_reply_to: bytes | None = None,
        cut_at: bytes | None = None,
        port: int = 0,
    ) -> None:
        self.target = target
        self.lose_reply_to = lose_reply_to
        self.cut_at = cut_at
        self.cuts = 0
        self._armed = True
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))  # 0: any free port
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            link = _Link(client, server)
            threading.Thread(target=self._upstream, args=(link,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(link,), daemon=True).start()

    def _take(self, pattern: bytes | None, chunk: bytes) -> bool:
        """Whether this chunk is the one to cut at (only once)."""
        if pattern is None or pattern not in chunk:
            return False
        with self._lock:
            if not self._armed:
                return False
            self._armed = False
            self.cuts += 1
            return True

    def _upstream(self, link: _Link) -> None:
        while chunk := _recv(link.client):
            if self._take(self.cut_at, chunk):
                link.cut()
                return
            if self._take(self.lose_reply_to, chunk):
                link.swallowing.set()
                link.server.sendall(chunk)
                link.answered.wait(10)  # the server has done it, and answered
                link.cut()
                return
            try:
                link.server.sendall(chunk)
            except OSError:
                break
        link.cut()

    def _downstream(self, link: _Link) -> None:
        while chunk := _recv(link.server):
            if link.swallowing.is_set():
                link.answered.set()
                continue
            try:
                link.client.sendall(chunk)
            except OSError:
                break
        link.cut()


class _Link:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.swallowing = threading.Event()
        self.answered = threading.Event()

    def cut(self) -> None:
        _close(self.client)
        _close(self.server)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
