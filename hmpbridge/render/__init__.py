"""Renderers: pure functions from QMP return values to QEMU 7.2's HMP text.

Each function takes the ``return`` value of one (or a few) QMP queries and
gives back the text QEMU's own monitor prints, with ``"\\n"`` line ends.
Nothing here does I/O or imports the reactor.

Modules:

``common``     shared formats (``size_to_str``, host-node lists, C quirks)
``machine``    run state, version, CPUs, mice, balloon, iothreads, memdev, dump
``pci``        ``info pci``
``block``      ``info block``, ``info blockstats``, ``info block-jobs``
``image``      the ``qemu-img info`` style image dump and snapshot tables
``snapshots``  ``info snapshots`` rebuilt from the block queries
``migration``  ``info migrate_parameters`` and ``info migrate_capabilities``
``options_help`` the help texts of ``device_add``, ``netdev_add``, ``chardev-add``
               and ``object_add``
``errors``     hmpbridge exceptions as HMP text
"""

__all__ = ["common", "machine", "pci", "block", "image", "snapshots", "migration",
           "options_help", "errors"]
