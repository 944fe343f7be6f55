"""Runs every side-by-side benchmark (benchmarks/bench_*.py), one after the other."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
status = 0
for script in sorted(here.glob("bench_*.py")):
    print(f"\n=== {script.name}", flush=True)
    status |= subprocess.call([sys.executable, str(script), *sys.argv[1:]], cwd=here)
sys.exit(status)
