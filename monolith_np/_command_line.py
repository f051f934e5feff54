"""The ``monolith-np`` command: ``monolith-np warmup [FEATURE ...]``, ``monolith-np --version``."""

from __future__ import annotations

import argparse
import sys

from ._version import __version__
from ._warmup import FEATURES, warmup


def _parser():
    parser = argparse.ArgumentParser(prog="monolith-np", description="monolith_np's command line.")
    parser.add_argument("--version", action="version", version=f"monolith-np {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    warm = commands.add_parser(
        "warmup", help="compile the kernels of some features into the kernel cache",
        description="Compile the kernels that FEATUREs use into the on-disk kernel cache (one process per "
                    "feature, several at a time), so that first calls do not wait for the compiler.")
    warm.add_argument("features", nargs="*", metavar="FEATURE",
                      help=f"any of: {', '.join(FEATURES)} (default: all)")
    warm.add_argument("--processes", type=int, default=None, help="worker processes at a time (default: CPUs)")
    warm.add_argument("--list", action="store_true", help="list the features and exit")
    return parser


def main(argv=None):
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success.

    Examples
    --------
    >>> main(["warmup", "--list"])  # doctest: +ELLIPSIS
    tables
    ...
    0
    """
    args = _parser().parse_args(argv)
    if args.list:
        print("\n".join(FEATURES))
        return 0
    try:
        seconds = warmup(args.features or None, processes=args.processes)
    except (ValueError, RuntimeError) as e:
        print(f"monolith-np warmup: {e}", file=sys.stderr)
        return 2
    for name, s in seconds.items():
        print(f"{name}: {s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
