"""The declarative HMP command tables: one per QEMU release, one entry per command it lists.

QEMU's facts about each command (its names, ``args_type``, the two halves of
its help line, whether it runs before machine initialisation, its target)
come from that release's table, generated from QEMU's own
``hmp-commands.hx``/``hmp-commands-info.hx`` (:mod:`hmpbridge.tables`,
:mod:`hmpbridge.tablegen`).  hmpbridge's own columns (how it carries the
command out, the QMP commands it sends, whether it only reads, where Tab
completion looks) are :data:`COLUMNS`, by command key, for every release.
:func:`table_for` joins the two into the :class:`CommandTable` of a release.

Every other part reads these tables: the grammar (generated from the
``args`` column), ``help``/``info`` listings, command-name lookup,
permissions (``reads_only``), Tab completion (``completers``) and the
coverage tests.  Handlers are bound to entries by key in
:mod:`hmpbridge.handlers`.

Columns:

``name``
    the table name with its aliases, as ``help`` prints it (``cont|c``); info
    subcommands are ``info <name>``.
``args``
    QEMU's ``args_type`` string (``force:-f,device:B``), the argument language
    described in ``docs/architecture.md``.
``params``, ``help``
    the two halves of the command's ``help`` line, byte for byte as that
    release prints them.
``strategy``
    how the command is carried out: ``native`` (QMP commands built and rendered
    here), ``xquery`` (a QMP ``x-query-*`` command returns the text),
    ``passthrough`` (validated here, run through ``human-monitor-command``) or
    ``session`` (handled by hmpbridge per session, no QMP).
``qmp``
    the QMP commands the command may send (documentation and schema checks);
    the first is the one it cannot do without (``a|b``: either will do).
``reads_only``
    true when the command only reads state.
``preconfig``
    whether QEMU allows it before machine initialisation.
``completers``
    argument key -> name of a completer for Tab completion.
``monitor_forms``
    forms of a native command that still need QEMU's own monitor (sent as
    ``human-monitor-command``), with the reason.
``targets``
    the targets whose QEMU has the command (empty: every target).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, Iterator, Mapping, Optional, Tuple

from hmpbridge import tables
from hmpbridge.hx import HxEntry

__all__ = [
    "NATIVE",
    "XQUERY",
    "PASSTHROUGH",
    "SESSION",
    "ArgItem",
    "CommandSpec",
    "CommandTable",
    "table_for",
    "releases",
    "Columns",
    "COLUMNS",
    "by_key",
    "all_commands",
]

NATIVE = "native"
XQUERY = "xquery"
PASSTHROUGH = "passthrough"
SESSION = "session"


@dataclass(frozen=True)
class ArgItem:
    """One ``key:TYPE`` item of an ``args_type`` string.

    :ivar key: the argument name (``device``).
    :ivar type: the type letter(s) without ``?`` (``B``, ``-f``, ``-fs``, ``/``).
    :ivar optional: the ``?`` marker was present.
    """

    key: str
    type: str
    optional: bool

    @property
    def is_flag(self) -> bool:
        """True for ``-x`` and ``-xs`` flag items."""
        return self.type.startswith("-")

    @property
    def flag_letter(self) -> str:
        """The letter of a flag item (``f`` for ``-f`` and ``-fs``)."""
        return self.type[1]

    @property
    def flag_takes_value(self) -> bool:
        """True for ``-xs``: the flag is followed by a string value."""
        return self.is_flag and len(self.type) == 3


def parse_args_type(args: str) -> Tuple[ArgItem, ...]:
    """Split an ``args_type`` string into its items."""
    items = []
    for part in filter(None, args.split(",")):
        key, _, typ = part.partition(":")
        optional = typ.endswith("?")
        items.append(ArgItem(key, typ.rstrip("?"), optional))
    return tuple(items)


@dataclass(frozen=True)
class CommandSpec:
    """One command table entry (see the module docstring for the columns)."""

    name: str
    args: str
    params: str
    help: str
    strategy: str
    qmp: Tuple[str, ...] = ()
    reads_only: bool = False
    preconfig: bool = True
    completers: Mapping[str, str] = field(default_factory=dict)
    monitor_forms: Tuple[str, ...] = ()
    targets: Tuple[str, ...] = ()

    def available_on(self, target: str) -> bool:
        """Whether a QEMU for ``target`` runs this command (``targets`` empty: every one)."""
        return not self.targets or target in self.targets

    @property
    def is_info(self) -> bool:
        """True for ``info`` subcommands."""
        return self.name.startswith("info ")

    @cached_property
    def aliases(self) -> Tuple[str, ...]:
        """The names a user may type (``("cont", "c")``; ``("status",)`` for info)."""
        bare = self.name[len("info "):] if self.is_info else self.name
        return tuple(bare.split("|"))

    @cached_property
    def key(self) -> str:
        """The canonical name: first alias, with ``info `` for info subcommands."""
        return ("info " + self.aliases[0]) if self.is_info else self.aliases[0]

    @cached_property
    def label(self) -> str:
        """The name QEMU uses in ``<cmd>: ...`` messages (aliases kept; bare info name)."""
        return self.name[len("info "):] if self.is_info else self.name

    @cached_property
    def rule(self) -> str:
        """The grammar rule (and start symbol) of this command."""
        base = self.key.replace("info ", "info_")
        return "cmd_" + "".join(ch if ch.isalnum() else "_" for ch in base).lower()

    @cached_property
    def items(self) -> Tuple[ArgItem, ...]:
        """The parsed ``args_type`` items."""
        return parse_args_type(self.args)

    @cached_property
    def help_line(self) -> str:
        """The line ``help`` prints for this command (without the line end)."""
        return f"{self.name} {self.params} -- {self.help}"


@dataclass(frozen=True)
class Columns:
    """The project's own columns of one command (see the module docstring)."""

    strategy: str
    qmp: Tuple[str, ...] = ()
    reads_only: bool = False
    completers: Mapping[str, str] = field(default_factory=dict)
    monitor_forms: Tuple[str, ...] = ()


