"""A write that fails leaves the previous complete output as it was, and no temporary."""

import errno
import os

import pandas as pd
import pytest

from bnpipe import files


@pytest.mark.parametrize(
    ("write", "first", "second"),
    [
        (files.write_csv, pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [3]})),
        (files.write_json, {"a": 1}, {"a": 2}),
        (files.write_text, "complete\n", "newer\n"),
    ],
)
def test_a_failed_write_keeps_the_previous_output(tmp_path, monkeypatch, write, first, second):
    target = tmp_path / "out" / "table"
    write(target, first)
    before = target.read_bytes()

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(files.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        write(target, second)
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["table"]  # no temporary left


def test_a_temporary_left_by_a_killed_writer_is_cleared_by_the_next_write(tmp_path):
    target = tmp_path / "metrics.json"
    (tmp_path / ".metrics.json.abc123.tmp").write_text('{"half": ')
    files.write_json(target, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~files.UMASK)


def test_staging_folders_follow_the_umask(tmp_path):
    folder = files.staging_dir(tmp_path, ".figures.")
    assert folder.parent == tmp_path and os.listdir(folder) == []
    assert oct(folder.stat().st_mode & 0o777) == oct(0o777 & ~files.UMASK)
