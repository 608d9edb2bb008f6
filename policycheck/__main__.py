"""``python -m policycheck``: the same CLI as the ``policycheck`` script."""

from policycheck.cli import main

main()