def _col(strategy: str, **kw: object) -> Columns:
    return Columns(strategy, **kw)  # type: ignore[arg-type]


#: How hmpbridge carries out each command, by key, for every release that has it.
COLUMNS: Dict[str, Columns] = {
    'help': _col(SESSION, reads_only=True, completers={'name': 'command_name'}),
    'commit': _col(PASSTHROUGH, completers={'device': 'block_device'}),
    'quit': _col(NATIVE, qmp=('quit',)),
    'exit_preconfig': _col(NATIVE, qmp=('x-exit-preconfig',)),
    'block_resize': _col(NATIVE, qmp=('block_resize',), completers={'device': 'block_device'}),
    'block_stream': _col(NATIVE, qmp=('block-stream',), completers={'device': 'block_device'}),
    'block_job_set_speed': _col(
        NATIVE,
        qmp=('block-job-set-speed',),
        completers={'device': 'block_job'},
    ),
    'block_job_cancel': _col(
        NATIVE,
        qmp=('block-job-cancel',),
        completers={'device': 'block_job'},
    ),
    'block_job_complete': _col(
        NATIVE,
        qmp=('block-job-complete',),
        completers={'device': 'block_job'},
    ),
    'block_job_pause': _col(NATIVE, qmp=('block-job-pause',), completers={'device': 'block_job'}),
    'block_job_resume': _col(
        NATIVE,
        qmp=('block-job-resume',),
        completers={'device': 'block_job'},
    ),
    'eject': _col(NATIVE, qmp=('eject',), completers={'device': 'block_device'}),
    'drive_del': _col(PASSTHROUGH, qmp=('blockdev-del',), completers={'id': 'block_device'}),
    'change': _col(
        NATIVE,
        qmp=('blockdev-change-medium', 'change-vnc-password'),
        completers={'device': 'block_device', 'target': 'filename'},
    ),
    'screendump': _col(NATIVE, qmp=('screendump',), completers={'filename': 'filename'}),
    'logfile': _col(PASSTHROUGH, completers={'filename': 'filename'}),
    'trace-event': _col(NATIVE, qmp=('trace-event-set-state',)),
    'log': _col(PASSTHROUGH),
    'savevm': _col(
        NATIVE,
        qmp=('snapshot-save', 'query-block', 'query-jobs', 'job-dismiss', 'snapshot-delete'),
    ),
    'loadvm': _col(
        NATIVE,
        qmp=('snapshot-load', 'query-block', 'query-jobs', 'job-dismiss'),
        completers={'name': 'snapshot'},
    ),
    'delvm': _col(
        NATIVE,
        qmp=('snapshot-delete', 'query-block', 'query-jobs', 'job-dismiss'),
        completers={'name': 'snapshot'},
    ),
    'singlestep': _col(PASSTHROUGH),
    'stop': _col(NATIVE, qmp=('stop',)),
    'cont': _col(NATIVE, qmp=('cont',)),
    'system_wakeup': _col(NATIVE, qmp=('system_wakeup',)),
    'gdbserver': _col(PASSTHROUGH),
    'x': _col(PASSTHROUGH, reads_only=True),
    'xp': _col(PASSTHROUGH, reads_only=True),
    'gpa2hva': _col(PASSTHROUGH, reads_only=True),
    'gpa2hpa': _col(PASSTHROUGH, reads_only=True),
    'gva2gpa': _col(PASSTHROUGH, reads_only=True),
    'print': _col(SESSION, reads_only=True),
    'i': _col(PASSTHROUGH),
    'o': _col(PASSTHROUGH),
    'sendkey': _col(NATIVE, qmp=('send-key',), completers={'keys': 'key_name'}),
    'sync-profile': _col(PASSTHROUGH),
    'system_reset': _col(NATIVE, qmp=('system_reset',)),
    'system_powerdown': _col(NATIVE, qmp=('system_powerdown',)),
    'sum': _col(PASSTHROUGH, reads_only=True),
    'device_add': _col(
        NATIVE,
        qmp=('device_add', 'device-list-properties'),
        monitor_forms=(
            '`device_add help`: the device list by category, with descriptions, is in no QMP reply',
        ),
    ),
    'device_del': _col(NATIVE, qmp=('device_del',), completers={'id': 'device_id'}),
    'cpu': _col(SESSION, reads_only=True),
    'mouse_move': _col(NATIVE, qmp=('input-send-event',)),
    'mouse_button': _col(NATIVE, qmp=('input-send-event',)),
    'mouse_set': _col(PASSTHROUGH),
    'wavcapture': _col(PASSTHROUGH, completers={'path': 'filename'}),
    'stopcapture': _col(PASSTHROUGH),
    'memsave': _col(NATIVE, qmp=('memsave',)),
    'pmemsave': _col(NATIVE, qmp=('pmemsave',)),
    'boot_set': _col(PASSTHROUGH),
    'nmi': _col(NATIVE, qmp=('inject-nmi',)),
    'ringbuf_write': _col(NATIVE, qmp=('ringbuf-write',), completers={'device': 'chardev'}),
    'ringbuf_read': _col(NATIVE, qmp=('ringbuf-read',), completers={'device': 'chardev'}),
    'announce_self': _col(NATIVE, qmp=('query-migrate-parameters', 'announce-self')),
    'migrate': _col(NATIVE, qmp=('migrate', 'query-migrate')),
    'migrate_cancel': _col(NATIVE, qmp=('migrate_cancel',)),
    'migrate_continue': _col(NATIVE, qmp=('migrate-continue',)),
    'migrate_incoming': _col(NATIVE, qmp=('migrate-incoming',)),
    'migrate_recover': _col(NATIVE, qmp=('migrate-recover',)),
    'migrate_pause': _col(NATIVE, qmp=('migrate-pause',)),
    'migrate_set_capability': _col(
        NATIVE,
        qmp=('migrate-set-capabilities', 'query-migrate-capabilities'),
        completers={'capability': 'migrate_capability'},
    ),
    'migrate_set_parameter': _col(
        NATIVE,
        qmp=('migrate-set-parameters',),
        completers={'parameter': 'migrate_parameter'},
    ),
    'migrate_start_postcopy': _col(NATIVE, qmp=('migrate-start-postcopy',)),
    'x_colo_lost_heartbeat': _col(NATIVE, qmp=('x-colo-lost-heartbeat',)),
    'client_migrate_info': _col(NATIVE, qmp=('client_migrate_info',)),
    'dump-guest-memory': _col(
        NATIVE,
        qmp=('dump-guest-memory',),
        completers={'filename': 'filename'},
    ),
    'snapshot_blkdev': _col(
        NATIVE,
        qmp=('blockdev-snapshot-sync',),
        completers={'device': 'block_device'},
    ),
    'snapshot_blkdev_internal': _col(
        NATIVE,
        qmp=('blockdev-snapshot-internal-sync',),
        completers={'device': 'block_device'},
    ),
    'snapshot_delete_blkdev_internal': _col(
        NATIVE,
        qmp=('blockdev-snapshot-delete-internal-sync',),
        completers={'device': 'block_device'},
    ),
    'drive_mirror': _col(NATIVE, qmp=('drive-mirror',), completers={'device': 'block_device'}),
    'drive_backup': _col(NATIVE, qmp=('drive-backup',), completers={'device': 'block_device'}),
    'drive_add': _col(PASSTHROUGH),
    'pcie_aer_inject_error': _col(PASSTHROUGH),
    'netdev_add': _col(NATIVE, qmp=('netdev_add', 'query-rx-filter', 'query-qmp-schema')),
    'netdev_del': _col(NATIVE, qmp=('netdev_del',), completers={'id': 'netdev_id'}),
    'object_add': _col(
        NATIVE,
        qmp=('object-add', 'qom-list-types'),
        monitor_forms=(
            "`object_add help` and `object_add TYPE,help`: `qom-list-types` loads QEMU's modules, which changes the list; `qom-list-properties` also lists read-only properties, and aborts QEMU 7.2 for `colo-compare` and `x-remote-object`. Without QEMU's monitor, `object_add help` lists `qom-list-types`: QEMU's own list once its modules are loaded",
        ),
    ),
    'object_del': _col(NATIVE, qmp=('object-del',), completers={'id': 'object_id'}),
    'hostfwd_add': _col(PASSTHROUGH),
    'hostfwd_remove': _col(PASSTHROUGH),
    'balloon': _col(NATIVE, qmp=('balloon',)),
    'set_link': _col(NATIVE, qmp=('set_link',), completers={'name': 'netdev_id'}),
    'watchdog_action': _col(
        NATIVE,
        qmp=('watchdog-set-action',),
        completers={'action': 'watchdog_action'},
    ),
    'nbd_server_start': _col(
        NATIVE,
        qmp=('nbd-server-start', 'query-block', 'nbd-server-add', 'nbd-server-stop'),
    ),
    'nbd_server_add': _col(NATIVE, qmp=('nbd-server-add',), completers={'device': 'block_device'}),
    'nbd_server_remove': _col(NATIVE, qmp=('nbd-server-remove',)),
    'nbd_server_stop': _col(NATIVE, qmp=('nbd-server-stop',)),
    'mce': _col(PASSTHROUGH),
    'getfd': _col(NATIVE, qmp=('getfd',)),
    'closefd': _col(NATIVE, qmp=('closefd',)),
    'block_set_io_throttle': _col(
        NATIVE,
        qmp=('block_set_io_throttle', 'query-block'),
        completers={'device': 'block_device'},
    ),
    'set_password': _col(NATIVE, qmp=('set_password',)),
    'expire_password': _col(NATIVE, qmp=('expire_password',)),
    'chardev-add': _col(NATIVE, qmp=('chardev-add', 'chardev-remove', 'query-chardev-backends')),
    'chardev-change': _col(NATIVE, qmp=('chardev-change',), completers={'id': 'chardev'}),
    'chardev-remove': _col(NATIVE, qmp=('chardev-remove',), completers={'id': 'chardev'}),
    'chardev-send-break': _col(NATIVE, qmp=('chardev-send-break',), completers={'id': 'chardev'}),
    'qemu-io': _col(PASSTHROUGH, completers={'device': 'block_device'}),
    'qom-list': _col(NATIVE, qmp=('qom-list',), reads_only=True, completers={'path': 'qom_path'}),
    'qom-get': _col(NATIVE, qmp=('qom-get',), reads_only=True, completers={'path': 'qom_path'}),
    'qom-set': _col(NATIVE, qmp=('qom-set',), completers={'path': 'qom_path'}),
    'replay_break': _col(NATIVE, qmp=('replay-break',)),
    'replay_delete_break': _col(NATIVE, qmp=('replay-delete-break',)),
    'replay_seek': _col(NATIVE, qmp=('replay-seek',)),
    'calc_dirty_rate': _col(NATIVE, qmp=('calc-dirty-rate', 'query-kvm', 'query-dirty-rate')),
    'set_vcpu_dirty_limit': _col(NATIVE, qmp=('set-vcpu-dirty-limit',)),
    'cancel_vcpu_dirty_limit': _col(NATIVE, qmp=('cancel-vcpu-dirty-limit',)),
    'info': _col(SESSION, reads_only=True, completers={'item': 'info_name'}),
    'dumpdtb': _col(NATIVE, qmp=('dumpdtb',), completers={'filename': 'filename'}),
    'info version': _col(NATIVE, qmp=('query-version',), reads_only=True),
    'info network': _col(PASSTHROUGH, reads_only=True),
    'info chardev': _col(NATIVE, qmp=('query-chardev',), reads_only=True),
    'info block': _col(
        NATIVE,
        qmp=('query-block', 'query-named-block-nodes'),
        reads_only=True,
        completers={'device': 'block_device'},
    ),
    'info blockstats': _col(NATIVE, qmp=('query-blockstats',), reads_only=True),
    'info block-jobs': _col(NATIVE, qmp=('query-block-jobs',), reads_only=True),
    'info registers': _col(PASSTHROUGH, reads_only=True),
    'info lapic': _col(PASSTHROUGH, reads_only=True),
    'info cpus': _col(NATIVE, qmp=('query-cpus-fast',), reads_only=True),
    'info history': _col(SESSION, reads_only=True),
    'info irq': _col(XQUERY, qmp=('x-query-irq',), reads_only=True),
    'info pic': _col(PASSTHROUGH, reads_only=True),
    'info rdma': _col(XQUERY, qmp=('x-query-rdma',), reads_only=True),
    'info pci': _col(NATIVE, qmp=('query-pci',), reads_only=True),
    'info tlb': _col(PASSTHROUGH, reads_only=True),
    'info mem': _col(PASSTHROUGH, reads_only=True),
    'info mtree': _col(PASSTHROUGH, reads_only=True),
    'info jit': _col(XQUERY, qmp=('x-query-jit',), reads_only=True),
    'info opcount': _col(XQUERY, qmp=('x-query-opcount',), reads_only=True),
    'info sync-profile': _col(PASSTHROUGH, reads_only=True),
    'info kvm': _col(NATIVE, qmp=('query-kvm|query-accelerators',), reads_only=True),
    'info numa': _col(XQUERY, qmp=('x-query-numa',), reads_only=True),
    'info usb': _col(XQUERY, qmp=('x-query-usb',), reads_only=True),
    'info usbhost': _col(PASSTHROUGH, reads_only=True),
    'info profile': _col(XQUERY, qmp=('x-query-profile',), reads_only=True),
    'info capture': _col(PASSTHROUGH, reads_only=True),
    'info snapshots': _col(
        NATIVE,
        qmp=('query-block', 'query-named-block-nodes'),
        reads_only=True,
    ),
    'info status': _col(NATIVE, qmp=('query-status',), reads_only=True),
    'info mice': _col(NATIVE, qmp=('query-mice',), reads_only=True),
    'info vnc': _col(NATIVE, qmp=('query-vnc-servers',), reads_only=True),
    'info spice': _col(NATIVE, qmp=('query-spice',), reads_only=True),
    'info name': _col(NATIVE, qmp=('query-name',), reads_only=True),
    'info uuid': _col(NATIVE, qmp=('query-uuid',), reads_only=True),
    'info usernet': _col(PASSTHROUGH, reads_only=True),
    'info migrate': _col(NATIVE, qmp=('query-migrate', 'qom-get'), reads_only=True),
    'info migrate_capabilities': _col(
        NATIVE,
        qmp=('query-migrate-capabilities',),
        reads_only=True,
    ),
    'info migrate_parameters': _col(NATIVE, qmp=('query-migrate-parameters',), reads_only=True),
    'info balloon': _col(NATIVE, qmp=('query-balloon',), reads_only=True),
    'info qtree': _col(PASSTHROUGH, reads_only=True),
    'info qdm': _col(PASSTHROUGH, reads_only=True),
    'info qom-tree': _col(
        NATIVE,
        qmp=('qom-list', 'qom-get'),
        reads_only=True,
        completers={'path': 'qom_path'},
    ),
    'info roms': _col(XQUERY, qmp=('x-query-roms',), reads_only=True),
    'info trace-events': _col(NATIVE, qmp=('trace-event-get-state',), reads_only=True),
    'info tpm': _col(NATIVE, qmp=('query-tpm',), reads_only=True),
    'info memdev': _col(NATIVE, qmp=('query-memdev',), reads_only=True),
    'info memory-devices': _col(NATIVE, qmp=('query-memory-devices',), reads_only=True),
    'info iothreads': _col(NATIVE, qmp=('query-iothreads',), reads_only=True),
    'info rocker': _col(NATIVE, qmp=('query-rocker',), reads_only=True),
    'info rocker-ports': _col(NATIVE, qmp=('query-rocker-ports',), reads_only=True),
    'info rocker-of-dpa-flows': _col(NATIVE, qmp=('query-rocker-of-dpa-flows',), reads_only=True),
    'info rocker-of-dpa-groups': _col(
        NATIVE,
        qmp=('query-rocker-of-dpa-groups',),
        reads_only=True,
    ),
    'info dump': _col(NATIVE, qmp=('query-dump',), reads_only=True),
    'info ramblock': _col(XQUERY, qmp=('x-query-ramblock',), reads_only=True),
    'info hotpluggable-cpus': _col(NATIVE, qmp=('query-hotpluggable-cpus',), reads_only=True),
    'info vm-generation-id': _col(NATIVE, qmp=('query-vm-generation-id',), reads_only=True),
    'info memory_size_summary': _col(NATIVE, qmp=('query-memory-size-summary',), reads_only=True),
    'info sev': _col(NATIVE, qmp=('query-sev',), reads_only=True),
    'info replay': _col(NATIVE, qmp=('query-replay',), reads_only=True),
    'info dirty_rate': _col(NATIVE, qmp=('query-dirty-rate',), reads_only=True),
    'info vcpu_dirty_limit': _col(NATIVE, qmp=('query-vcpu-dirty-limit',), reads_only=True),
    'info sgx': _col(NATIVE, qmp=('query-sgx',), reads_only=True),
    'info stats': _col(
        NATIVE,
        qmp=('query-stats-schemas', 'query-cpus-fast', 'query-stats'),
        reads_only=True,
    ),
    'info virtio': _col(NATIVE, qmp=('x-query-virtio',), reads_only=True),
    'info virtio-status': _col(NATIVE, qmp=('x-query-virtio-status',), reads_only=True),
    'info virtio-queue-status': _col(
        NATIVE,
        qmp=('x-query-virtio-queue-status',),
        reads_only=True,
    ),
    'info virtio-vhost-queue-status': _col(
        NATIVE,
        qmp=('x-query-virtio-vhost-queue-status',),
        reads_only=True,
    ),
    'info virtio-queue-element': _col(
        NATIVE,
        qmp=('x-query-virtio-queue-element',),
        reads_only=True,
    ),
}

