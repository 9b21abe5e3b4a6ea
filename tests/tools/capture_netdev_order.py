"""Record which invalid option QEMU 7.2 names when a netdev_add line has several.

    python -m tests.tools.capture_netdev_order

QEMU's options visitor names the first unused option in its GHashTable, so
the answer depends on GLib's hashing, the QDict the options went through and
the table's resizes.  This writes tests/fixtures/netdev_invalid_order.json:
[{"line": ..., "qemu": ...}, ...] for seeded random lines (1 to 18 unknown
options, some valid ones, every netdev type that needs no host resource);
test_glib_order.py checks hmpbridge names the same option.
"""

from __future__ import annotations

import random
import string
from typing import List

from tests.tools.qmp_sync import capture_lines

VALID = ["net=10.0.3.0/24", "restrict=on", "hostname=h", "ipv6=off", "dns=10.0.3.3",
         "ipv6-net=fd00::/64", "tftp=/tmp", "bootfile=x", "domainname=d", "dhcpstart=10.0.3.20",
         "host=10.0.3.2", "ipv4=on"]
KINDS = ["user", "user", "user", "tap", "socket", "hubport", "vhost-user", "l2tpv3", "bridge"]


def lines(count: int, seed: int) -> List[str]:
    """``count`` netdev_add lines with unknown options, the same for the same seed."""
    rng = random.Random(seed)
    alphabet = string.ascii_lowercase + "-_.0123456789"
    out = []
    for i in range(count):
        names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))).strip("-.")
                 or "x" for _ in range(rng.randint(1, 18))]
        parts = [f"{name}=1" for name in dict.fromkeys(names)]
        parts += rng.sample(VALID, rng.randint(0, 9))
        rng.shuffle(parts)
        parts.insert(rng.randint(0, len(parts)), f"id=r{i}")
        out.append(f"netdev_add {rng.choice(KINDS)}," + ",".join(parts))
    return out


def main() -> None:
    capture_lines(lines(300, 20261130), "netdev_invalid_order.json")


if __name__ == "__main__":
    main()
