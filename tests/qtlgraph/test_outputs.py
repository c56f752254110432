"""Safe output writing: staged directories and atomic files."""

import pytest

from qtlgraph.errors import InputError


def test_outputs_get_the_usual_permissions(tmp_path):
    import os

    from qtlgraph.outputs import atomic_path, staged_dir

    mask = os.umask(0o022)
    try:
        with staged_dir(tmp_path / "out") as d:
            (d / "a.txt").write_text("x")
        with atomic_path(tmp_path / "f.txt") as f:
            f.write_text("y")
    finally:
        os.umask(mask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_failed_stage_leaves_nothing_and_non_empty_dir_is_refused(tmp_path):
    import pytest

    from qtlgraph.errors import InputError
    from qtlgraph.outputs import staged_dir

    with pytest.raises(RuntimeError):
        with staged_dir(tmp_path / "out") as d:
            (d / "half.txt").write_text("x")
            raise RuntimeError("interrupted")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("1")
    with pytest.raises(InputError, match="not empty"):
        with staged_dir(tmp_path / "full"):
            pass


def test_unwritable_destination_is_named_not_a_temporary_name(tmp_path, monkeypatch):
    import qtlgraph.outputs as outputs

    monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)
    target = tmp_path / "new" / "out"
    with pytest.raises(InputError, match=rf"{target}: cannot write here \({tmp_path} is not"):
        outputs.check_writable(target)
    with pytest.raises(InputError, match="cannot write here"):
        with outputs.staged_dir(target):
            pass
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
