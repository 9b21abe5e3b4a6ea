"""``python -m hmpbridge``: the same as the ``hmpbridge`` command."""

from hmpbridge.cli import main

if __name__ == "__main__":
    main()
