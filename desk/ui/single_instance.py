"""One dashboard per desk home: a second launch asks the first to show itself, then exits.

The first instance listens on a local socket (QLocalServer) named after the user and the
DESK_HOME in force, so a portable install or a test's temporary home runs its own instance.
"""

from __future__ import annotations

import getpass
import hashlib

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desk.store.paths import desk_paths

RAISE_MESSAGE = b"raise\n"


def server_name() -> str:
    home = str(desk_paths().config_dir)
    digest = hashlib.sha256(f"{getpass.getuser()}\0{home}".encode()).hexdigest()[:16]
    return f"desk-{digest}"


def ask_running_instance_to_raise(timeout_ms: int = 500) -> bool:
    """True when another instance answered (it raises its window); False when none runs."""
    socket = QLocalSocket()
    socket.connectToServer(server_name())
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(RAISE_MESSAGE)
    socket.flush()
    socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    return True


class InstanceServer(QObject):
    """Listens for later launches; emits ``raise_requested`` when one arrives."""

    raise_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._on_connection)

    def listen(self) -> bool:
        name = server_name()
        if self.server.listen(name):
            return True
        # A socket file left by a crashed instance: nobody answered, so it is safe to remove.
        QLocalServer.removeServer(name)
        return self.server.listen(name)

    def _on_connection(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        data = bytes(socket.readAll().data())
        if RAISE_MESSAGE.strip() in data:
            self.raise_requested.emit()

    def close(self) -> None:
        self.server.close()
