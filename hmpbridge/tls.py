"""``tls:`` listen endpoints: TLS that requires a client certificate.

Twisted's own ``ssl:`` endpoint encrypts but cannot ask for a client
certificate.  ``tls:`` takes the same options plus ``caCerts`` (the CA that
signs client certificates) and requires every client to present one::

    tls:4443:interface=0.0.0.0:privateKey=server.key:certKey=server.pem:caCerts=ca.pem

The client's identity is the certificate's subject common name; see
:class:`CertificateIdentity`.  Needs ``pyOpenSSL`` (``pip install
'hmpbridge[tls]'``).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.interfaces import IHandshakeListener, IProtocol, IStreamServerEndpoint
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from zope.interface import implementer

from hmpbridge.endpoints import LISTEN_BACKLOG, split_description

__all__ = ["PREFIX", "tls_server_endpoint", "peer_common_name",
           "CertificateIdentity"]

PREFIX = "tls"


def tls_server_endpoint(reactor: Any, description: str) -> IStreamServerEndpoint:
    """The endpoint for a ``tls:`` description; ValueError when it is incomplete."""
    from twisted.internet.endpoints import SSL4ServerEndpoint
    from twisted.internet.ssl import Certificate, CertificateOptions, PrivateCertificate

    args, kw = split_description(description)
    port = kw.pop("port", args[0] if args else None)
    if port is None:
        raise ValueError("tls: needs a port")
    for required in ("privateKey", "caCerts"):
        if required not in kw:
            raise ValueError(f"tls: needs {required}=FILE")
    key_path = kw.pop("privateKey")
    cert_path = kw.pop("certKey", key_path)
    with open(key_path, "rb") as f:
        key_pem = f.read()
    with open(cert_path, "rb") as f:
        cert_pem = f.read()
    with open(kw.pop("caCerts"), "rb") as f:
        ca = Certificate.loadPEM(f.read())
    # PrivateCertificate.loadPEM and SSL4ServerEndpoint are unannotated in Twisted
    pem = cert_pem + b"\n" + key_pem
    server = PrivateCertificate.loadPEM(pem)  # type: ignore[no-untyped-call]
    options = CertificateOptions(privateKey=server.privateKey.original,
                                 certificate=server.original, verify=True,
                                 caCerts=[ca.original], requireCertificate=True)
    interface = kw.pop("interface", "")
    backlog = int(kw.pop("backlog", LISTEN_BACKLOG))
    if kw:
        raise ValueError(f"tls: unknown option(s) {', '.join(sorted(kw))}")
    return SSL4ServerEndpoint(reactor, int(port), options,  # type: ignore[no-untyped-call]
                              backlog=backlog, interface=interface)


def peer_common_name(transport: Any) -> Optional[str]:
    """The subject CN of the client's certificate, once the handshake is done."""
    get = getattr(transport, "getPeerCertificate", None)
    cert = get() if get is not None else None
    if cert is None:
        return None
    common = cert.get_subject().commonName
    return str(common) if common else None


@implementer(IHandshakeListener)
class _HandshakeWatcher(ProtocolWrapper):
    def handshakeCompleted(self) -> None:
        self.factory.completed(self)


class CertificateIdentity(WrappingFactory):
    """Wraps a factory so each client's certificate name is known after the handshake.

    :param on_identified: called with (the wrapped protocol, the certificate's
        common name) once the TLS handshake completes.
    """

    protocol = _HandshakeWatcher

    def __init__(self, wrapped: Any, on_identified: Callable[[IProtocol, str], None]) -> None:
        super().__init__(wrapped)  # type: ignore[no-untyped-call]  # unannotated in Twisted
        self._on_identified = on_identified

    def completed(self, watcher: _HandshakeWatcher) -> None:
        name = peer_common_name(watcher.transport)
        if name is not None:
            self._on_identified(watcher.wrappedProtocol, name)
