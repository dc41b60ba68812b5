"""What ships in FileStream/: product code only, no test doubles, no methods nothing calls."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRODUCT = REPO / "FileStream"
PRODUCT_SOURCES = sorted(PRODUCT.rglob("*.py")) + [REPO / "migrate_files.py"]

# Classes whose public methods the product must call itself: the database stores, the
# bot pool and the rate limit (tests reach them too, so a method only tests use looks alive).
CHECKED = [*sorted((PRODUCT / "store").glob("*.py")), PRODUCT / "telegram" / "pool.py",
           PRODUCT / "services" / "ratelimit.py"]


def _public_methods(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                    continue  # read as an attribute, also by str.format and dataclasses
                found.append((node.name, item.name))
    return found


def _class_names(path: Path) -> set[str]:
    return {node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef)}


def test_the_product_package_ships_no_test_doubles():
    ours = _class_names(REPO / "tests" / "web_fakes.py")   # the web layer's in-memory doubles
    doubles = [f"{p.relative_to(REPO)}: {name}" for p in PRODUCT_SOURCES for name in _class_names(p)
               if name in ours or re.match(r"(Fake|Mock|Stub|Dummy)[A-Z]", name)]
    doubles += [str(p.relative_to(REPO)) for p in PRODUCT_SOURCES if re.search(r"fake|mock|stub|dummy", p.name)]
    assert doubles == []


def test_every_store_pool_and_rate_limit_method_is_called_by_the_product():
    text = {path: path.read_text() for path in PRODUCT_SOURCES}
    unused = []
    for path in CHECKED:
        for cls, method in _public_methods(path):
            call = re.compile(rf"\.{method}\b")
            if not any(call.search(source) for source in text.values()):
                unused.append(f"{path.relative_to(REPO)}: {cls}.{method}")
    assert unused == []


def _discarded_tasks(path: Path, root: Path = REPO) -> list[str]:
    """create_task / ensure_future calls whose task nobody keeps: a bare statement, or only the
    receiver of a method call in one (`ensure_future(x).add_done_callback(...)`)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in ("create_task", "ensure_future"):
            continue
        current = node
        parent = parents.get(current)
        # Climb while the task is only the object a method is called on.
        while (isinstance(parent, ast.Attribute) and parent.value is current
               and isinstance(parents.get(parent), ast.Call) and parents[parent].func is parent):
            current = parents[parent]
            parent = parents.get(current)
        if isinstance(parent, ast.Expr):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_task_the_product_starts_is_kept_until_it_ends():
    # The event loop keeps only weak references to tasks: one nobody holds may be collected
    # half-way. Each is kept in a variable, a set or dict (discarded when done), or a TaskGroup.
    discarded = [where for path in PRODUCT_SOURCES for where in _discarded_tasks(path)]
    assert discarded == []


def test_the_check_for_discarded_tasks_finds_them(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncio\n"
                      "async def f(loop, kept):\n"
                      "    asyncio.ensure_future(g())\n"
                      "    loop.create_task(g()).add_done_callback(print)\n"
                      "    task = asyncio.create_task(g())\n"
                      "    kept.add(asyncio.ensure_future(g()))\n"
                      "    await asyncio.ensure_future(g())\n")
    assert _discarded_tasks(sample, tmp_path) == ["sample.py:3", "sample.py:4"]


def _binds_underscore(function: ast.AST) -> bool:
    """True when `function` assigns the name `_` itself (a loop variable, an unpacking target)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
            return True
    return False


def test_no_function_hides_the_translation_function_behind_a_throwaway_name():
    """`for _ in ...` inside a function of a module that translates with `_` makes every `_()`
    in that function call the loop's integer: the message is never shown, a TypeError is."""
    for path in PRODUCT_SOURCES:
        tree = ast.parse(path.read_text())
        imports_underscore = any(isinstance(node, ast.ImportFrom) and any(a.name == "_" for a in node.names)
                                 for node in tree.body)
        if not imports_underscore:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _binds_underscore(node):
                raise AssertionError(f"{path.relative_to(REPO)}:{node.lineno} {node.name}() binds `_`")
