#!/usr/bin/env python3
"""The documentation's C++ snippets are compiled code: each ```cpp block of README.md and of
docs/*.md must appear, verbatim, in a file of samples/ (so it is built and run by the samples
suite). A block fenced as ```c++ instead is illustration only (fragments, counter-examples)."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
samples = {p.name: p.read_text() for p in (root / "samples").glob("*.[ch]pp")}
docs = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
bad = 0
total = 0
for doc in docs:
    for b in re.findall(r"```cpp\n(.*?)```", doc.read_text(), re.S):
        total += 1
        hits = [name for name, text in samples.items() if b.strip() in text]
        if hits:
            print(f"{doc.name}: snippet of {len(b.splitlines())} lines is in samples/{hits[0]}")
        else:
            bad += 1
            print(f"{doc.name}: snippet not found in samples/:\n{b}")
if total == 0:
    print("README.md has no C++ snippet")
    sys.exit(1)
sys.exit(1 if bad else 0)
