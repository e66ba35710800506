#!/usr/bin/env bash
# The test suite: installs the project with its dev tools, then runs ruff (lint and format), mypy (the
# packages, the tests and the benchmarks) and pytest.
# The torch reference (parity tests, benchmark column) is installed only when pip can take a
# CPU wheel of torch 2.13.0 from this machine's disk; elsewhere those tests skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
if ! .venv/bin/python -c "import torch, efficientnet_lite_pytorch" 2>/dev/null; then
    probe=$(mktemp -d)
    if .venv/bin/python -m pip download --quiet --no-index --no-deps -d "$probe" torch==2.13.0 >/dev/null 2>&1; then
        echo "torch reference: installing the local CPU wheel of torch 2.13.0"
        .venv/bin/python -m pip install --quiet "torch==2.13.0" "efficientnet-lite-pytorch==0.1.0"
    else
        echo "torch reference: no local CPU wheel of torch 2.13.0; parity tests will skip"
    fi
    rm -rf "$probe"
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy petnet trainer bot tests
.venv/bin/mypy --explicit-package-bases bench
exec .venv/bin/python -m pytest "$@"
