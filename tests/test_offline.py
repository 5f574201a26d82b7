"""The test run is offline: non-loopback connections are refused here and in subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest


def test_guard_refuses_and_records_a_remote_connection(tmp_path, monkeypatch):
    log = tmp_path / "net.log"
    monkeypatch.setenv("DLBD_NETWORK_LOG", str(log))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        with pytest.raises(OSError, match="offline test run"):
            s.connect(("10.255.255.1", 9))
    assert "10.255.255.1" in log.read_text()


def test_guard_allows_loopback(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBD_NETWORK_LOG", str(tmp_path / "net.log"))
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, socket.create_connection(server.getsockname(), timeout=2) as client:
        assert client.getpeername()[0] == "127.0.0.1"
    assert not (tmp_path / "net.log").exists()


def test_guard_is_active_in_child_processes(tmp_path):
    env = dict(os.environ, DLBD_NETWORK_LOG=str(tmp_path / "child.log"))
    code = (
        "import socket\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.connect(('192.0.2.1', 80))\n"
        "except OSError as e:\n"
        "    print('refused' if 'offline' in str(e) else 'other: ' + str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "refused", out.stdout + out.stderr
    assert "192.0.2.1" in (tmp_path / "child.log").read_text()
