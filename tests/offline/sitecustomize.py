"""Offline guard for the test run: refuse, and record, any non-loopback network connection.

The test configuration (tests/conftest.py) puts this folder first on PYTHONPATH, so every
Python process started during `pytest` — notebook kernels, DataLoader workers, Dask workers,
torch.distributed ranks — imports it at start-up. A connection to an address outside
127.0.0.0/8 / ::1 raises OSError and is appended to the file named by DLBD_NETWORK_LOG,
which conftest reads at the end of the session to fail the run, even if the code under test
swallowed the error.
"""

from __future__ import annotations

import ipaddress
import os
import socket

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and other local families
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", "", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name that is not localhost would need DNS: not offline


def _refuse(address: object) -> None:
    log = os.environ.get("DLBD_NETWORK_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"pid {os.getpid()}: connection to {address!r}\n")
    raise OSError(f"offline test run: connection to {address!r} refused "
                  "(the course must not use the network)")


def _connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        _refuse(address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        _refuse(address)
    return _real_connect_ex(self, address)


def _sendto(self: socket.socket, data: bytes, *args: object) -> int:
    address = args[-1]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        _refuse(address)
    return _real_sendto(self, data, *args)


if os.environ.get("DLBD_OFFLINE_GUARD") == "1":
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = _sendto  # type: ignore[method-assign]
