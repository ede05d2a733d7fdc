#!/usr/bin/env python3
"""The longest functions under a folder (default crates/cli/src): lines from `fn` to its
closing brace at the same indentation. Usage: scripts/longest-fns.py [DIR] [N]"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else "crates/cli/src"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
FN = re.compile(r"^(\s*)(pub(\([\w:]+\))? )?(const )?(async )?fn (\w+)")
found = []
for dirpath, _, names in os.walk(root):
    for name in names:
        if not name.endswith(".rs"):
            continue
        path = os.path.join(dirpath, name)
        lines = open(path, encoding="utf-8").read().split("\n")
        for i, line in enumerate(lines):
            m = FN.match(line)
            if not m or line.rstrip().endswith(";"):
                continue
            close = m.group(1) + "}"
            for j in range(i + 1, len(lines)):
                if lines[j] == close:
                    found.append((j - i + 1, f"{path}:{i + 1}", m.group(6)))
                    break
for length, where, fn in sorted(found, reverse=True)[:n]:
    print(f"{length:5}  {fn:30} {where}")
