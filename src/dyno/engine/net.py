"""This machine's addresses and ports, as an engine launch and a live check need them.

One socket scan (`listening_addresses`, `port_holder`) and the bind checks a
launch makes before it prepares anything (`check_host`, `check_port_free`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from typing import Any

import psutil

from dyno.errors import PortBusyError, UsageError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_this_machine(host: str) -> bool:
    """Is `host` one of this machine's own addresses (loopback included)?"""
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return True
    with contextlib.suppress(psutil.Error, OSError):
        return host in {a.address for addrs in psutil.net_if_addrs().values() for a in addrs}
    return False


def _listeners(port: int) -> list[Any]:
    """The sockets listening on `port` here (psutil's sconn rows); none when the OS will not say."""
    with contextlib.suppress(psutil.Error, OSError):
        return [
            c
            for c in psutil.net_connections(kind="inet")
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
        ]
    return []


def listening_addresses(port: int) -> list[str]:
    """The addresses something on this machine listens on at `port`, sorted (0.0.0.0: all of them)."""
    return sorted({c.laddr.ip for c in _listeners(port)})


def port_holder(port: int) -> str:
    """` by pid N (name)` for the process listening on `port`, for a busy-port message; "" when unknown."""
    for c in _listeners(port):
        if c.pid:
            with contextlib.suppress(psutil.Error):
                return f" by pid {c.pid} ({psutil.Process(c.pid).name()})"
    return ""


def check_host(host: str) -> None:
    """An address this machine can bind: a name that does not resolve is its own error, not a busy port."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(
            f"--host {host!r} does not resolve to an address ({e}); give an IP such as 127.0.0.1"
        ) from e
    for family, _type, _proto, _name, addr in infos:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((addr[0], 0))
                return
            except OSError:
                continue
    raise UsageError(f"--host {host!r} is not an address of this machine, so nothing can listen on it")


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Same option uvicorn uses, so a port in TIME_WAIT is not called busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise PortBusyError(
                f"port {port} on {host} is already in use{port_holder(port)}; "
                "pick another with --port, or leave it out to get a free one"
            ) from e


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
