"""Listening sockets handed over by a service manager (systemd socket activation).

systemd binds a ``.socket`` unit's sockets itself and starts the service with
them as descriptors 3, 4, ... (``LISTEN_FDS``, ``LISTEN_PID``,
``LISTEN_FDNAMES``; see ``sd_listen_fds(3)``).  Twisted's
``systemd:domain=INET:index=0`` (or ``:name=NAME``, the socket unit's
``FileDescriptorName=``) endpoint adopts one of them.  Where such a socket is
bound is written in the socket unit, not in the endpoint string, so the
command line's exposure checks ask the socket itself: :func:`where_bound`
gives the endpoint string that would bind the same address
(``tcp:4444:interface=127.0.0.1``, ``unix:/run/hmpbridge/vm1.hmp``), which
:func:`hmpbridge.endpoints.exposure` reads as for any other listener.  A
socket that was not handed over, or is not a listening stream socket of the
family the endpoint names, is refused here with the reason.
"""

from __future__ import annotations

import socket
from typing import Any, Callable

from twisted.internet.endpoints import AdoptedStreamServerEndpoint, serverFromString
from twisted.internet.interfaces import IReactorCore

from hmpbridge.endpoints import kind, split_description

__all__ = ["PREFIX", "bound_endpoint", "where_bound"]

#: The endpoint kind of an inherited socket (Twisted matches it whatever its case).
PREFIX = "systemd"


def _quote(text: str) -> str:
    """``text`` as one field of an endpoint string (Twisted's ``quoteStringArgument``)."""
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def bound_endpoint(family: int, address: Any) -> str:
    """The endpoint string that binds ``address`` (as ``getsockname`` gives it) of ``family``.

    :raises ValueError: a family hmpbridge cannot listen on.
    """
    if family == socket.AF_UNIX:
        path = address.decode("utf-8", "backslashreplace") if isinstance(address, bytes) \
            else str(address)
        return "unix:" + _quote(path.replace("\0", "@", 1) if path.startswith("\0") else path)
    if family == socket.AF_INET:
        return f"tcp:{int(address[1])}:interface={_quote(str(address[0]))}"
    if family == socket.AF_INET6:
        return f"tcp6:{int(address[1])}:interface={_quote(str(address[0]))}"
    raise ValueError(f"the socket handed over is of family {family}, not INET, INET6 or UNIX")


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)


def _bound(fileno: int, family: int) -> str:
    """Where the listening socket ``fileno`` is bound, checked against ``family``."""
    try:
        sock = socket.socket(fileno=fileno)
    except OSError as err:
        raise ValueError(f"descriptor {fileno} is not an open socket ({err.strerror})")
    try:
        if sock.family != family:
            raise ValueError(f"the socket handed over is {_family_name(sock.family)}, "
                             f"not {_family_name(family)}")
        if sock.type != socket.SOCK_STREAM or \
                not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ValueError("the socket handed over is not a listening stream socket")
        return bound_endpoint(sock.family, sock.getsockname())
    finally:
        sock.detach()  # Twisted adopts it later: leave it open


def where_bound(reactor: IReactorCore) -> Callable[[str], str]:
    """What reads a listener's description: a ``systemd:`` endpoint becomes the endpoint
    string of where its inherited socket is bound; any other is returned as it is.

    The function raises ValueError, with the reason, for an inherited socket that is
    not there or not what the endpoint says.
    """
    def resolve(description: str) -> str:
        if kind(description).lower() != PREFIX:
            return description
        try:
            endpoint = serverFromString(reactor, description)  # type: ignore[no-untyped-call]
        except IndexError:
            index = split_description(description)[1].get("index", "")
            raise ValueError(f"no socket was handed over at index {index} (LISTEN_PID, "
                             "LISTEN_FDS and LISTEN_FDNAMES say which were)")
        except KeyError:
            name = split_description(description)[1].get("name", "")
            raise ValueError(f"no socket was handed over named {name!r}")
        except AttributeError:
            domain = split_description(description)[1].get("domain", "")
            raise ValueError(f"unknown domain {domain!r} (INET, INET6 or UNIX)")
        except TypeError as err:
            raise ValueError(f"expected systemd:domain=DOMAIN:index=N or :name=NAME ({err})")
        if not isinstance(endpoint, AdoptedStreamServerEndpoint):
            return description
        return _bound(endpoint.fileno, endpoint.addressFamily)
    return resolve