# Commands added after QEMU 7.2 (the release that first lists each is in its table).
COLUMNS.update({
    'xen-event-inject': _col(NATIVE, qmp=('xen-event-inject',)),
    'xen-event-list': _col(NATIVE, qmp=('xen-event-list',), reads_only=True),
    'info cryptodev': _col(NATIVE, qmp=('query-cryptodev',), reads_only=True),
    # the TCG accelerator's one-insn-per-tb property is on no QOM path QMP reaches
    'one-insn-per-tb': _col(PASSTHROUGH),
    'info accel': _col(XQUERY, qmp=('x-accel-stats',), reads_only=True),
    'info accelerators': _col(NATIVE, qmp=('query-accelerators',), reads_only=True),
    'info firmware-log': _col(NATIVE, qmp=('query-firmware-log',), reads_only=True),
    'clear': _col(SESSION, reads_only=True),
    # QEMU 11.1 lists the m68k VIA for every target; only QEMU's monitor knows it
    'info via': _col(PASSTHROUGH, reads_only=True),
    # s390x's: an x86_64 QEMU finds them and refuses them (see CommandSpec.targets)
    'dump-skeys': _col(PASSTHROUGH),
    'migration_mode': _col(PASSTHROUGH),
    'info skeys': _col(PASSTHROUGH, reads_only=True),
    'info cmma': _col(PASSTHROUGH, reads_only=True),
})


