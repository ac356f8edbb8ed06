"""Imports go one way: each top-level part of learning_machine has a rank and imports none above it.

Every import is read from the source (ast): at module level, inside functions, under TYPE_CHECKING,
relative ones resolved. A part may import a part of its own rank only where SAME_RANK lists it.
The client side (CLI, client, examples) runs on a user's machine and is not in the Lambda layer, so
no server-side module may import it. README "Layout" describes the same ranks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import learning_machine

PACKAGE = Path(learning_machine.__file__).parent
ROOT = "learning_machine"

# 0: pure (models, rules, the extraction call's contract, settings); 1: the outside world (stores
# on adapters); 2: the domain services; 3: what is built on them; 4: the composition root; 5: the
# HTTP API and the authorizer; 6: the client side.
RANKS = {
    "models": 0,
    "core": 0,
    "extraction_contract": 0,
    "settings": 0,
    "adapters": 1,
    "stores": 1,
    "services": 2,
    "context": 3,
    "curation": 3,
    "extraction": 3,
    "tools": 3,
    "composition": 4,
    "api": 5,
    "cli": 6,
    "client": 6,
    "examples": 6,
}
CLIENT_SIDE = {"cli", "client", "examples"}
# Imports between two parts of the same rank: only these, in this direction.
SAME_RANK = {
    ("models", "core"),  # models redact and score with core's rules (redaction, scoring)
    ("core", "models"),  # core's rules work on models (memories, profiles, config)
    ("extraction_contract", "models"),  # the prompt and reply schema are built from models
    ("stores", "adapters"),  # repositories write through the DynamoDB adapter
    ("cli", "client"),
    ("examples", "cli"),
    ("examples", "client"),
}
# Module-level exceptions to the ranks, each with its reason (none today).
EXCEPTIONS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str, source: str, is_package: bool, known: Iterable[str]) -> Iterator[str]:
    """Every learning_machine module (or package) this source imports, anywhere in it."""
    known = set(known)
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from . import deps`: the names may be modules themselves.
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names]
        else:
            continue
        yield from (t for t in targets if t == ROOT or t.startswith(ROOT + "."))


def part(module: str) -> str:
    return module.split(".")[1]


def wrong_way(importer: str, imported: str) -> bool:
    """Whether this import breaks the layering (modules named from learning_machine down)."""
    source, target = part(importer), part(imported)
    if source == target or (importer, imported) in EXCEPTIONS:
        return False
    if target in CLIENT_SIDE and source not in CLIENT_SIDE:
        return True
    if RANKS[target] == RANKS[source]:
        return (source, target) not in SAME_RANK
    return RANKS[target] > RANKS[source]


def all_imports() -> list[tuple[str, str]]:
    return [
        (module, imported)
        for module, path in MODULES.items()
        if module != ROOT
        for imported in imports_of(module, path.read_text(), path.name == "__init__.py", MODULES)
    ]


def test_every_top_level_part_has_a_rank() -> None:
    parts = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py") or (path / "__init__.py").is_file()
    }
    assert parts == set(RANKS)


def test_no_module_imports_a_higher_rank_or_the_client_side() -> None:
    edges = all_imports()
    assert len(edges) > 400  # the whole package was read, lazy and relative imports included
    assert [f"{a} -> {b}" for a, b in edges if wrong_way(a, b)] == []


def test_every_exception_is_still_needed() -> None:
    edges = set(all_imports())
    assert edges >= EXCEPTIONS


def test_a_wrong_way_import_is_caught() -> None:
    # A lazy, relative import from a pure rule up to a service.
    source = "def f():\n    from ..services.search import SearchService\n"
    found = list(imports_of("learning_machine.core.scoring", source, False, MODULES))
    assert found == ["learning_machine.services.search"]
    assert wrong_way("learning_machine.core.scoring", found[0])
    # A relative `from .. import module` from a store to the CLI.
    found = list(imports_of("learning_machine.stores.usage", "from .. import cli\n", False, MODULES))
    assert found == ["learning_machine.cli"]
    assert wrong_way("learning_machine.stores.usage", found[0])
    assert wrong_way("learning_machine.services.search", "learning_machine.api.deps")
    assert wrong_way("learning_machine.adapters.queue", "learning_machine.stores.keys")  # same rank, unlisted
    assert wrong_way("learning_machine.client.sync", "learning_machine.cli.main")
    assert not wrong_way("learning_machine.services.search", "learning_machine.core.ranking")
    assert not wrong_way("learning_machine.api.deps", "learning_machine.composition")


def test_core_does_no_io() -> None:
    io_packages = ("boto3", "botocore", "httpx", "openai", "opensearchpy", "requests", "apsw", "sqlite3")
    imported = [
        (module, alias.name if isinstance(node, ast.Import) else node.module or "")
        for module, path in MODULES.items()
        if module.startswith(f"{ROOT}.core")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0)
        for alias in node.names
    ]
    assert [f"{m} imports {name}" for m, name in imported if name.split(".")[0] in io_packages] == []
