"""The declarative HMP command table: one entry per command QEMU 7.2 lists.

Every other part reads this table: the grammar (``grammar/hmp.lark`` is
generated from the ``args`` column), ``help``/``info`` listings, command-name
lookup, permissions (``reads_only``), Tab completion (``completers``) and the
coverage tests.  Handlers are bound to entries by name in
:mod:`hmpbridge.handlers`.

Columns:

``name``
    the table name with its aliases, as ``help`` prints it (``cont|c``); info
    subcommands are ``info <name>``.
``args``
    QEMU's ``args_type`` string (``force:-f,device:B``), the argument language
    described in ``docs/architecture.md``.
``params``, ``help``
    the two halves of the command's ``help`` line, byte for byte as QEMU 7.2
    prints them.
``strategy``
    how the command is carried out: ``native`` (QMP commands built and rendered
    here), ``xquery`` (a QMP ``x-query-*`` command returns the text),
    ``passthrough`` (validated here, run through ``human-monitor-command``) or
    ``session`` (handled by hmpbridge per session, no QMP).
``qmp``
    the QMP commands the command may send (documentation and schema checks).
``reads_only``
    true when the command only reads state.
``preconfig``
    whether QEMU allows it before machine initialisation.
``completers``
    argument key -> name of a completer for Tab completion.
``monitor_forms``
    forms of a native command that still need QEMU's own monitor (sent as
    ``human-monitor-command``), with the reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, Iterator, Mapping, Optional, Tuple

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
    "COMMANDS",
    "INFO_COMMANDS",
    "TOP_COMMANDS",
    "lookup",
    "lookup_info",
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


def _c(name: str, **kw: object) -> CommandSpec:
    return CommandSpec(name, **kw)  # type: ignore[arg-type]


COMMANDS: Tuple[CommandSpec, ...] = (
    _c(
        'help|?',
        args='name:S?',
        params='[cmd]',
        help='show the help',
        strategy=SESSION,
        reads_only=True,
        completers={'name': 'command_name'},
    ),
    _c(
        'commit',
        args='device:B',
        params='device|all',
        help='commit changes to the disk images (if -snapshot is used) or backing files',
        strategy=PASSTHROUGH,
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c('quit|q', args='', params='', help='quit the emulator', strategy=NATIVE, qmp=('quit',)),
    _c(
        'exit_preconfig',
        args='',
        params='',
        help='exit the preconfig state',
        strategy=NATIVE,
        qmp=('x-exit-preconfig',),
    ),
    _c(
        'block_resize',
        args='device:B,size:o',
        params='device size',
        help='resize a block image',
        strategy=NATIVE,
        qmp=('block_resize',),
        completers={'device': 'block_device'},
    ),
    _c(
        'block_stream',
        args='device:B,speed:o?,base:s?',
        params='device [speed [base]]',
        help='copy data from a backing file into a block device',
        strategy=NATIVE,
        qmp=('block-stream',),
        completers={'device': 'block_device'},
    ),
    _c(
        'block_job_set_speed',
        args='device:B,speed:o',
        params='device speed',
        help='set maximum speed for a background block operation',
        strategy=NATIVE,
        qmp=('block-job-set-speed',),
        completers={'device': 'block_job'},
    ),
    _c(
        'block_job_cancel',
        args='force:-f,device:B',
        params='[-f] device',
        help='stop an active background block operation (use -f\n\t\t\t if you want to abort the operation immediately\n\t\t\t instead of keep running until data is in sync)',
        strategy=NATIVE,
        qmp=('block-job-cancel',),
        completers={'device': 'block_job'},
    ),
    _c(
        'block_job_complete',
        args='device:B',
        params='device',
        help='stop an active background block operation',
        strategy=NATIVE,
        qmp=('block-job-complete',),
        completers={'device': 'block_job'},
    ),
    _c(
        'block_job_pause',
        args='device:B',
        params='device',
        help='pause an active background block operation',
        strategy=NATIVE,
        qmp=('block-job-pause',),
        completers={'device': 'block_job'},
    ),
    _c(
        'block_job_resume',
        args='device:B',
        params='device',
        help='resume a paused background block operation',
        strategy=NATIVE,
        qmp=('block-job-resume',),
        completers={'device': 'block_job'},
    ),
    _c(
        'eject',
        args='force:-f,device:B',
        params='[-f] device',
        help='eject a removable medium (use -f to force it)',
        strategy=NATIVE,
        qmp=('eject',),
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c(
        'drive_del',
        args='id:B',
        params='device',
        help='remove host block device',
        strategy=PASSTHROUGH,
        qmp=('blockdev-del',),
        preconfig=False,
        completers={'id': 'block_device'},
    ),
    _c(
        'change',
        args='device:B,force:-f,target:F,arg:s?,read-only-mode:s?',
        params='device [-f] filename [format [read-only-mode]]',
        help='change a removable medium, optional format, use -f to force the operation',
        strategy=NATIVE,
        qmp=('blockdev-change-medium', 'change-vnc-password'),
        preconfig=False,
        completers={'device': 'block_device', 'target': 'filename'},
    ),
    _c(
        'screendump',
        args='filename:F,format:-fs,device:s?,head:i?',
        params='filename [-f format] [device [head]]',
        help="save screen from head 'head' of display device 'device'in specified format 'format' as image 'filename'.Currently only 'png' and 'ppm' formats are supported.",
        strategy=NATIVE,
        qmp=('screendump',),
        preconfig=False,
        completers={'filename': 'filename'},
    ),
    _c(
        'logfile',
        args='filename:F',
        params='filename',
        help="output logs to 'filename'",
        strategy=PASSTHROUGH,
        preconfig=False,
        completers={'filename': 'filename'},
    ),
    _c(
        'trace-event',
        args='name:s,option:b,vcpu:i?',
        params='name on|off [vcpu]',
        help='changes status of a specific trace event (vcpu: vCPU to set, default is all)',
        strategy=NATIVE,
        qmp=('trace-event-set-state',),
        preconfig=False,
    ),
    _c(
        'log',
        args='items:s',
        params='item1[,...]',
        help='activate logging of the specified items',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'savevm',
        args='name:s?',
        params='tag',
        help='save a VM snapshot. If no tag is provided, a new snapshot is created',
        strategy=NATIVE,
        qmp=('snapshot-save', 'query-block', 'query-jobs', 'job-dismiss', 'snapshot-delete'),
        preconfig=False,
    ),
    _c(
        'loadvm',
        args='name:s',
        params='tag',
        help='restore a VM snapshot from its tag',
        strategy=NATIVE,
        qmp=('snapshot-load', 'query-block', 'query-jobs', 'job-dismiss'),
        preconfig=False,
        completers={'name': 'snapshot'},
    ),
    _c(
        'delvm',
        args='name:s',
        params='tag',
        help='delete a VM snapshot from its tag',
        strategy=NATIVE,
        qmp=('snapshot-delete', 'query-block', 'query-jobs', 'job-dismiss'),
        preconfig=False,
        completers={'name': 'snapshot'},
    ),
    _c(
        'singlestep',
        args='option:s?',
        params='[on|off]',
        help='run emulation in singlestep mode or switch to normal mode',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'stop|s',
        args='',
        params='',
        help='stop emulation',
        strategy=NATIVE,
        qmp=('stop',),
        preconfig=False,
    ),
    _c(
        'cont|c',
        args='',
        params='',
        help='resume emulation',
        strategy=NATIVE,
        qmp=('cont',),
        preconfig=False,
    ),
    _c(
        'system_wakeup',
        args='',
        params='',
        help='wakeup guest from suspend',
        strategy=NATIVE,
        qmp=('system_wakeup',),
        preconfig=False,
    ),
    _c(
        'gdbserver',
        args='device:s?',
        params='[device]',
        help="start gdbserver on given device (default 'tcp::1234'), stop with 'none'",
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'x',
        args='fmt:/,addr:l',
        params='/fmt addr',
        help="virtual memory dump starting at 'addr'",
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'xp',
        args='fmt:/,addr:l',
        params='/fmt addr',
        help="physical memory dump starting at 'addr'",
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'gpa2hva',
        args='addr:l',
        params='addr',
        help='print the host virtual address corresponding to a guest physical address',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'gpa2hpa',
        args='addr:l',
        params='addr',
        help='print the host physical address corresponding to a guest physical address',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'gva2gpa',
        args='addr:l',
        params='addr',
        help='print the guest physical address corresponding to a guest virtual address',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'print|p',
        args='fmt:/,val:l',
        params='/fmt expr',
        help='print expression value (use $reg for CPU register access)',
        strategy=SESSION,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'i',
        args='fmt:/,addr:i,index:i.',
        params='/fmt addr',
        help='I/O port read',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'o',
        args='fmt:/,addr:i,val:i',
        params='/fmt addr value',
        help='I/O port write',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'sendkey',
        args='keys:s,hold-time:i?',
        params='keys [hold_ms]',
        help="send keys to the VM (e.g. 'sendkey ctrl-alt-f1', default hold time=100 ms)",
        strategy=NATIVE,
        qmp=('send-key',),
        preconfig=False,
        completers={'keys': 'key_name'},
    ),
    _c(
        'sync-profile',
        args='op:s?',
        params='[on|off|reset]',
        help='enable, disable or reset synchronization profiling. With no arguments, prints whether profiling is on or off.',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'system_reset',
        args='',
        params='',
        help='reset the system',
        strategy=NATIVE,
        qmp=('system_reset',),
        preconfig=False,
    ),
    _c(
        'system_powerdown',
        args='',
        params='',
        help='send system power down event',
        strategy=NATIVE,
        qmp=('system_powerdown',),
        preconfig=False,
    ),
    _c(
        'sum',
        args='start:i,size:i',
        params='addr size',
        help='compute the checksum of a memory region',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'device_add',
        args='device:O',
        params='driver[,prop=value][,...]',
        help='add device, like -device on the command line',
        strategy=NATIVE,
        qmp=('device_add', 'device-list-properties'),
        monitor_forms=('`device_add help`: the device list by category, with descriptions, '
                       'is in no QMP reply',),
        preconfig=False,
    ),
    _c(
        'device_del',
        args='id:s',
        params='device',
        help='remove device',
        strategy=NATIVE,
        qmp=('device_del',),
        preconfig=False,
        completers={'id': 'device_id'},
    ),
    _c(
        'cpu',
        args='index:i',
        params='index',
        help='set the default CPU',
        strategy=SESSION,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'mouse_move',
        args='dx_str:s,dy_str:s,dz_str:s?',
        params='dx dy [dz]',
        help='send mouse move events',
        strategy=NATIVE,
        qmp=('input-send-event',),
        preconfig=False,
    ),
    _c(
        'mouse_button',
        args='button_state:i',
        params='state',
        help='change mouse button state (1=L, 2=M, 4=R)',
        strategy=NATIVE,
        qmp=('input-send-event',),
        preconfig=False,
    ),
    _c(
        'mouse_set',
        args='index:i',
        params='index',
        help='set which mouse device receives events',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'wavcapture',
        args='path:F,audiodev:s,freq:i?,bits:i?,nchannels:i?',
        params='path audiodev [frequency [bits [channels]]]',
        help='capture audio to a wave file (default frequency=44100 bits=16 channels=2)',
        strategy=PASSTHROUGH,
        preconfig=False,
        completers={'path': 'filename'},
    ),
    _c(
        'stopcapture',
        args='n:i',
        params='capture index',
        help='stop capture',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'memsave',
        args='val:l,size:i,filename:s',
        params='addr size file',
        help="save to disk virtual memory dump starting at 'addr' of size 'size'",
        strategy=NATIVE,
        qmp=('memsave',),
        preconfig=False,
    ),
    _c(
        'pmemsave',
        args='val:l,size:i,filename:s',
        params='addr size file',
        help="save to disk physical memory dump starting at 'addr' of size 'size'",
        strategy=NATIVE,
        qmp=('pmemsave',),
        preconfig=False,
    ),
    _c(
        'boot_set',
        args='bootdevice:s',
        params='bootdevice',
        help='define new values for the boot device list',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'nmi',
        args='',
        params='',
        help='inject an NMI',
        strategy=NATIVE,
        qmp=('inject-nmi',),
        preconfig=False,
    ),
    _c(
        'ringbuf_write',
        args='device:s,data:s',
        params='device data',
        help='Write to a ring buffer character device',
        strategy=NATIVE,
        qmp=('ringbuf-write',),
        preconfig=False,
        completers={'device': 'chardev'},
    ),
    _c(
        'ringbuf_read',
        args='device:s,size:i',
        params='device size',
        help='Read from a ring buffer character device',
        strategy=NATIVE,
        qmp=('ringbuf-read',),
        preconfig=False,
        completers={'device': 'chardev'},
    ),
    _c(
        'announce_self',
        args='interfaces:s?,id:s?',
        params='[interfaces] [id]',
        help='Trigger GARP/RARP announcements',
        strategy=NATIVE,
        qmp=('query-migrate-parameters', 'announce-self'),
        preconfig=False,
    ),
    _c(
        'migrate',
        args='detach:-d,blk:-b,inc:-i,resume:-r,uri:s',
        params='[-d] [-b] [-i] [-r] uri',
        help='migrate to URI (using -d to not wait for completion)\n\t\t\t -b for migration without shared storage with full copy of disk\n\t\t\t -i for migration without shared storage with incremental copy of disk (base image shared between src and destination)\n\t\t\t -r to resume a paused migration',
        strategy=NATIVE,
        qmp=('migrate', 'query-migrate'),
        preconfig=False,
    ),
    _c(
        'migrate_cancel',
        args='',
        params='',
        help='cancel the current VM migration',
        strategy=NATIVE,
        qmp=('migrate_cancel',),
        preconfig=False,
    ),
    _c(
        'migrate_continue',
        args='state:s',
        params='state',
        help='Continue migration from the given paused state',
        strategy=NATIVE,
        qmp=('migrate-continue',),
        preconfig=False,
    ),
    _c(
        'migrate_incoming',
        args='uri:s',
        params='uri',
        help='Continue an incoming migration from an -incoming defer',
        strategy=NATIVE,
        qmp=('migrate-incoming',),
        preconfig=False,
    ),
    _c(
        'migrate_recover',
        args='uri:s',
        params='uri',
        help='Continue a paused incoming postcopy migration',
        strategy=NATIVE,
        qmp=('migrate-recover',),
        preconfig=False,
    ),
    _c(
        'migrate_pause',
        args='',
        params='',
        help='Pause an ongoing migration (postcopy-only)',
        strategy=NATIVE,
        qmp=('migrate-pause',),
        preconfig=False,
    ),
    _c(
        'migrate_set_capability',
        args='capability:s,state:b',
        params='capability state',
        help='Enable/Disable the usage of a capability for migration',
        strategy=NATIVE,
        qmp=('migrate-set-capabilities',),
        preconfig=False,
        completers={'capability': 'migrate_capability'},
    ),
    _c(
        'migrate_set_parameter',
        args='parameter:s,value:s',
        params='parameter value',
        help='Set the parameter for migration',
        strategy=NATIVE,
        qmp=('migrate-set-parameters',),
        preconfig=False,
        completers={'parameter': 'migrate_parameter'},
    ),
    _c(
        'migrate_start_postcopy',
        args='',
        params='',
        help='Followup to a migration command to switch the migration to postcopy mode. The postcopy-ram capability must be set on both source and destination before the original migration command .',
        strategy=NATIVE,
        qmp=('migrate-start-postcopy',),
        preconfig=False,
    ),
    _c(
        'x_colo_lost_heartbeat',
        args='',
        params='',
        help='Tell COLO that heartbeat is lost,\n\t\t\ta failover or takeover is needed.',
        strategy=NATIVE,
        qmp=('x-colo-lost-heartbeat',),
        preconfig=False,
    ),
    _c(
        'client_migrate_info',
        args='protocol:s,hostname:s,port:i?,tls-port:i?,cert-subject:s?',
        params='protocol hostname port tls-port cert-subject',
        help='set migration information for remote display',
        strategy=NATIVE,
        qmp=('client_migrate_info',),
        preconfig=False,
    ),
    _c(
        'dump-guest-memory',
        args='paging:-p,detach:-d,windmp:-w,zlib:-z,lzo:-l,snappy:-s,filename:F,begin:l?,length:l?',
        params='[-p] [-d] [-z|-l|-s|-w] filename [begin length]',
        help="dump guest memory into file 'filename'.\n\t\t\t-p: do paging to get guest's memory mapping.\n\t\t\t-d: return immediately (do not wait for completion).\n\t\t\t-z: dump in kdump-compressed format, with zlib compression.\n\t\t\t-l: dump in kdump-compressed format, with lzo compression.\n\t\t\t-s: dump in kdump-compressed format, with snappy compression.\n\t\t\t-w: dump in Windows crashdump format (can be used instead of ELF-dump converting),\n\t\t\t    for Windows x86 and x64 guests with vmcoreinfo driver only.\n\t\t\tbegin: the starting physical address.\n\t\t\tlength: the memory size, in bytes.",
        strategy=NATIVE,
        qmp=('dump-guest-memory',),
        preconfig=False,
        completers={'filename': 'filename'},
    ),
    _c(
        'snapshot_blkdev',
        args='reuse:-n,device:B,snapshot-file:s?,format:s?',
        params='[-n] device [new-image-file] [format]',
        help='initiates a live snapshot\n\t\t\tof device. If a new image file is specified, the\n\t\t\tnew image file will become the new root image.\n\t\t\tIf format is specified, the snapshot file will\n\t\t\tbe created in that format.\n\t\t\tThe default format is qcow2.  The -n flag requests QEMU\n\t\t\tto reuse the image found in new-image-file, instead of\n\t\t\trecreating it from scratch.',
        strategy=NATIVE,
        qmp=('blockdev-snapshot-sync',),
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c(
        'snapshot_blkdev_internal',
        args='device:B,name:s',
        params='device name',
        help='take an internal snapshot of device.\n\t\t\tThe format of the image used by device must\n\t\t\tsupport it, such as qcow2.\n\t\t\t',
        strategy=NATIVE,
        qmp=('blockdev-snapshot-internal-sync',),
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c(
        'snapshot_delete_blkdev_internal',
        args='device:B,name:s,id:s?',
        params='device name [id]',
        help='delete an internal snapshot of device.\n\t\t\tIf id is specified, qemu will try delete\n\t\t\tthe snapshot matching both id and name.\n\t\t\tThe format of the image used by device must\n\t\t\tsupport it, such as qcow2.\n\t\t\t',
        strategy=NATIVE,
        qmp=('blockdev-snapshot-delete-internal-sync',),
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c(
        'drive_mirror',
        args='reuse:-n,full:-f,device:B,target:s,format:s?',
        params='[-n] [-f] device target [format]',
        help="initiates live storage\n\t\t\tmigration for a device. The device's contents are\n\t\t\tcopied to the new image file, including data that\n\t\t\tis written after the command is started.\n\t\t\tThe -n flag requests QEMU to reuse the image found\n\t\t\tin new-image-file, instead of recreating it from scratch.\n\t\t\tThe -f flag requests QEMU to copy the whole disk,\n\t\t\tso that the result does not need a backing file.\n\t\t\t",
        strategy=NATIVE,
        qmp=('drive-mirror',),
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c(
        'drive_backup',
        args='reuse:-n,full:-f,compress:-c,device:B,target:s,format:s?',
        params='[-n] [-f] [-c] device target [format]',
        help="initiates a point-in-time\n\t\t\tcopy for a device. The device's contents are\n\t\t\tcopied to the new image file, excluding data that\n\t\t\tis written after the command is started.\n\t\t\tThe -n flag requests QEMU to reuse the image found\n\t\t\tin new-image-file, instead of recreating it from scratch.\n\t\t\tThe -f flag requests QEMU to copy the whole disk,\n\t\t\tso that the result does not need a backing file.\n\t\t\tThe -c flag requests QEMU to compress backup data\n\t\t\t(if the target format supports it).\n\t\t\t",
        strategy=NATIVE,
        qmp=('drive-backup',),
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c(
        'drive_add',
        args='node:-n,pci_addr:s,opts:s',
        params='[-n] [[<domain>:]<bus>:]<slot>\n[file=file][,if=type][,bus=n]\n[,unit=m][,media=d][,index=i]\n[,snapshot=on|off][,cache=on|off]\n[,readonly=on|off][,copy-on-read=on|off]',
        help='add drive to PCI storage controller',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'pcie_aer_inject_error',
        args='advisory_non_fatal:-a,correctable:-c,id:s,error_status:s,header0:i?,header1:i?,header2:i?,header3:i?,prefix0:i?,prefix1:i?,prefix2:i?,prefix3:i?',
        params='[-a] [-c] id <error_status> [<tlp header> [<tlp header prefix>]]',
        help='inject pcie aer error\n\t\t\t -a for advisory non fatal error\n\t\t\t -c for correctable error\n\t\t\t<id> = qdev device id\n\t\t\t<error_status> = error string or 32bit\n\t\t\t<tlp header> = 32bit x 4\n\t\t\t<tlp header prefix> = 32bit x 4',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'netdev_add',
        args='netdev:O',
        params='[user|tap|socket|stream|dgram|vde|bridge|hubport|netmap|vhost-user],id=str[,prop=value][,...]',
        help='add host network device',
        strategy=NATIVE,
        qmp=('netdev_add', 'query-rx-filter', 'query-qmp-schema'),
    ),
    _c(
        'netdev_del',
        args='id:s',
        params='id',
        help='remove host network device',
        strategy=NATIVE,
        qmp=('netdev_del',),
        completers={'id': 'netdev_id'},
    ),
    _c(
        'object_add',
        args='object:S',
        params='[qom-type=]type,id=str[,prop=value][,...]',
        help='create QOM object',
        strategy=NATIVE,
        qmp=('object-add', 'qom-list-types'),
        monitor_forms=('`object_add help` and `object_add TYPE,help`: `qom-list-types` loads '
                       "QEMU's modules, which changes the list; `qom-list-properties` also lists "
                       'read-only properties, and aborts QEMU 7.2 for `colo-compare` and '
                       '`x-remote-object`. Without QEMU\'s monitor, `object_add help` lists '
                       "`qom-list-types`: QEMU's own list once its modules are loaded",),
    ),
    _c(
        'object_del',
        args='id:s',
        params='id',
        help='destroy QOM object',
        strategy=NATIVE,
        qmp=('object-del',),
        completers={'id': 'object_id'},
    ),
    _c(
        'hostfwd_add',
        args='arg1:s,arg2:s?',
        params='[netdev_id] [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport',
        help='redirect TCP or UDP connections from host to guest (requires -net user)',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'hostfwd_remove',
        args='arg1:s,arg2:s?',
        params='[netdev_id] [tcp|udp]:[hostaddr]:hostport',
        help='remove host-to-guest TCP or UDP redirection',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'balloon',
        args='value:M',
        params='target',
        help='request VM to change its memory allocation (in MB)',
        strategy=NATIVE,
        qmp=('balloon',),
        preconfig=False,
    ),
    _c(
        'set_link',
        args='name:s,up:b',
        params='name on|off',
        help='change the link status of a network adapter',
        strategy=NATIVE,
        qmp=('set_link',),
        preconfig=False,
        completers={'name': 'netdev_id'},
    ),
    _c(
        'watchdog_action',
        args='action:s',
        params='[reset|shutdown|poweroff|pause|debug|none]',
        help='change watchdog action',
        strategy=NATIVE,
        qmp=('watchdog-set-action',),
        preconfig=False,
        completers={'action': 'watchdog_action'},
    ),
    _c(
        'nbd_server_start',
        args='all:-a,writable:-w,uri:s',
        params='nbd_server_start [-a] [-w] host:port',
        help='serve block devices on the given host and port',
        strategy=NATIVE,
        qmp=('nbd-server-start', 'query-block', 'nbd-server-add', 'nbd-server-stop'),
    ),
    _c(
        'nbd_server_add',
        args='writable:-w,device:B,name:s?',
        params='nbd_server_add [-w] device [name]',
        help='export a block device via NBD',
        strategy=NATIVE,
        qmp=('nbd-server-add',),
        completers={'device': 'block_device'},
    ),
    _c(
        'nbd_server_remove',
        args='force:-f,name:s',
        params='nbd_server_remove [-f] name',
        help='remove an export previously exposed via NBD',
        strategy=NATIVE,
        qmp=('nbd-server-remove',),
    ),
    _c(
        'nbd_server_stop',
        args='',
        params='nbd_server_stop',
        help='stop serving block devices using the NBD protocol',
        strategy=NATIVE,
        qmp=('nbd-server-stop',),
    ),
    _c(
        'mce',
        args='broadcast:-b,cpu_index:i,bank:i,status:l,mcg_status:l,addr:l,misc:l',
        params='[-b] cpu bank status mcgstatus addr misc',
        help='inject a MCE on the given CPU [and broadcast to other CPUs with -b option]',
        strategy=PASSTHROUGH,
        preconfig=False,
    ),
    _c(
        'getfd',
        args='fdname:s',
        params='getfd name',
        help='receive a file descriptor via SCM rights and assign it a name',
        strategy=NATIVE,
        qmp=('getfd',),
    ),
    _c(
        'closefd',
        args='fdname:s',
        params='closefd name',
        help='close a file descriptor previously passed via SCM rights',
        strategy=NATIVE,
        qmp=('closefd',),
    ),
    _c(
        'block_set_io_throttle',
        args='device:B,bps:l,bps_rd:l,bps_wr:l,iops:l,iops_rd:l,iops_wr:l',
        params='device bps bps_rd bps_wr iops iops_rd iops_wr',
        help='change I/O throttle limits for a block drive',
        strategy=NATIVE,
        qmp=('block_set_io_throttle', 'query-block'),
        completers={'device': 'block_device'},
    ),
    _c(
        'set_password',
        args='protocol:s,password:s,display:-ds,connected:s?',
        params='protocol password [-d display] [action-if-connected]',
        help='set spice/vnc password',
        strategy=NATIVE,
        qmp=('set_password',),
        preconfig=False,
    ),
    _c(
        'expire_password',
        args='protocol:s,time:s,display:-ds',
        params='protocol time [-d display]',
        help='set spice/vnc password expire-time',
        strategy=NATIVE,
        qmp=('expire_password',),
        preconfig=False,
    ),
    _c(
        'chardev-add',
        args='args:s',
        params='args',
        help='add chardev',
        strategy=NATIVE,
        qmp=('chardev-add', 'chardev-remove', 'query-chardev-backends'),
        preconfig=False,
    ),
    _c(
        'chardev-change',
        args='id:s,args:s',
        params='id args',
        help='change chardev',
        strategy=NATIVE,
        qmp=('chardev-change',),
        preconfig=False,
        completers={'id': 'chardev'},
    ),
    _c(
        'chardev-remove',
        args='id:s',
        params='id',
        help='remove chardev',
        strategy=NATIVE,
        qmp=('chardev-remove',),
        preconfig=False,
        completers={'id': 'chardev'},
    ),
    _c(
        'chardev-send-break',
        args='id:s',
        params='id',
        help='send a break on chardev',
        strategy=NATIVE,
        qmp=('chardev-send-break',),
        preconfig=False,
        completers={'id': 'chardev'},
    ),
    _c(
        'qemu-io',
        args='qdev:-d,device:B,command:s',
        params='[-d] [device] "[command]"',
        help='run a qemu-io command on a block device\n\t\t\t-d: [device] is a device ID rather than a drive ID or node name',
        strategy=PASSTHROUGH,
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c(
        'qom-list',
        args='path:s?',
        params='path',
        help='list QOM properties',
        strategy=NATIVE,
        qmp=('qom-list',),
        reads_only=True,
        completers={'path': 'qom_path'},
    ),
    _c(
        'qom-get',
        args='path:s,property:s',
        params='path property',
        help='print QOM property',
        strategy=NATIVE,
        qmp=('qom-get',),
        reads_only=True,
        completers={'path': 'qom_path'},
    ),
    _c(
        'qom-set',
        args='json:-j,path:s,property:s,value:S',
        params='[-j] path property value',
        help='set QOM property.\n\t\t\t-j: the value is specified in json format.',
        strategy=NATIVE,
        qmp=('qom-set',),
        completers={'path': 'qom_path'},
    ),
    _c(
        'replay_break',
        args='icount:l',
        params='icount',
        help='set breakpoint at the specified instruction count',
        strategy=NATIVE,
        qmp=('replay-break',),
        preconfig=False,
    ),
    _c(
        'replay_delete_break',
        args='',
        params='',
        help='remove replay breakpoint',
        strategy=NATIVE,
        qmp=('replay-delete-break',),
        preconfig=False,
    ),
    _c(
        'replay_seek',
        args='icount:l',
        params='icount',
        help='replay execution to the specified instruction count',
        strategy=NATIVE,
        qmp=('replay-seek',),
        preconfig=False,
    ),
    _c(
        'calc_dirty_rate',
        args='dirty_ring:-r,dirty_bitmap:-b,second:l,sample_pages_per_GB:l?',
        params='[-r] [-b] second [sample_pages_per_GB]',
        help='start a round of guest dirty rate measurement (using -r to\n\t\t\t specify dirty ring as the method of calculation and\n\t\t\t -b to specify dirty bitmap as method of calculation)',
        strategy=NATIVE,
        qmp=('calc-dirty-rate', 'query-kvm', 'query-dirty-rate'),
        preconfig=False,
    ),
    _c(
        'set_vcpu_dirty_limit',
        args='dirty_rate:l,cpu_index:l?',
        params='dirty_rate [cpu_index]',
        help='set dirty page rate limit, use cpu_index to set limit\n\t\t\t\t\t on a specified virtual cpu',
        strategy=NATIVE,
        qmp=('set-vcpu-dirty-limit',),
        preconfig=False,
    ),
    _c(
        'cancel_vcpu_dirty_limit',
        args='cpu_index:l?',
        params='[cpu_index]',
        help='cancel dirty page rate limit, use cpu_index to cancel\n\t\t\t\t\t limit on a specified virtual cpu',
        strategy=NATIVE,
        qmp=('cancel-vcpu-dirty-limit',),
        preconfig=False,
    ),
    _c(
        'info',
        args='item:s?',
        params='[subcommand]',
        help='show various information about the system state',
        strategy=SESSION,
        reads_only=True,
        completers={'item': 'info_name'},
    ),
    _c(
        'dumpdtb',
        args='filename:F',
        params='filename',
        help="dump the FDT in dtb format to 'filename'",
        strategy=NATIVE,
        qmp=('dumpdtb',),
        preconfig=False,
        completers={'filename': 'filename'},
    ),
    _c(
        'info version',
        args='',
        params='',
        help='show the version of QEMU',
        strategy=NATIVE,
        qmp=('query-version',),
        reads_only=True,
    ),
    _c(
        'info network',
        args='',
        params='',
        help='show the network state',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info chardev',
        args='',
        params='',
        help='show the character devices',
        strategy=NATIVE,
        qmp=('query-chardev',),
        reads_only=True,
    ),
    _c(
        'info block',
        args='nodes:-n,verbose:-v,device:B?',
        params='[-n] [-v] [device]',
        help='show info of one block device or all block devices (-n: show named nodes; -v: show details)',
        strategy=NATIVE,
        qmp=('query-block', 'query-named-block-nodes'),
        reads_only=True,
        preconfig=False,
        completers={'device': 'block_device'},
    ),
    _c(
        'info blockstats',
        args='',
        params='',
        help='show block device statistics',
        strategy=NATIVE,
        qmp=('query-blockstats',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info block-jobs',
        args='',
        params='',
        help='show progress of ongoing block device operations',
        strategy=NATIVE,
        qmp=('query-block-jobs',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info registers',
        args='cpustate_all:-a,vcpu:i?',
        params='[-a|vcpu]',
        help="show the cpu registers (-a: show register info for all cpus; vcpu: specific vCPU to query; show the current CPU's registers if no argument is specified)",
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info lapic',
        args='apic-id:i?',
        params='[apic-id]',
        help='show local apic state (apic-id: local apic to read, default is which of current CPU)',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info cpus',
        args='',
        params='',
        help='show infos for each CPU',
        strategy=NATIVE,
        qmp=('query-cpus-fast',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info history',
        args='',
        params='',
        help='show the command line history',
        strategy=SESSION,
        reads_only=True,
    ),
    _c(
        'info irq',
        args='',
        params='',
        help='show the interrupts statistics (if available)',
        strategy=XQUERY,
        qmp=('x-query-irq',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info pic',
        args='',
        params='',
        help='show PIC state',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info rdma',
        args='',
        params='',
        help='show RDMA state',
        strategy=XQUERY,
        qmp=('x-query-rdma',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info pci',
        args='',
        params='',
        help='show PCI info',
        strategy=NATIVE,
        qmp=('query-pci',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info tlb',
        args='',
        params='',
        help='show virtual to physical memory mappings',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info mem',
        args='',
        params='',
        help='show the active virtual memory mappings',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info mtree',
        args='flatview:-f,dispatch_tree:-d,owner:-o,disabled:-D',
        params='[-f][-d][-o][-D]',
        help='show memory tree (-f: dump flat view for address spaces;-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;-D: dump disabled regions',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info jit',
        args='',
        params='',
        help='show dynamic compiler info',
        strategy=XQUERY,
        qmp=('x-query-jit',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info opcount',
        args='',
        params='',
        help='show dynamic compiler opcode counters',
        strategy=XQUERY,
        qmp=('x-query-opcount',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info sync-profile',
        args='mean:-m,no_coalesce:-n,max:i?',
        params='[-m] [-n] [max]',
        help='show synchronization profiling info, up to max entries (default: 10), sorted by total wait time. (-m: sort by mean wait time; -n: do not coalesce objects with the same call site)',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info kvm',
        args='',
        params='',
        help='show KVM information',
        strategy=NATIVE,
        qmp=('query-kvm',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info numa',
        args='',
        params='',
        help='show NUMA information',
        strategy=XQUERY,
        qmp=('x-query-numa',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info usb',
        args='',
        params='',
        help='show guest USB devices',
        strategy=XQUERY,
        qmp=('x-query-usb',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info usbhost',
        args='',
        params='',
        help='show host USB devices',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info profile',
        args='',
        params='',
        help='show profiling information',
        strategy=XQUERY,
        qmp=('x-query-profile',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info capture',
        args='',
        params='',
        help='show capture information',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info snapshots',
        args='',
        params='',
        help='show the currently saved VM snapshots',
        strategy=NATIVE,
        qmp=('query-block', 'query-named-block-nodes'),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info status',
        args='',
        params='',
        help='show the current VM status (running|paused)',
        strategy=NATIVE,
        qmp=('query-status',),
        reads_only=True,
    ),
    _c(
        'info mice',
        args='',
        params='',
        help='show which guest mouse is receiving events',
        strategy=NATIVE,
        qmp=('query-mice',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info vnc',
        args='',
        params='',
        help='show the vnc server status',
        strategy=NATIVE,
        qmp=('query-vnc-servers',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info spice',
        args='',
        params='',
        help='show the spice server status',
        strategy=NATIVE,
        qmp=('query-spice',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info name',
        args='',
        params='',
        help='show the current VM name',
        strategy=NATIVE,
        qmp=('query-name',),
        reads_only=True,
    ),
    _c(
        'info uuid',
        args='',
        params='',
        help='show the current VM UUID',
        strategy=NATIVE,
        qmp=('query-uuid',),
        reads_only=True,
    ),
    _c(
        'info usernet',
        args='',
        params='',
        help='show user network stack connection states',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info migrate',
        args='',
        params='',
        help='show migration status',
        strategy=NATIVE,
        qmp=('query-migrate',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info migrate_capabilities',
        args='',
        params='',
        help='show current migration capabilities',
        strategy=NATIVE,
        qmp=('query-migrate-capabilities',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info migrate_parameters',
        args='',
        params='',
        help='show current migration parameters',
        strategy=NATIVE,
        qmp=('query-migrate-parameters',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info balloon',
        args='',
        params='',
        help='show balloon information',
        strategy=NATIVE,
        qmp=('query-balloon',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info qtree',
        args='',
        params='',
        help='show device tree',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info qdm',
        args='',
        params='',
        help='show qdev device model list',
        strategy=PASSTHROUGH,
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info qom-tree',
        args='path:s?',
        params='[path]',
        help='show QOM composition tree',
        strategy=NATIVE,
        qmp=('qom-list', 'qom-get'),
        reads_only=True,
        completers={'path': 'qom_path'},
    ),
    _c(
        'info roms',
        args='',
        params='',
        help='show roms',
        strategy=XQUERY,
        qmp=('x-query-roms',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info trace-events',
        args='name:s?,vcpu:i?',
        params='[name] [vcpu]',
        help='show available trace-events & their state (name: event name pattern; vcpu: vCPU to query, default is any)',
        strategy=NATIVE,
        qmp=('trace-event-get-state',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info tpm',
        args='',
        params='',
        help='show the TPM device',
        strategy=NATIVE,
        qmp=('query-tpm',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info memdev',
        args='',
        params='',
        help='show memory backends',
        strategy=NATIVE,
        qmp=('query-memdev',),
        reads_only=True,
    ),
    _c(
        'info memory-devices',
        args='',
        params='',
        help='show memory devices',
        strategy=NATIVE,
        qmp=('query-memory-devices',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info iothreads',
        args='',
        params='',
        help='show iothreads',
        strategy=NATIVE,
        qmp=('query-iothreads',),
        reads_only=True,
    ),
    _c(
        'info rocker',
        args='name:s',
        params='name',
        help='Show rocker switch',
        strategy=NATIVE,
        qmp=('query-rocker',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info rocker-ports',
        args='name:s',
        params='name',
        help='Show rocker ports',
        strategy=NATIVE,
        qmp=('query-rocker-ports',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info rocker-of-dpa-flows',
        args='name:s,tbl_id:i?',
        params='name [tbl_id]',
        help='Show rocker OF-DPA flow tables',
        strategy=NATIVE,
        qmp=('query-rocker-of-dpa-flows',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info rocker-of-dpa-groups',
        args='name:s,type:i?',
        params='name [type]',
        help='Show rocker OF-DPA groups',
        strategy=NATIVE,
        qmp=('query-rocker-of-dpa-groups',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info dump',
        args='',
        params='',
        help='Display the latest dump status',
        strategy=NATIVE,
        qmp=('query-dump',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info ramblock',
        args='',
        params='',
        help='Display system ramblock information',
        strategy=XQUERY,
        qmp=('x-query-ramblock',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info hotpluggable-cpus',
        args='',
        params='',
        help='Show information about hotpluggable CPUs',
        strategy=NATIVE,
        qmp=('query-hotpluggable-cpus',),
        reads_only=True,
    ),
    _c(
        'info vm-generation-id',
        args='',
        params='',
        help='Show Virtual Machine Generation ID',
        strategy=NATIVE,
        qmp=('query-vm-generation-id',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info memory_size_summary',
        args='',
        params='',
        help='show the amount of initially allocated and present hotpluggable (if enabled) memory in bytes.',
        strategy=NATIVE,
        qmp=('query-memory-size-summary',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info sev',
        args='',
        params='',
        help='show SEV information',
        strategy=NATIVE,
        qmp=('query-sev',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info replay',
        args='',
        params='',
        help='show record/replay information',
        strategy=NATIVE,
        qmp=('query-replay',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info dirty_rate',
        args='',
        params='',
        help='show dirty rate information',
        strategy=NATIVE,
        qmp=('query-dirty-rate',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info vcpu_dirty_limit',
        args='',
        params='',
        help='show dirty page limit information of all vCPU',
        strategy=NATIVE,
        qmp=('query-vcpu-dirty-limit',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info sgx',
        args='',
        params='',
        help='show intel SGX information',
        strategy=NATIVE,
        qmp=('query-sgx',),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info stats',
        args='target:s,names:s?,provider:s?',
        params='target [names] [provider]',
        help='show statistics for the given target (vm or vcpu); optionally filter byname (comma-separated list, or * for all) and provider',
        strategy=NATIVE,
        qmp=('query-stats-schemas', 'query-cpus-fast', 'query-stats'),
        reads_only=True,
        preconfig=False,
    ),
    _c(
        'info virtio',
        args='',
        params='',
        help='List all available virtio devices',
        strategy=NATIVE,
        qmp=('x-query-virtio',),
        reads_only=True,
    ),
    _c(
        'info virtio-status',
        args='path:s',
        params='path',
        help='Display status of a given virtio device',
        strategy=NATIVE,
        qmp=('x-query-virtio-status',),
        reads_only=True,
    ),
    _c(
        'info virtio-queue-status',
        args='path:s,queue:i',
        params='path queue',
        help='Display status of a given virtio queue',
        strategy=NATIVE,
        qmp=('x-query-virtio-queue-status',),
        reads_only=True,
    ),
    _c(
        'info virtio-vhost-queue-status',
        args='path:s,queue:i',
        params='path queue',
        help='Display status of a given vhost queue',
        strategy=NATIVE,
        qmp=('x-query-virtio-vhost-queue-status',),
        reads_only=True,
    ),
    _c(
        'info virtio-queue-element',
        args='path:s,queue:i,index:i?',
        params='path queue [index]',
        help='Display element of a given virtio queue',
        strategy=NATIVE,
        qmp=('x-query-virtio-queue-element',),
        reads_only=True,
    ),
)

class CommandTable:
    """The HMP commands of one QEMU release: what its ``help`` and ``info`` list.

    Immutable and shared by every connection to a QEMU of that release.

    :ivar release: ``(major, minor)`` of the release.
    :ivar specs: every entry, top-level commands then info subcommands.
    :ivar top: each name a user may type -> its top-level entry.
    :ivar info: each name a user may type after ``info`` -> its entry.
    """

    def __init__(self, release: Tuple[int, int], specs: Tuple[CommandSpec, ...]) -> None:
        self.release = release
        self.specs = specs
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


def releases() -> Tuple[Tuple[int, int], ...]:
    """The releases with a command table of their own, oldest first."""
    return ((7, 2),)


@functools.lru_cache(maxsize=None)
def table_for(release: Tuple[int, int]) -> CommandTable:
    """The command table printed for QEMU ``release``."""
    return CommandTable((7, 2), COMMANDS)


TOP_COMMANDS: Dict[str, CommandSpec] = table_for((7, 2)).top
INFO_COMMANDS: Dict[str, CommandSpec] = table_for((7, 2)).info


def lookup(name: str) -> Optional[CommandSpec]:
    """The top-level command typed as ``name`` (exact, case-sensitive), or None."""
    return TOP_COMMANDS.get(name)


def lookup_info(name: str) -> Optional[CommandSpec]:
    """The ``info`` subcommand typed as ``name``, or None."""
    return INFO_COMMANDS.get(name)


def by_key(key: str) -> CommandSpec:
    """The entry whose canonical key is ``key`` (``"cont"``, ``"info block"``)."""
    return table_for((7, 2)).by_key(key)


def all_commands() -> Iterator[CommandSpec]:
    """Every entry, top-level commands and info subcommands alike."""
    return iter(COMMANDS)


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