class CommandTable:
    """The HMP commands of one QEMU release: what its ``help`` and ``info`` list.

    Immutable and shared by every connection to a QEMU of that release.

    :ivar release: ``(major, minor)`` of the release.
    :ivar specs: every entry, top-level commands then info subcommands.
    :ivar top: each name a user may type -> its top-level entry.
    :ivar info: each name a user may type after ``info`` -> its entry.
    :ivar target: the build's target (``x86_64``): entries of other targets
        only are found, and refused, but not listed.
    :ivar source: where the release's facts came from.
    """

    def __init__(self, release: Tuple[int, int], specs: Tuple[CommandSpec, ...],
                 target: str = "x86_64", source: str = "") -> None:
        self.release = release
        self.specs = specs
        self.target = target
        self.source = source
        self.top: Dict[str, CommandSpec] = {
            alias: spec for spec in specs if not spec.is_info for alias in spec.aliases}
        self.info: Dict[str, CommandSpec] = {
            alias: spec for spec in specs if spec.is_info for alias in spec.aliases}
        self._by_key: Dict[str, CommandSpec] = {spec.key: spec for spec in specs}

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self.specs)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __repr__(self) -> str:
        return f"<CommandTable {self.release[0]}.{self.release[1]}: {len(self.specs)} commands>"

    def lookup(self, name: str) -> Optional[CommandSpec]:
        """The top-level command typed as ``name`` (exact, case-sensitive), or None."""
        return self.top.get(name)

    def lookup_info(self, name: str) -> Optional[CommandSpec]:
        """The ``info`` subcommand typed as ``name``, or None."""
        return self.info.get(name)

    def by_key(self, key: str) -> CommandSpec:
        """The entry whose canonical key is ``key`` (``"cont"``, ``"info block"``)."""
        return self._by_key[key]

    def get(self, key: str) -> Optional[CommandSpec]:
        """The entry whose canonical key is ``key``, or None."""
        return self._by_key.get(key)

    def listed(self, info: bool) -> Iterator[CommandSpec]:
        """The entries ``help`` (or ``info``) lists: this build's target's only."""
        return (s for s in self.specs if s.is_info == info and s.available_on(self.target))


