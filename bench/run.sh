#!/bin/sh
# Run the hmpbridge benchmarks (all options of `python -m bench` pass through).
cd "$(dirname "$0")/.." || exit 1
exec .venv/bin/python -m bench "$@"
