"""Throwaway QEMU 7.2 VMs for golden capture, each in its own temp dir."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Callable, List, Optional

from tests.golden.recorder import QMPClient

__all__ = ["VM", "BASE_ARGS", "default_devices", "qemu_img", "qemu_io", "TZ"]

#: The QEMU every VM runs: HMPBRIDGE_TWIN_QEMU, else the system's.
QEMU = os.environ.get("HMPBRIDGE_TWIN_QEMU") or shutil.which("qemu-system-x86_64") \
    or "/usr/bin/qemu-system-x86_64"
UUID = "2b4a8f0e-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
#: The capture VMs run half an hour off UTC so local-time dates are visible.
TZ = "IST-5:30"

BASE_ARGS = [QEMU, "-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
             "-m", "128", "-name", "labvm", "-uuid", UUID]


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def qemu_img(*args: str) -> None:
    """Run ``qemu-img`` quietly, failing loudly."""
    subprocess.run(["qemu-img", *args], check=True, stdout=subprocess.DEVNULL)


def qemu_io(image: str, command: str) -> None:
    """Run one ``qemu-io`` command on a qcow2 image (to put data in it)."""
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, image], check=True,
                   stdout=subprocess.DEVNULL)


def default_devices(d: str) -> List[str]:
    """The twin-check VM's devices; ``disk0.qcow2`` is created in ``d``."""
    disk = os.path.join(d, "disk0.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", disk, "64M")
    return [
        "-drive", "if=none,id=cd0,media=cdrom",
        "-device", "ide-cd,drive=cd0,id=ide1-cd0,bus=ide.1",
        "-drive", f"if=none,id=disk0,file={disk},format=qcow2",
        "-device", "virtio-blk-pci,drive=disk0,id=vblk0",
        "-netdev", "user,id=n0",
        "-device", "e1000,netdev=n0,id=nic0,mac=52:54:00:12:34:56",
        "-device", "virtio-balloon-pci,id=balloon0",
        "-device", "usb-ehci,id=ehci", "-device", "usb-tablet,bus=ehci.0,id=tablet0",
        "-chardev", "null,id=ser0", "-device", "isa-serial,chardev=ser0,id=serial0",
        "-object", "iothread,id=io0",
    ]


class VM:
    """A paused QEMU with one QMP socket, killed (and its dir removed) on close.

    :param devices: builds the device arguments, given the VM's directory
        (it may create images there).
    :param base: the command line before the devices.
    """

    def __init__(self, devices: Callable[[str], List[str]] = default_devices,
                 base: Optional[List[str]] = None, tz: str = TZ) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmpgold")
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.tz = tz
        args = list(BASE_ARGS if base is None else base)
        args += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        args += devices(self.dir)
        env = dict(os.environ, TZ=tz)
        self.log = os.path.join(self.dir, "qemu.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(args, cwd=self.dir, stdout=logf, stderr=logf, env=env,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.qmp_path):
            if self.proc.poll() is not None:
                with open(self.log) as f:
                    raise RuntimeError("QEMU exited: " + f.read())
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("QEMU did not create its QMP socket")
            time.sleep(0.05)
        self.qmp = QMPClient(self.qmp_path)

    def path(self, name: str) -> str:
        """A file name inside the VM's directory."""
        return os.path.join(self.dir, name)

    def close(self) -> None:
        """Kill this VM's QEMU (by its own pid) and remove its directory."""
        try:
            self.qmp.close()
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "VM":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
