"""The house as the README draws it: which package may import which, one place for each shared thing, and the
public API where outside tools find it. Read from the source (ast), so a lazy import inside a function counts."""
import ast
import importlib
from pathlib import Path

import pytest

from conftest import ROOT

SOURCES = sorted(p for d in ("explorer", "train") for p in (ROOT / d).rglob("*.py")) + [ROOT / "app.py"]


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (``from a import b`` gives a and a.b)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def offenders(where, forbidden) -> list[str]:
    return [f"{rel(p)} imports {m}" for p in SOURCES if where(rel(p))
            for m in sorted(imports(p)) if any(m == f or m.startswith(f + ".") for f in forbidden)]


def test_only_the_ui_imports_streamlit():
    assert offenders(lambda f: not f.startswith("explorer/ui/") and f != "app.py", ["streamlit"]) == []


def test_explorer_never_imports_train_and_nothing_below_the_ui_imports_it():
    assert offenders(lambda f: f.startswith("explorer/"), ["train"]) == []
    assert offenders(lambda f: not f.startswith("explorer/ui/") and f != "app.py", ["explorer.ui"]) == []


def test_views_do_not_import_the_page():
    """Compare once imported the page module (ui/main.py) to list checkpoints: explorer.catalog lists them."""
    assert offenders(lambda f: f.startswith("explorer/ui/") and f not in ("explorer/ui/main.py", "explorer/ui/server.py",
                                                                          "explorer/ui/page.py"),
                     ["explorer.ui.main"]) == []


@pytest.mark.parametrize("needle, home", [("EXPLORER_CACHE_DIR", "explorer/paths.py"),
                                          ("XDG_CACHE_HOME", "explorer/paths.py"),
                                          ('glob("*.pt")', "explorer/catalog.py")])
def test_one_place_for_each_shared_setting(needle, home):
    assert [rel(p) for p in SOURCES if needle in p.read_text(encoding="utf-8")] == [home]


def test_every_view_of_the_one_list_has_its_drawing_function():
    from explorer.urlstate import VIEW_IDS, VIEWS

    assert len(set(VIEW_IDS)) == len(VIEWS) == 10
    for v in VIEWS:
        tree = ast.parse((ROOT / "explorer" / "ui" / f"{v.module}.py").read_text(encoding="utf-8"))
        assert v.function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, v


def test_the_public_api_is_where_the_readme_says():
    from explorer import load_checkpoint  # noqa: F401
    from explorer.faces import align, align_face, find_faces  # noqa: F401

    for room in ("explorer.analysis", "explorer.faces", "explorer.celeba"):
        assert importlib.import_module(room).__doc__
