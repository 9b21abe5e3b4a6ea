"""The listening side: a factory that gives every connection an HMP session."""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from hmpbridge.runner import CommandRunner
from hmpbridge.session import HMPSession, HMPTelnetTransport

__all__ = ["HMPServerFactory"]


class HMPServerFactory(Factory):
    """Builds a telnet-framed :class:`HMPSession` for each connection.

    :param runner: the runner all sessions share.
    :param listener: the endpoint description, used in logs.
    """

    _log = Logger()
    noisy = False

    def __init__(self, runner: CommandRunner, listener: str = "") -> None:
        self.runner = runner
        self.listener = listener

    def buildProtocol(self, addr: IAddress) -> Optional[Any]:
        transport = HMPTelnetTransport(HMPSession, self.runner)
        transport.factory = self
        self._log.debug("HMP session from {peer} on {listener}", peer=addr,
                        listener=self.listener)
        return transport
