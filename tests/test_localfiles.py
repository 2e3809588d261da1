"""helpers.localfiles: the one atomic writer of the operator's machine."""

from __future__ import annotations

import os
import stat

import pytest

from helpers import localfiles
from helpers.localfiles import atomic_open, ensure_private_dir, write_atomic


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_str_and_bytes_with_mode(tmp_path):
    assert write_atomic(tmp_path / "a.txt", "héllo\n", 0o640)
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode()
    assert mode(tmp_path / "a.txt") == 0o640
    assert write_atomic(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    assert mode(tmp_path / "b.bin") == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_mode_is_final_before_the_rename(tmp_path, monkeypatch):
    """Whatever appears under the final name already has its mode: a key is never world-readable."""
    path = tmp_path / "sa.key"
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append((mode(src), os.stat(src).st_size))
        real_replace(src, dst)

    monkeypatch.setattr(localfiles.os, "replace", replace)
    write_atomic(path, "public\n", 0o644)
    write_atomic(path, "private\n", 0o600)
    assert seen == [(0o644, 7), (0o600, 8)]
    assert mode(path) == 0o600 and path.read_text() == "private\n"


def test_mode_ignores_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "unit", "x", 0o644)
    finally:
        os.umask(old)
    assert mode(tmp_path / "unit") == 0o644


def test_changed_detection(tmp_path):
    path = tmp_path / "f"
    assert write_atomic(path, "one") is True
    inode = path.stat().st_ino
    assert write_atomic(path, "one") is False            # same content, same mode
    assert write_atomic(path, b"one") is False
    assert write_atomic(path, "one", 0o600) is True      # only the mode differs: fixed in place
    assert mode(path) == 0o600 and path.stat().st_ino == inode
    assert write_atomic(path, "one", 0o600) is False
    assert write_atomic(path, "two", 0o600) is True      # new content: a new file
    assert path.read_text() == "two" and path.stat().st_ino != inode


def test_parent_directories(tmp_path):
    write_atomic(tmp_path / "plain" / "f", "x")
    write_atomic(tmp_path / "secret" / "f", "x", 0o600, private=True)
    assert (tmp_path / "plain" / "f").read_text() == "x"
    assert mode(tmp_path / "secret") == 0o700
    os.chmod(tmp_path / "secret", 0o755)                 # an existing directory is left as it is ...
    write_atomic(tmp_path / "secret" / "f", "y", 0o600, private=True)
    assert mode(tmp_path / "secret") == 0o755
    assert ensure_private_dir(tmp_path / "secret") == tmp_path / "secret"   # ... unless asked
    assert mode(tmp_path / "secret") == 0o700


def test_unencodable_data_writes_nothing(tmp_path):
    with pytest.raises(UnicodeEncodeError):
        write_atomic(tmp_path / "f", "\udcff")
    assert list(tmp_path.iterdir()) == []


def test_directory_target_leaves_no_temp_file(tmp_path):
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        write_atomic(target, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert [p.name for p in target.iterdir()] == ["inside"]


def test_failure_after_the_temp_file_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f"
    write_atomic(path, "old", 0o600)

    def fsync(fd):
        raise OSError(5, "injected")

    monkeypatch.setattr(localfiles.os, "fsync", fsync)
    with pytest.raises(OSError, match="injected"):
        write_atomic(path, "new", 0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
    assert path.read_text() == "old"


def test_atomic_open_streams_and_cleans_up(tmp_path):
    path = tmp_path / "download"
    with atomic_open(path, 0o600) as out:
        out.write(b"part one, ")
        assert not path.exists()                         # nothing under the final name yet
        out.write(b"part two")
    assert path.read_bytes() == b"part one, part two" and mode(path) == 0o600
    with pytest.raises(RuntimeError), atomic_open(path) as out:
        out.write(b"half")
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"part one, part two"
    assert [p.name for p in tmp_path.iterdir()] == ["download"]


def test_old_names_share_the_writer(tmp_path):
    from helpers.kubeconfig import write_private_file
    from helpers.lab.files import write_file

    assert write_private_file(tmp_path / "k" / "config", "x") and mode(tmp_path / "k" / "config") == 0o600
    assert mode(tmp_path / "k") == 0o700
    assert write_file(tmp_path / "u", "x", 0o444) and mode(tmp_path / "u") == 0o444
    assert not write_file(tmp_path / "u", "x", 0o444)