def releases() -> Tuple[Tuple[int, int], ...]:
    """The releases with a command table of their own, oldest first."""
    return tables.releases()


#: What an entry without columns of its own is: QEMU's monitor runs it.
_UNKNOWN = Columns(PASSTHROUGH)


def _specs(entries: Tuple[HxEntry, ...], info: bool) -> Iterator[CommandSpec]:
    for entry in entries:
        name = ("info " + entry.name) if info else entry.name
        key = ("info " if info else "") + entry.name.split("|")[0]
        columns = COLUMNS.get(key, _UNKNOWN)
        yield CommandSpec(name, entry.args_type, entry.params, entry.help, columns.strategy,
                          qmp=columns.qmp, reads_only=columns.reads_only,
                          preconfig="p" in entry.flags, completers=columns.completers,
                          monitor_forms=columns.monitor_forms, targets=entry.targets)


@functools.lru_cache(maxsize=None)
def table_for(release: Tuple[int, int]) -> CommandTable:
    """The command table printed for QEMU ``release``: its own, else the nearest older one.

    QEMU's facts (names, arguments, help, preconfig) come from the release's
    generated table (:mod:`hmpbridge.tables`), hmpbridge's own columns from
    :data:`COLUMNS`.  Tables are built once and shared by every connection.
    """
    hx = tables.load(tables.nearest(*release))
    specs = tuple(_specs(hx.commands, False)) + tuple(_specs(hx.info, True))
    return CommandTable(hx.release, specs, target=hx.target, source=hx.source)


def by_key(key: str, release: Tuple[int, int] = (7, 2)) -> CommandSpec:
    """The entry of ``release``'s table whose canonical key is ``key`` (for tests and tools)."""
    return table_for(release).by_key(key)


def all_commands(release: Tuple[int, int] = (7, 2)) -> Iterator[CommandSpec]:
    """Every entry of ``release``'s table, top-level commands and info subcommands alike."""
    return iter(table_for(release))


#: Commands that hold the prompt while QEMU works for as long as it takes
#: (HMP waits for them): they get the ``long`` timeout class.
LONG_RUNNING = frozenset({
    "migrate", "savevm", "loadvm", "delvm", "dump-guest-memory", "commit", "memsave",
    "pmemsave", "snapshot_blkdev", "snapshot_blkdev_internal",
    "snapshot_delete_blkdev_internal", "block_resize", "screendump",
})

#: The timeout classes, from the quickest to the slowest.
TIMEOUT_CLASSES = ("query", "command", "long")


def timeout_class(spec: CommandSpec) -> str:
    """``query`` for commands that only read, ``long`` for :data:`LONG_RUNNING`, else ``command``."""
    if spec.key in LONG_RUNNING:
        return "long"
    return "query" if spec.reads_only else "command"
