"""The package's shape: data flows one way, the application sits on top of the library.

Static checks over the source (every import statement, at module level or
inside a function): no import cycle between twinscore's modules, and no
library module imports the command line (``twinscore.cli``).
"""

import ast
import subprocess
import sys
from pathlib import Path

import twinscore

PACKAGE = Path(twinscore.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """twinscore modules imported by one file (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("twinscore"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("twinscore"):
                continue
            found.add(base)
            for a in node.names:  # "from . import kpi" imports the module twinscore.kpi
                if (PACKAGE.parent / (base.replace(".", "/") + f"/{a.name}.py")).exists():
                    found.add(f"{base}.{a.name}")
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for p in PACKAGE.rglob("*.py")]
    modules = {_module_name(p) for p in files}
    graph = {}
    for p in files:
        name = _module_name(p)
        graph[name] = {m for m in _imports(p) if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]):
    """A cycle as a list of modules, or None (packages' __init__ re-exports excluded:
    a module importing its own package's names is not a cycle of logic)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if n == "twinscore" or (n.endswith(".cli") and m.startswith(n)):
                continue
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle_between_modules():
    graph = _graph()
    assert "twinscore.value" in graph and "twinscore.cli.demo" in graph
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_library_never_imports_its_command_line():
    for name, deps in _graph().items():
        if name.startswith("twinscore.cli") or name == "twinscore.__main__":
            continue
        assert not any(d.startswith("twinscore.cli") for d in deps), f"{name} imports {deps}"


def test_the_command_line_uses_only_the_public_package():
    for path in (PACKAGE / "cli").glob("*.py"):
        for dep in _imports(path):
            if dep.startswith("twinscore.cli") or dep == "twinscore":
                continue
            private = [part for part in dep.split(".") if part.startswith("_")]
            assert not private, f"{path.name} imports the private module {dep}"


def test_python_dash_m_twinscore_runs_the_command():
    r = subprocess.run([sys.executable, "-m", "twinscore", "--version"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == twinscore.__version__
    r = subprocess.run([sys.executable, "-m", "twinscore", "demo", "--prospects", "2000", "--clients", "300",
                        "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2,000 prospects" in r.stdout and "timings" in r.stdout
