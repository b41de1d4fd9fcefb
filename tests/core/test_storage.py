"""Local file access by URI: atomic writes into folders that may not exist yet."""

from __future__ import annotations

import os
from pathlib import Path

from lakehouse.core import storage


def test_a_write_makes_missing_folders_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = storage.join(f"file://{tmp_path}", "a", "b", "c.jsonl")
    storage.write_parts(target, [b"one\n", memoryview(b"two\n")])
    assert (tmp_path / "a" / "b" / "c.jsonl").read_bytes() == b"one\ntwo\n"
    storage.write_bytes(storage.join(str(tmp_path), "a", "b", "d.csv"), b"x")  # into the folder now there
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["c.jsonl", "d.csv"]


def test_a_write_replaces_a_file_whole_with_the_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    storage.write_bytes(str(target), b"a much longer first version")
    storage.write_bytes(str(target), b"short")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_bytes() == b"short" and target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_folder_removed_between_writes_is_made_again(tmp_path: Path) -> None:
    storage.write_bytes(str(tmp_path / "day" / "x.csv"), b"1")
    storage.delete_tree(str(tmp_path / "day"))
    storage.write_bytes(str(tmp_path / "day" / "y.csv"), b"2")
    assert [p.name for p in (tmp_path / "day").iterdir()] == ["y.csv"]


def test_append_creates_then_extends(tmp_path: Path) -> None:
    target = str(tmp_path / "new" / "tail.jsonl")
    storage.append_bytes(target, b"a\n")
    storage.append_bytes(target, b"b\n")
    assert storage.read_bytes(target) == b"a\nb\n"
