"""Fail when a package's modules import each other in a circle.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING`` (a circle
of types is still two modules that cannot be understood, moved or tested apart). The graph is
grimp's (the one import-linter uses); the circles are its strongly connected components, each
shown as one shortest loop with the line of every import in it.

    python scripts/check_import_cycles.py [PACKAGE ...]     (default: orderflow)

Exit status 0 when there is no circle, 1 when there is (one paragraph per circle on stderr).
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import grimp

__all__ = ["Circle", "find_circles", "main"]


@dataclass(frozen=True)
class Circle:
    """Modules that import each other, and one shortest loop through them."""

    modules: tuple[str, ...]
    #: ``(importer, imported, line numbers)`` along the loop, back to its first module
    loop: tuple[tuple[str, str, tuple[int, ...]], ...]

    def describe(self) -> str:
        names = [a for a, _, _ in self.loop] + [self.loop[0][0]]
        lines = [f"import circle: {' -> '.join(names)}"]
        for importer, imported, at in self.loop:
            where = ", ".join(str(n) for n in at)
            lines.append(f"  {importer} imports {imported} (line {where})")
        if len(self.modules) > len(self.loop):
            lines.append(f"  (the circle holds {len(self.modules)} modules: "
                         f"{', '.join(self.modules)})")  # fmt: skip
        return "\n".join(lines)


def _components(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (or a module that
    imports itself), iteratively: no recursion limit on a deep package."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = edges[node]
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1 or node in edges[node]:
                    found.append(sorted(comp))
    return sorted(found)


def _shortest_loop(graph: grimp.ImportGraph, members: Sequence[str]) -> list[str]:
    """The shortest loop from the first member back to itself, inside the component."""
    start, inside = members[0], set(members)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.find_modules_directly_imported_by(node)):
            if nxt not in inside:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    return [start]


def find_circles(packages: Iterable[str]) -> list[Circle]:
    """Every import circle among the modules of ``packages`` (importable by name)."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    circles = []
    for members in _components(graph):
        path = _shortest_loop(graph, members)
        loop = []
        for a, b in zip(path, path[1:] + path[:1], strict=True):
            details = graph.get_import_details(importer=a, imported=b)
            loop.append((a, b, tuple(sorted({int(d["line_number"]) for d in details}))))
        circles.append(Circle(tuple(members), tuple(loop)))
    return circles


def main(argv: Sequence[str] | None = None) -> int:
    packages = list(argv if argv is not None else sys.argv[1:]) or ["orderflow"]
    circles = find_circles(packages)
    for circle in circles:
        sys.stderr.write(circle.describe() + "\n")
    if circles:
        advice = "move the shared piece down into a module both use, or invert the dependency"
        sys.stderr.write(f"{len(circles)} import circle(s) in {', '.join(packages)}: {advice}\n")
        return 1
    print(f"no import circle in {', '.join(packages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
