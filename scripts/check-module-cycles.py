#!/usr/bin/env python3
"""Fails when the top-level modules of src/ import each other in a circle.

Every `crate::<module>` path in a file under src/<top>/ or src/<top>.rs is an edge <top> -> <module>
(the `use crate::{a, b}` form included). Tarjan's algorithm finds the strongly connected components;
any component with more than one module is a cycle, printed with the edges that close it.
Run from anywhere: `python3 scripts/check-module-cycles.py` (exit 1 on a cycle). `--graph` prints
every edge.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
if not os.path.isdir(ROOT):
    ROOT = os.path.abspath("src")
if not os.path.isfile(os.path.join(ROOT, "lib.rs")):
    sys.exit(f"no crate at {ROOT}")
ENTRY = {"main", "lib"}


def top_of(path):
    rel = os.path.relpath(path, ROOT)
    return rel.split(os.sep)[0].removesuffix(".rs")


def edges():
    graph = {}
    where = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            top = top_of(path)
            if top in ENTRY:
                continue
            text = open(path, encoding="utf-8").read()
            targets = set(re.findall(r"\bcrate::(\w+)", text))
            for group in re.findall(r"\bcrate::\{([^}]*)\}", text, re.S):
                targets.update(re.findall(r"(?:^|,)\s*(\w+)", group))
            for target in targets:
                if target != top and target != "self":
                    graph.setdefault(top, set()).add(target)
                    where.setdefault((top, target), os.path.relpath(path, os.path.join(ROOT, "..")))
    return graph, where


def cycles(graph):
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    graph, where = edges()
    if "--graph" in sys.argv:
        for source in sorted(graph):
            print(f"{source} -> {', '.join(sorted(graph[source]))}")
    found = cycles(graph)
    for component in found:
        members = set(component)
        print(f"import cycle among: {', '.join(component)}")
        for source in component:
            for target in sorted(graph.get(source, ()) & members):
                print(f"  {source} -> {target}   (e.g. {where[(source, target)]})")
    if found:
        sys.exit(1)
    print("no import cycle among the top-level modules of src/")


if __name__ == "__main__":
    main()
