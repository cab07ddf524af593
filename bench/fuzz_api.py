"""A long fuzzing run of the bot API from its own OpenAPI schema (schemathesis).

    .venv/bin/python bench/fuzz_api.py [--examples 500]

Runs tests/security/test_fuzz_api.py with many generated requests per operation (the test
suite runs 8): no 5xx, and every answer conforms to the schema. A failure prints the request
to replay it (curl) and exits non-zero. Uses DATABASE_URL when set, SQLite otherwise.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=500, help="requests per operation")
    args = parser.parse_args()
    env = {
        **os.environ,
        "HANDOFF_FUZZ_EXAMPLES": str(args.examples),
        "SECRET_KEY": os.environ.get("SECRET_KEY", "fuzz-only"),
        "LOG_LEVEL": "ERROR",
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "pytest"),
            "tests/security/test_fuzz_api.py::test_it_survives_fuzzing_from_its_own_schema",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        check=False,
    )
    print(f"{args.examples} examples per operation in {time.monotonic() - started:.1f}s")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
