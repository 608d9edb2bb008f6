"""The ``policycheck`` process: ``python -m policycheck`` and the ``policycheck`` script."""

import os


def main() -> None:
    """Start the CLI.

    A command line needs no pydantic plugin, and looking for them (pydantic reads
    the entry points of every installed distribution when the first model is
    defined) cost ~40 ms of every start. Set here, before policycheck's models
    are imported, and only for this process: a program that imports policycheck
    as a library keeps its plugins.
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from policycheck.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
