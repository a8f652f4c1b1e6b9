"""A start right after a stop waits a moment for the stopped Asterisk's port; a port another program keeps is
still refused."""

from __future__ import annotations

import socket
import threading
import time

from dialer.sandbox.process import port_frees, port_is_free


def _listener() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, int(sock.getsockname()[1])


def test_a_port_let_go_within_the_wait_is_free() -> None:
    sock, port = _listener()
    closer = threading.Timer(0.4, sock.close)
    closer.start()
    try:
        assert not port_is_free(port)
        started = time.monotonic()
        assert port_frees(port, within=3.0)
        assert 0.3 <= time.monotonic() - started < 3.0
    finally:
        closer.join()
        sock.close()


def test_a_port_kept_past_the_wait_is_taken() -> None:
    sock, port = _listener()
    try:
        started = time.monotonic()
        assert not port_frees(port, within=0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        sock.close()
