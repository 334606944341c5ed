"""The store's public transaction API (``transaction()``, ``reader()``) and that nothing outside ``store/``
reaches into a private ``Store`` member instead."""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import cloudwarden
from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.store import Store

SRC = Path(cloudwarden.__file__).parent


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "cloudwarden.duckdb") as opened:
        yield opened


def _checkpoints(store: Store) -> list[tuple[str, str, str]]:
    with store.reader() as db:
        rows = db.execute('SELECT source, "key", "position" FROM checkpoints ORDER BY source, "key"').fetchall()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def _insert_checkpoint(db: duckdb.DuckDBPyConnection, key: str, position: str) -> None:
    db.execute(
        "INSERT INTO checkpoints VALUES ('test', ?, ?, now()::TIMESTAMP)", [key, position])


def test_transaction_commits_every_write_of_the_block(store: Store) -> None:
    with store.transaction() as db:
        _insert_checkpoint(db, "a", "1")
        _insert_checkpoint(db, "b", "2")
    assert _checkpoints(store) == [("test", "a", "1"), ("test", "b", "2")]
    assert store.get_checkpoint("test", "b") == "2"


def test_transaction_rolls_back_every_write_when_the_block_raises(store: Store) -> None:
    store.set_checkpoint("test", "kept", "0")
    with pytest.raises(ZeroDivisionError), store.transaction() as db:
        _insert_checkpoint(db, "lost", "1")
        db.execute("UPDATE checkpoints SET \"position\" = '9' WHERE \"key\" = 'kept'")
        _ = 1 / 0
    assert _checkpoints(store) == [("test", "kept", "0")]
    # The writer is usable again: the failed block left no transaction open.
    with store.transaction() as db:
        _insert_checkpoint(db, "after", "2")
    assert [key for _, key, _ in _checkpoints(store)] == ["after", "kept"]


def test_transaction_rolls_back_when_a_statement_fails(store: Store) -> None:
    with pytest.raises(duckdb.Error), store.transaction() as db:
        _insert_checkpoint(db, "dup", "1")
        _insert_checkpoint(db, "dup", "2")  # primary key (source, key) violated
    assert _checkpoints(store) == []


def test_reader_does_not_see_a_transaction_in_progress(store: Store) -> None:
    inside = threading.Event()
    release = threading.Event()
    seen: list[list[tuple[str, str, str]]] = []

    def write() -> None:
        with store.transaction() as db:
            _insert_checkpoint(db, "pending", "1")
            inside.set()
            release.wait(10)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert inside.wait(10)
        seen.append(_checkpoints(store))  # a read runs beside the open write, on its own cursor
    finally:
        release.set()
        writer.join(10)
    assert seen == [[]]
    assert _checkpoints(store) == [("test", "pending", "1")]


def test_transactions_are_one_writer_at_a_time(store: Store) -> None:
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with store.transaction():
            inside.set()
            release.wait(10)
            order.append("first")

    def second() -> None:
        with store.transaction():
            order.append("second")

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.2)
    assert two.is_alive()  # blocked on the writer lock while the first transaction is open
    release.set()
    one.join(10)
    two.join(10)
    assert order == ["first", "second"]


def test_closed_store_refuses_transactions_and_readers(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "closed.duckdb")
    store.close()
    with pytest.raises(RuntimeFailure, match="closed"), store.transaction():
        pass
    with pytest.raises(RuntimeFailure, match="closed"), store.reader():
        pass


def _private_store_members() -> set[str]:
    """Names of Store's private members: methods and class attributes, plus attributes set in __init__."""
    names = {name for name in vars(Store) if name.startswith("_") and not name.startswith("__")}
    init = ast.parse((SRC / "store" / "store.py").read_text())
    for node in ast.walk(init):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            names.add(node.attr)
    return names


def _private_uses(tree: ast.AST, private: set[str]) -> list[tuple[int, str]]:
    """``x._member`` where ``_member`` is a private Store name and ``x`` is not the module's own ``self``/``cls``."""
    return [
        (node.lineno, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in private
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


def test_the_private_member_check_catches_a_reach_into_the_store() -> None:
    private = _private_store_members()
    assert {"_conn", "_writer", "_write_lock"} <= private
    caught = _private_uses(ast.parse("with self.store._write_lock:\n    store._conn.execute('x')\n"), private)
    assert caught == [(1, "_write_lock"), (2, "_conn")]
    assert _private_uses(ast.parse("with self._write_lock:\n    store.transaction()\n"), private) == []


def test_no_module_outside_the_store_uses_a_private_store_member() -> None:
    private = _private_store_members()
    offenders = [
        f"{path.relative_to(SRC)}:{line}: .{attr}"
        for path in sorted(SRC.rglob("*.py"))
        if path.parent.name != "store"
        for line, attr in _private_uses(ast.parse(path.read_text()), private)
    ]
    assert offenders == []
