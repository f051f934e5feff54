"""Compare monolith_np's benchmark times between two or more pairs of runs (before / after a change).

Usage::

    python tools/bench_compare.py BEFORE.json AFTER.json [BEFORE2.json AFTER2.json ...]

Each argument is a pytest-benchmark JSON file (``make bench`` writes
``benchmarks/results/latest.json``). Runs are paired in order (before, after),
so interleaving them (before, after, before, after) on the same machine
cancels slow drift. For every group that has a ``monolith_np`` case in all
runs, the table gives the median time before and after and ``after / before``
per pair, then the smallest and largest of those ratios: a group whose ratios
all lie above ``1 + threshold`` (default 10 %) is flagged as slower, all below
``1 - threshold`` as faster. A group whose ratios straddle the band is noise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

OURS = "monolith_np"


def ours(path: Path) -> dict[str, float]:
    """``{group: median seconds}`` of the monolith_np cases in one result file (timed cases only)."""
    data = json.loads(path.read_text())
    out = {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if info.get("impl") == OURS and info.get("timed", True):
            out[bench.get("group") or bench["name"]] = bench["stats"]["median"]
    return out


def compare(paths: list[Path], threshold: float) -> list[tuple]:
    """Rows ``(group, before, after, [ratios], verdict)``, medians over the pairs."""
    runs = [ours(p) for p in paths]
    pairs = list(zip(runs[0::2], runs[1::2]))
    groups = sorted(set.intersection(*(set(r) for r in runs)))
    rows = []
    for g in groups:
        ratios = [a[g] / b[g] for b, a in pairs]
        lo, hi = min(ratios), max(ratios)
        verdict = "slower" if lo > 1 + threshold else "faster" if hi < 1 - threshold else ""
        rows.append((g, statistics.median(b[g] for b, _ in pairs), statistics.median(a[g] for _, a in pairs),
                     ratios, verdict))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the comparison as a markdown table.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (``sys.argv[1:]`` when omitted).

    Returns
    -------
    int
        0, or 2 on an odd number of files.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="before.json after.json [before.json after.json ...]")
    parser.add_argument("--threshold", type=float, default=0.10, help="relative change that counts (default 0.10)")
    args = parser.parse_args(argv)
    if len(args.files) % 2:
        parser.error(f"files must come in (before, after) pairs, got {len(args.files)}")
    print("| group | before | after | after / before per pair | |")
    print("|---|---|---|---|---|")
    for g, b, a, ratios, verdict in compare(args.files, args.threshold):
        print(f"| {g} | {b * 1e3:.3g} ms | {a * 1e3:.3g} ms | {', '.join(f'{r:.2f}' for r in ratios)} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
