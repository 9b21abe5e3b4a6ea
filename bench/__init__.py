"""Performance benchmarks of hmpbridge against the QEMU 7.2 it serves.

``python -m bench`` starts one paused QEMU with three QMP sockets and a
``-monitor tcp:...,nodelay=on`` HMP monitor, starts ``hmpbridge`` on the first
QMP socket, and measures, in that one run: command latency (through the
bridge, straight on QMP, on QEMU's own HMP), throughput with 1 to 1,000
concurrent sessions against QEMU's own pipelined ceiling, the memory of
10,000 idle sessions, parse-and-render speed without I/O, and start-up time.
Each target is printed with PASS or MISS.  Nothing here is a unit test:
timings depend on the machine and are never asserted by the test suite.
"""
