"""The core stands alone: handoff/ never imports the portal, and the portal uses only the
core's public names (no `from handoff... import _x`, no `module._x`)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
    return found


def test_the_core_imports_nothing_from_the_portal() -> None:
    # Management commands are a face of their own (they may start the portal's Celery app);
    # migrations are history.
    skipped = ("handoff/management/", "handoff/migrations/")
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources("handoff")
        if not str(path.relative_to(ROOT)).startswith(skipped)
        for line, module in imported_modules(ast.parse(path.read_text()))
        if module == "portal" or module.startswith("portal.")
    ]
    assert offenders == []


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
        for path in sources("portal")
        for line, name in private_uses(ast.parse(path.read_text()))
    ]
    assert offenders == []
