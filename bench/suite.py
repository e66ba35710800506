"""The whole benchmark suite, one command: python bench/suite.py

Runs, one after the other (never in parallel, so they do not disturb each other):
  bench/pipeline.py         training cold/warm, per-photo stages, onnxruntime vs torch eager side by side
  bench/heatmap_overhead.py classification vs classification + Grad-CAM heatmap
  bench/load.py             end-to-end latency, throughput on 2 cores, event-loop stalls, memory after bursts
  bench/fairness.py         one chat floods 300 photos: another chat's answer, flooded vs idle
  bench/hostile.py          hostile files: each answered within 2 s and 200 MB, ordinary photos' decode cost
  bench/teacher.py          the teacher's six 25+25 retrains: accuracy on a fixed set, the gate, the time
  bench/shapes.py           which MLP shape the trainer fits: (256,), (128, 64), (128,), logistic, 3 seeds
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("pipeline.py", "heatmap_overhead.py", "load.py", "fairness.py", "hostile.py", "teacher.py", "shapes.py")


def main() -> int:
    failed = []
    for part in PARTS:
        print(f"\n===== bench/{part} =====", flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / part)])
        print(f"(bench/{part}: exit {code}, {time.monotonic() - start:.0f} s)", flush=True)
        if code:
            failed.append(part)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
