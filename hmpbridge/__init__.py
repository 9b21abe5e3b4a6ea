"""hmpbridge: QEMU's human monitor (HMP) served over one shared QMP connection.

HMP lines are parsed with a Lark grammar generated from the command table,
translated into QMP commands, sent over a single multiplexed QMP connection and
the replies are rendered as the same text QEMU's own monitor prints.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
