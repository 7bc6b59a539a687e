"""What every benchmark shares: where MariaDB is, and a line describing the machine."""

from __future__ import annotations

import contextlib
import os
import platform
from importlib.metadata import version
from pathlib import Path

import sqlalchemy

MARIADB_URL = os.environ.get(
    "STUDYHALL_BENCH_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/"
)


def machine() -> str:
    """CPUs, CPU model, load average and library versions, for the report's header."""
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}){load}; Python {platform.python_version()}, "
        # pymysql.__version__ imitates mysqlclient's; ask the package metadata instead.
        f"SQLAlchemy {sqlalchemy.__version__}, PyMySQL {version('PyMySQL')}"
    )
