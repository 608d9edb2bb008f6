"""Entry point of the pre-commit hooks (.pre-commit-hooks.yaml): one policycheck run
per file.

pre-commit passes a hook's ``args`` and then the matching file names as one argument
list, and ``profile check`` and ``scan terraform`` take one file each, so this runs
the ``policycheck`` command once per file and exits with the worst exit code
(2 bad input > 3 incomplete > 1 findings > 0). Options must be written as
``--name=value`` (e.g. ``--profile=swyx-profile.yaml``) so that they cannot be
mistaken for file names::

    python -m policycheck.precommit scan-terraform --fail-on=warning plan.json other/plan.json
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from policycheck.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_INPUT, EXIT_OK

#: Hook name -> the policycheck command it runs per file, and its default options.
HOOKS: dict[str, tuple[list[str], list[str]]] = {
    "profile-check": (["profile", "check"], []),
    "scan-terraform": (["scan", "terraform"], ["--format=text", "--quiet"]),
}

#: Options that take no value; every other option is written --name=value.
FLAGS = {"--quiet", "-q"}

#: Which exit code wins when files disagree: the one needing the most attention.
_SEVERITY = {EXIT_OK: 0, EXIT_FINDINGS: 1, EXIT_INCOMPLETE: 2, EXIT_INPUT: 3}


def worst(codes: Sequence[int]) -> int:
    return max(codes, key=lambda c: _SEVERITY.get(c, len(_SEVERITY)), default=EXIT_OK)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in HOOKS:
        hooks = "|".join(HOOKS)
        print(
            f"usage: python -m policycheck.precommit {hooks} [--name=value ...] FILE ...",
            file=sys.stderr,
        )
        return EXIT_INPUT
    command, defaults = HOOKS[args[0]]
    options = [a for a in args[1:] if a.startswith("-")]
    bad = [o for o in options if "=" not in o and o not in FLAGS]
    if bad:
        message = f"policycheck: error: hook options must be written --name=value, not {bad[0]!r}"
        print(message, file=sys.stderr)
        return EXIT_INPUT
    files = [a for a in args[1:] if not a.startswith("-")]
    codes = []
    for path in files:
        # The real command, in a fresh interpreter: same output and exit codes as a
        # user running it, and nothing from one file's run leaks into the next.
        run = [sys.executable, "-m", "policycheck", *command, *defaults, *options, path]
        codes.append(subprocess.run(run, check=False).returncode)
    return worst(codes)


if __name__ == "__main__":
    raise SystemExit(main())
