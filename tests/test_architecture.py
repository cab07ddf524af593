"""The rules of docs/architecture.md, checked on the source with `ast` (nothing is imported).

Every import counts, at module level or inside a function: an import moved into a function to
dodge a cycle is still a cycle. Migrations are left out: Django writes them.
"""

import ast
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("handoff", "portal")  # the code that ships; tests/ and bench/ may import anything
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
DRF = ("rest_framework", "drf_spectacular")  # drf_spectacular_sidecar included
RUN_BY_NAME = ("handoff.tasks", "handoff.management")  # Celery and manage.py find these by name


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository, e.g. "handoff/services/intake.py"
    line: int
    text: str  # the statement, e.g. "from handoff.models import Handoff"
    targets: tuple[str, ...]  # the modules it names, absolute

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


@cache
def product_files() -> dict[str, Path]:
    """Module name -> file, for every module of handoff/ and portal/ but the migrations."""
    files = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                rel = path.relative_to(ROOT).as_posix()
                files[rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")] = path
    return files


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_in(source: str, *, path: str, known: Iterable[str]) -> list[Import]:
    """Every import statement of one file, at any depth, with the modules it names.

    `from handoff.services import assignment` names the submodule `handoff.services.assignment`
    (not the package), and `from handoff.models import Handoff` names `handoff.models`.
    """
    module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    is_package = path.endswith("__init__.py")
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            targets = tuple(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            named = (f"{base}.{alias.name}" for alias in node.names)
            targets = tuple(dict.fromkeys(t if t in known else base for t in named))
        else:
            continue
        found.append(Import(path, node.lineno, ast.unparse(node), targets))
    return sorted(found, key=lambda i: i.line)


@cache
def imports() -> tuple[Import, ...]:
    """Every import statement of the product code."""
    known = product_files()
    found = []
    for path in known.values():
        rel = path.relative_to(ROOT).as_posix()
        found.extend(imports_in(path.read_text(), path=rel, known=known))
    return tuple(found)


def names(target: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `target` is one of `prefixes` or inside one ("drf_spectacular_sidecar" too)."""
    return any(target == p or target.startswith((p + ".", p + "_")) for p in prefixes)


def violations(where: str, forbidden: Callable[[str], bool]) -> list[str]:
    return [
        str(imp)
        for imp in imports()
        if imp.path.startswith(where) and any(forbidden(t) for t in imp.targets)
    ]


def fail_with(found: list[str], rule: str) -> None:
    assert not found, f"{rule}; {len(found)} import(s) break it:\n" + "\n".join(found)


def test_it_keeps_the_engine_to_the_standard_library():
    # handoff/errors.py is as pure as the engine (the engine raises its errors).
    pure = ("handoff.engine", "handoff.errors")

    def outside(target: str) -> bool:
        return target.split(".")[0] not in STDLIB and not names(target, pure)

    fail_with(
        violations("handoff/engine/", outside) + violations("handoff/errors.py", outside),
        "handoff/engine/ and handoff/errors.py are pure: no Django, no database, nothing "
        "outside the standard library",
    )


def test_it_keeps_drf_and_the_api_inside_handoff_api():
    found = [
        line
        for line in violations("", lambda t: names(t, ("handoff.api", *DRF)))
        if not line.startswith("handoff/api/")
    ]
    fail_with(found, "only handoff/api/ imports handoff.api, rest_framework or drf_spectacular")


def test_it_keeps_the_portal_out_of_handoff():
    fail_with(
        violations("handoff/", lambda t: names(t, ("portal",))),
        "nothing in handoff/ imports portal/",
    )


def test_it_finds_no_import_of_tasks_or_commands():
    fail_with(
        violations("", lambda t: names(t, RUN_BY_NAME)),
        "tasks are published by name (handoff/delivery/publish.py) and commands run by "
        "manage.py: nothing imports handoff/tasks.py or handoff/management/",
    )


# The core's layers, top to bottom (docs/architecture.md); the faces have tests of their own.
CORE_LAYERS = [
    ("handoff.services", "handoff.selectors"),
    ("handoff.config", "handoff.delivery"),
    ("handoff.models", "handoff.crypto", "handoff.logging"),
    ("handoff.engine", "handoff.errors"),
]


def _layer(module: str) -> int | None:
    for depth, layer in enumerate(CORE_LAYERS):
        if names(module, layer):
            return depth
    return None


def test_it_keeps_the_core_importing_downwards():
    found = []
    for imp in imports():
        here = _layer(imp.path.removesuffix(".py").replace("/", "."))
        if here is None:
            continue
        for target in imp.targets:
            there = _layer(target)
            if there is not None and there < here:
                found.append(f"{imp}  ({target} is a layer above)")
    fail_with(
        found,
        "in the core, imports run down: services and selectors -> config and delivery -> "
        "models -> engine",
    )


def _graph() -> dict[str, dict[str, Import]]:
    """handoff.* module -> the handoff.* modules it imports, each with its first import."""
    modules = [m for m in product_files() if m.startswith("handoff")]
    graph: dict[str, dict[str, Import]] = {m: {} for m in modules}
    by_path = {product_files()[m].relative_to(ROOT).as_posix(): m for m in modules}
    for imp in imports():
        source = by_path.get(imp.path)
        if source is None:
            continue
        for target in imp.targets:
            if target in graph and target != source:
                graph[source].setdefault(target, imp)
    return graph


def _strongly_connected(graph: dict[str, dict[str, Import]]) -> Iterator[list[str]]:
    """Tarjan's algorithm, iterative; yields each component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield sorted(component)


def _shortest_cycle(graph: dict[str, dict[str, Import]], start: str) -> list[Import]:
    """The imports of a shortest way from `start` back to itself (breadth first), or []."""
    came_from: dict[str, tuple[str, Import]] = {}
    frontier = [start]
    while frontier and start not in came_from:
        following = []
        for node in frontier:
            for child, imp in sorted(graph[node].items()):
                if child not in came_from:
                    came_from[child] = (node, imp)
                    following.append(child)
        frontier = following
    if start not in came_from:
        return []
    path: list[Import] = []
    node = start
    while not path or node != start:
        node, imp = came_from[node]
        path.append(imp)
    return path[::-1]


def cycles_report(graph: dict[str, dict[str, Import]]) -> list[str]:
    """For each group of modules that import each other, a shortest cycle through each one."""
    report = []
    for component in _strongly_connected(graph):
        report.append(f"cycle among {', '.join(component)}:")
        seen: set[frozenset[Import]] = set()
        for module in component:
            cycle = _shortest_cycle(graph, module)
            if frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                steps = [cycle[0].path] + [c.path for c in cycle[1:]] + [cycle[0].path]
                report.append("  " + " -> ".join(step.removesuffix(".py") for step in steps))
                report.extend(f"    {imp}" for imp in cycle)
    return report


def test_it_finds_no_import_cycle_in_handoff():
    report = cycles_report(_graph())
    assert not report, "handoff/ has import cycles:\n" + "\n".join(report)


def test_it_sees_imports_inside_functions_and_relative_ones():
    source = "def f():\n    from . import routing\n\n\nfrom ..models import Handoff\n"
    found = imports_in(source, path="handoff/engine/x.py", known={"handoff.engine.routing"})
    assert [(i.line, i.targets) for i in found] == [
        (2, ("handoff.engine.routing",)),
        (5, ("handoff.models",)),
    ]


def test_it_finds_a_cycle_and_its_imports():
    a, b, c = (Import(f"{m}.py", 1, f"import {m}", (m,)) for m in "abc")
    graph = {"a": {"b": b}, "b": {"c": c}, "c": {"a": a}, "d": {"a": a}}
    assert list(_strongly_connected(graph)) == [["a", "b", "c"]]
    assert _shortest_cycle(graph, "a") == [b, c, a]
    assert not list(_strongly_connected({"a": {"b": b}, "b": {}}))


# No reference to a document a reader of this repository cannot open: design briefs and their
# sections, issue trackers, files of the repository that do not exist. Point to a file under
# docs/ instead, or say the thing itself.
SCANNED = ("handoff", "portal", "docs", "templates", "bench", "tests", "README.md")
BINARY = {".png", ".jpg", ".svg", ".ico", ".woff", ".woff2", ".mo", ".pyc", ".sqlite3"}
# One pattern, so that an issue named by word and number sign is one finding: the brief (in
# capitals) and its sections, an issue by word, and a number sign with digits after a space or
# a bracket: not an HTML entity, not a colour in a string, not an anchor in a URL.
REFERENCE = re.compile(
    r"(?-i:\bDESIGN\b)(?:\.md)?(?:\s*\u00a7\s*\d+)?|\u00a7\s*\d+"
    r"|\b(?:issues?|tickets?|PR|pull request)\s*#?\d+\b"
    r"|(?:^|(?<=[\s(\[]))#\d{1,5}\b(?![\w-])",
    re.IGNORECASE,
)
DOC_PATH = re.compile(r"(?<![\w/.-])docs/[\w./-]*\w\.md\b")
# A path in the repository: a file with its extension, or a folder with its slash.
REPO_PATH = re.compile(
    r"(?<![\w/.-])(?:handoff|portal|docs|templates|bench|tests)/[\w./-]*?"
    r"(?:\.(?:py|md|html|json|js|css)\b|/(?![\w.-]))"
)
MD_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)#\s]+)")


def _scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        top = ROOT / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if path.is_file() and path.suffix not in BINARY and "__pycache__" not in path.parts:
                yield path


def references_in(text: str, *, path: Path) -> Iterator[tuple[int, str]]:
    """(line, what) for each reference in `text` a reader cannot open."""
    for number, line in enumerate(text.splitlines(), 1):
        for match in REFERENCE.finditer(line):
            yield number, repr(match.group(0))
        # Outside Markdown, "portal/x.html" is a template's or a static file's name: only
        # docs/ paths are checked there.
        for match in (REPO_PATH if path.suffix == ".md" else DOC_PATH).finditer(line):
            if not (ROOT / match.group(0)).exists():
                yield number, f"{match.group(0)} (no such file)"
        if path.suffix == ".md":
            for match in MD_LINK.finditer(line):
                if not (path.parent / match.group(1)).exists():
                    yield number, f"link {match.group(1)} (no such file)"


def test_it_finds_no_reference_a_reader_cannot_open():
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{number}: {what}"
        for path in _scanned_files()
        for number, what in references_in(path.read_text(errors="replace"), path=path)
    ]
    assert not found, "references a reader cannot open:\n" + "\n".join(found)


def test_it_tells_issue_references_from_colours_and_entities():
    # Spelled in pieces, so that this file does not break its own rule.
    brief, issue, sign = "DES" + "IGN", "iss" + "ue", "#"
    text = (
        f"({brief} \u00a73) {issue} 8, {issue.title()} {sign}12, see {sign}34.\n"
        f'color: "{sign}555"; &{sign}10; {sign}fff page{sign}2 {issue}s with it; {sign} 1 step'
    )
    found = [what for _, what in references_in(text, path=ROOT / "x.py")]
    assert found == [f"'{brief} \u00a73'", f"'{issue} 8'", f"'Issue {sign}12'", f"'{sign}34'"]


def test_it_checks_paths_and_links_in_markdown():
    text = "`handoff/engine/routing.py`, `handoff/engine/nothing.py`, [a](routing.md), [b](no.md)"
    found = [what for _, what in references_in(text, path=ROOT / "docs" / "x.md")]
    assert found == ["handoff/engine/nothing.py (no such file)", "link no.md (no such file)"]


# The portal uses only the core's public names (no `from handoff... import _x`, no `module._x`).
def private_uses(tree: ast.AST) -> list[tuple[int, str]]:
    core_names: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("handoff"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                core_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            core_names |= {
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.startswith("handoff")
            }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in core_names
        ):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


def test_the_portal_uses_no_private_name_of_the_core() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} uses {name}"
        for path in sorted((ROOT / "portal").rglob("*.py"))
        for line, name in private_uses(ast.parse(path.read_text()))
    ]
    assert offenders == []
