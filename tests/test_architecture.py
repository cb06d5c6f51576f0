"""The shape of the code, kept true: every import points down, no circles, no private names
borrowed across modules, function-level imports only where Django's app loading needs them,
and nothing the installed product imports is a test or dev-only package.

Layers, lowest first (ARCHITECTURE.md): ``portal`` (the kernel), ``catalog``, ``envs`` (the
environment core: models, pages, the cluster connection), ``envs.<feature>``, ``config``
(the project shell). A module may import its own layer (without a circle) or lower ones.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "portal", "catalog", "envs")
ENV_CORE_SUBPACKAGES = {"api", "management"}  # the environment core's API and CLI


def product_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts or "tests" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


MODULES = product_modules()


def layer(module: str) -> int:
    parts = module.split(".")
    if parts[0] == "portal":
        return 0
    if parts[0] == "catalog":
        return 1
    if parts[0] == "envs":
        is_feature = len(parts) > 2 or (
            len(parts) == 2 and (ROOT / "envs" / parts[1]).is_dir()
        )
        if is_feature and parts[1] not in ENV_CORE_SUBPACKAGES:
            return 3
        return 2
    return 4  # config


class Import:
    def __init__(self, source: str, target: str, names: list[str], node: ast.stmt,
                 nested: bool, lines: list[str]):
        self.source, self.target, self.names, self.nested = source, target, names, nested
        self.lineno = node.lineno
        self.comment = _comment_near(lines, node.lineno)

    def __repr__(self) -> str:
        return f"{MODULES[self.source].relative_to(ROOT)}:{self.lineno} -> {self.target}"


def _comment_near(lines: list[str], lineno: int) -> str:
    """The comment on the import's line or on the lines right above it."""
    found = []
    line = lines[lineno - 1]
    if "#" in line:
        found.append(line.split("#", 1)[1])
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        found.append(lines[index].strip()[1:])
        index -= 1
    return " ".join(found)


def _owner(dotted: str) -> str | None:
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def imports() -> list[Import]:
    found = []
    for module, path in MODULES.items():
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        nested_nodes = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        nested_nodes.add(id(inner))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _owner(alias.name)
                    if target and target != module:
                        found.append(Import(module, target, [], node, id(node) in nested_nodes,
                                            lines))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")
                    if path.name != "__init__.py":
                        base = base[:-1]
                    base = base[: len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                if prefix.split(".")[0] not in PACKAGES:
                    continue
                for alias in node.names:
                    full = f"{prefix}.{alias.name}"
                    target = full if full in MODULES else _owner(prefix)
                    # "from pkg import name" where name is a module: the name is the module.
                    name = None if full in MODULES else alias.name
                    if target and target != module:
                        found.append(Import(module, target, [name] if name else [], node,
                                            id(node) in nested_nodes, lines))
    return found


IMPORTS = imports()


def test_the_walk_sees_the_product():
    assert len(MODULES) > 100
    assert any(i.source == "config.urls" for i in IMPORTS)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
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
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_counting_function_level_imports():
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        edges[imp.source].add(imp.target)
    for module in MODULES:
        edges.setdefault(module, set())
    assert cycles(edges) == []


def test_every_import_points_down():
    upward = [imp for imp in IMPORTS if layer(imp.target) > layer(imp.source)]
    assert upward == []


def test_layers_are_as_documented():
    assert layer("portal.runs.models") == 0
    assert layer("catalog.models") == 1
    assert layer("envs.models") == 2
    assert layer("envs.management.commands.envs_sync") == 2
    assert layer("envs.deploys.services") == 3
    assert layer("config.urls") == 4


def test_no_private_name_is_imported_from_another_module():
    private = [(imp, name) for imp in IMPORTS for name in imp.names
               if name.startswith("_") and not name.startswith("__")]
    assert private == []


APP_LOADING = re.compile(r"app(s|lication)? (loading|registry|load|are loaded)|AppConfig|"
                         r"before apps|apps are ready|settings are (loaded|read)", re.I)


def test_function_level_imports_of_our_code_say_why():
    unexplained = [imp for imp in IMPORTS if imp.nested and not APP_LOADING.search(imp.comment)]
    assert unexplained == []


# --- what the installed product may import --------------------------------------------------

def _declared(extra: str | None) -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    import tomllib

    project = tomllib.loads(text)["project"]
    specs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return {re.split(r"[<>=\[ ;!~]", spec, maxsplit=1)[0].lower().replace("_", "-")
            for spec in specs}


def _requirement_closure(names: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req:
                continue
            todo.append(re.split(r"[<>=\[ ;!~(]", req, maxsplit=1)[0].lower().replace("_", "-"))
    return seen


def test_product_imports_only_runtime_dependencies():
    """``import portal, envs, catalog`` works without the dev extras: no product module
    imports a package that only the dev extras (or nothing) install."""
    runtime = _requirement_closure(_declared(None))
    distributions = importlib.metadata.packages_distributions()
    stdlib = sys.stdlib_module_names
    offenders = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue  # seen by the type checker only, never imported at run time
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top in PACKAGES:
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(top, [])}
                if not dists & runtime:
                    offenders.append(f"{path.relative_to(ROOT)}: {name} ({sorted(dists)})")
    assert offenders == []


@pytest.mark.parametrize("fake", ["kubeserver", "kubecontroller", "s3server", "fakegithub",
                                  "tcpproxy"])
def test_test_fakes_live_under_tests(fake):
    assert (ROOT / "tests" / "fakes" / f"{fake}.py").exists()
    assert not list(ROOT.glob(f"portal/**/{fake}.py"))


# --- every feature has the same files ---------------------------------------------------------

FEATURE_FILES = ("models.py", "services.py", "serializers.py", "api.py", "views.py", "urls.py",
                 "jobs.py", "sections.py", "README.md")
# A feature without a file must say why here.
NOT_NEEDED = {
    "envs/board": {"models.py": "it keeps no state: cells are other features' rows",
                   "serializers.py": "no input of its own: actions post to deploys' forms",
                   "api.py": "the data is the deploys and environments API's",
                   "jobs.py": "it starts no run kind of its own (deploys' runs)"},
}


def features() -> list[str]:
    found = ["catalog"]
    for path in sorted((ROOT / "envs").iterdir()):
        if path.is_dir() and (path / "apps.py").exists():
            found.append(f"envs/{path.name}")
    return found


@pytest.mark.parametrize("feature", features())
def test_every_feature_has_the_same_files(feature):
    missing = [name for name in FEATURE_FILES if not (ROOT / feature / name).exists()
               and name not in NOT_NEEDED.get(feature, {})]
    assert missing == []


def test_the_feature_list_is_complete():
    assert {"catalog", "envs/provisioning", "envs/deploys", "envs/secrets", "envs/backups",
            "envs/notifications"} <= set(features())
