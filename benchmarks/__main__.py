"""`make bench`: run every benchmark in turn, or those named: `python -m benchmarks seeding`."""

from __future__ import annotations

import importlib
import platform
import sys

BENCHMARKS = (
    "session_overhead",
    "transactions",
    "my_courses",
    "seeding",
    "web",
    "pagination",
    "pages_at_scale",
    "async_overhead",
    "async_soak",
    "replicas",
)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}"
    )
    for name in names:
        print(f"\n=== benchmarks.{name} ===", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        sys.argv = [f"benchmarks.{name}"]  # each main() parses its own options
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
