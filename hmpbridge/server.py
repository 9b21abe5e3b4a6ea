"""The listening side: a factory that gives every connection an HMP session."""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from hmpbridge.events import EventHub
from hmpbridge.runner import CommandRunner
from hmpbridge.session import HMPSession, HMPTelnetTransport

__all__ = ["HMPServerFactory"]


class HMPServerFactory(Factory):
    """Builds a telnet-framed :class:`HMPSession` for each connection.

    :param runner: the runner all sessions share.
    :param listener: the endpoint description, used in logs.
    :param events: where sessions get QMP events from.
    :param events_on: whether sessions start with events shown.
    """

    _log = Logger()
    noisy = False

    def __init__(self, runner: CommandRunner, listener: str = "",
                 events: Optional[EventHub] = None, events_on: bool = False) -> None:
        self.runner = runner
        self.listener = listener
        self.events = events
        self.events_on = events_on

    def buildProtocol(self, addr: IAddress) -> Optional[Any]:
        transport = HMPTelnetTransport(HMPSession, self.runner, events=self.events,
                                       events_on=self.events_on)
        transport.factory = self
        self._log.debug("HMP session from {peer} on {listener}", peer=addr,
                        listener=self.listener)
        return transport
