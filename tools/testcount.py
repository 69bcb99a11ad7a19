#!/usr/bin/env python3
"""Counts test results from Meson's meson-logs/testlog.json of each build directory given.

Prints, as its last line, "N passed, N failed" (skipped tests -- exit code 77 -- are neither)
and exits non-zero when a test failed or a log is missing."""
import json
import sys
from pathlib import Path

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}

passed = failed = skipped = 0
missing = []
for d in sys.argv[1:] or ["build"]:
    log = Path(d) / "meson-logs" / "testlog.json"
    if not log.exists():
        missing.append(str(log))
        continue
    for line in log.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        res = r.get("result", "")
        if res in PASS:
            passed += 1
        elif res in SKIP:
            skipped += 1
        else:
            failed += 1
            print(f"FAILED: {d}: {r.get('name')} ({res})")
for m in missing:
    print(f"missing test log: {m}")
if skipped:
    print(f"{skipped} skipped")
print(f"{passed} passed, {failed + len(missing)} failed")
sys.exit(1 if failed or missing else 0)
