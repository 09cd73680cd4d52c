"""``python -m bench``: run the benchmarks and write docs/BENCHMARKS.md with docs/bench/*.png.

python -m bench                    # everything (make bench)
python -m bench --only latency     # one (or more: --only a --only b); others keep their stored results
python -m bench --quick            # seconds-long smoke configuration, written to a temporary directory
python -m bench --render           # re-render the report from the stored results
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from .common import ROOT, Context, raise_fd_limit
from .report import BENCHMARKS, run, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this benchmark")
    parser.add_argument("--quick", action="store_true", help="tiny smoke configuration (numbers only prove it runs)")
    parser.add_argument("--small", action="store_true", help="reduced loads (a few minutes), for development machines")
    parser.add_argument("--out", type=Path, help="report directory (default docs/; --quick: a temporary one)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument("--render", action="store_true", help="only re-render the report from stored results")
    parser.add_argument("-q", "--quiet", action="store_true")
    options = parser.parse_args(argv)
    out = options.out or (Path(tempfile.mkdtemp(prefix="funasr-bench-")) if options.quick else ROOT / "docs")
    if options.render:
        store = out / "bench" / "results.json"
        print(write(json.loads(store.read_text()), out))
        return 0
    raise_fd_limit()
    ctx = Context(
        quick=options.quick,
        small=options.small,
        profile=not options.no_profile and not options.quick,
        verbose=not options.quiet,
    )
    results = run(options.only or list(BENCHMARKS), ctx, out)
    print(f"wrote {out / 'BENCHMARKS.md'}")
    failed = [name for name, entry in results.items() if entry.get("error")]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
