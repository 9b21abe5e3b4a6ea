"""Golden texts captured from QEMU 7.2 for the native ``info`` commands."""
