#!/usr/bin/env python3
"""Count module cycles per crate: top-level modules of each crate's src/ that import one another
in a loop (`use crate::a` from b and `use crate::b` from a, or longer rings).

Usage: scripts/module-cycles.py [crates/NAME ...]   (default: every crate under crates/)
Prints, per crate with cycles, each strongly connected group of two or more modules."""
import os, re, sys

def top_modules(src):
    mods = {}
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
            mods[entry[:-3]] = [path]
        elif os.path.isdir(path):
            files = []
            for root, _, names in os.walk(path):
                files += [os.path.join(root, n) for n in names if n.endswith(".rs")]
            if os.path.exists(path + ".rs"):
                files.append(path + ".rs")
            mods[entry] = files
    return mods

USE = re.compile(r"\bcrate::(\w+)")

def graph(src):
    mods = top_modules(src)
    g = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            text = open(f, encoding="utf-8").read()
            # imports inside `#[cfg(test)] mod tests` and tests.rs files do not make a cycle
            text = text.split("#[cfg(test)]\nmod tests {")[0]
            if os.path.basename(f) == "tests.rs":
                continue
            for used in USE.findall(text):
                if used in g and used != m:
                    g[m].add(used)
    return g

def sccs(g):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in g:
        if v not in index: visit(v)
    return out

crates = sys.argv[1:] or sorted(os.path.join("crates", c) for c in os.listdir("crates")
                                if os.path.isdir(os.path.join("crates", c, "src")))
total = 0
for c in crates:
    for comp in sccs(graph(os.path.join(c, "src"))):
        total += 1
        print(f"{c}: {len(comp)} modules: {' '.join(comp)}")
print(f"cycles: {total}")
