"""The structure rules no linter ships: run by `make lint` over src/riskflag.

1. A package is used from outside only through its interface, `riskflag.<package>` (its
   `__init__`), and never by a private (underscore) name. `riskflag.core`'s modules are its
   interface; top-level modules (config, errors, selection) are their own.
2. No reaching into a private attribute that another module defines (`cfg._path` outside
   config.py, `registry._aggregates` outside registry.py).
3. No function longer than 80 lines outside the synthetic council, so each can be read whole.

The stage order itself (core <- contracts <- ingest <- ... <- cli) is import-linter's contract in
pyproject.toml.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_LINES = 80
EXEMPT = ("synth",)  # the simulation: one package of its own, outside the stages
NAMEDTUPLE_API = {"_asdict", "_replace", "_fields", "_make"}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "riskflag" else None


def _module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _import_problems(node: ast.AST, mine: str | None, packages: set[str], where: str) -> list[str]:
    found: list[tuple[str, list[str]]] = []
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        found.append((node.module, [a.name for a in node.names]))
    elif isinstance(node, ast.Import):
        found.extend((a.name, []) for a in node.names)
    out = []
    for module, names in found:
        theirs = _package(module)
        if theirs is None or theirs == mine:
            continue
        if theirs in packages and theirs != "core" and len(module.split(".")) > 2:
            out.append(f"{where}:{node.lineno}: imports {module}: use the interface riskflag.{theirs}")
        out.extend(f"{where}:{node.lineno}: imports private {module}.{n}" for n in names if n.startswith("_"))
    return out


def _own_names(tree: ast.Module) -> set[str]:
    """Names a module defines itself: its private attributes are its own to use."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _private_attribute(node: ast.Attribute, own: set[str]) -> bool:
    if not node.attr.startswith("_") or node.attr.startswith("__") or node.attr in NAMEDTUPLE_API:
        return False
    if node.attr in own:
        return False
    return not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})


def check(root: Path) -> list[str]:
    problems: list[str] = []
    packages = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    for path in sorted(root.rglob("*.py")):
        mine = _package(_module_name(root, path))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = str(path)
        own = _own_names(tree)
        for node in ast.walk(tree):
            problems += _import_problems(node, mine, packages, where)
            if mine in EXEMPT:
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = (node.end_lineno or node.lineno) - start + 1
                if lines > MAX_LINES:
                    problems.append(
                        f"{where}:{node.lineno}: {node.name} is {lines} lines (at most {MAX_LINES})"
                    )
            elif isinstance(node, ast.Attribute) and _private_attribute(node, own):
                problems.append(f"{where}:{node.lineno}: reaches into a private attribute, .{node.attr}")
    return problems


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("src/riskflag")
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} structure problems", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
