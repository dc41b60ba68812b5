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
