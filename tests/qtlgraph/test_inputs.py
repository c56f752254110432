"""The checked opener: damage of every kind becomes one InputError naming the file."""

from __future__ import annotations

import gzip

import click
import pytest
from click.testing import CliRunner

from qtlgraph.errors import InputError
from qtlgraph.inputs import check_text, open_text, read_bytes, read_table

TEXT = "a\tb\n1\t2\n3\t4\n"


def test_plain_gzip_and_bom_read_the_same(tmp_path):
    (tmp_path / "p.tsv").write_text(TEXT)
    (tmp_path / "b.tsv").write_bytes(b"\xef\xbb\xbf" + TEXT.encode())
    (tmp_path / "g.tsv.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + TEXT.encode()))
    for name in ("p.tsv", "b.tsv", "g.tsv.gz"):
        with open_text(tmp_path / name, "table") as fh:
            assert fh.read() == TEXT
        assert read_bytes(tmp_path / name, "table") == TEXT.encode()
        assert list(read_table(tmp_path / name, "table").columns) == ["a", "b"]


def test_truncated_gzip_fails_where_it_is_read_naming_the_file(tmp_path):
    data = gzip.compress(("x\ty\n" * 50_000).encode())
    path = tmp_path / "t.tsv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"t.tsv.gz: table: truncated or corrupt gzip"):
        with open_text(path, "table") as fh:
            for _ in fh:
                pass
    with pytest.raises(InputError, match="truncated or corrupt gzip"):
        read_bytes(path, "table")


@pytest.mark.parametrize(
    "content, message",
    [
        (bytes(range(256)), "binary content"),
        (b"\xff\xfe\xfa" * 10, "not UTF-8 text"),
        (b"\x1f\x8b\x08\x00garbage", "truncated or corrupt gzip"),
    ],
)
def test_binary_and_corrupt_files_are_refused(tmp_path, content, message):
    (tmp_path / "x").write_bytes(content)
    with pytest.raises(InputError, match=message):
        check_text(tmp_path / "x", "table")


def test_missing_directory_empty_and_header_only(tmp_path):
    with pytest.raises(InputError, match="table not found"):
        check_text(tmp_path / "nope", "table")
    with pytest.raises(InputError, match="found a directory"):
        check_text(tmp_path, "table")
    (tmp_path / "e.tsv").write_text("")
    with pytest.raises(InputError, match="is empty"):
        read_table(tmp_path / "e.tsv", "table")
    (tmp_path / "h.tsv").write_text("a\tb\n")
    with pytest.raises(InputError, match="header but no rows"):
        read_table(tmp_path / "h.tsv", "table")
    assert read_table(tmp_path / "h.tsv", "table", allow_empty=True).empty


def test_eof_error_in_a_command_is_an_input_error_not_an_interrupt(monkeypatch):
    from qtlgraph import cli as cli_module

    @click.command()
    def boom() -> None:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    monkeypatch.setattr(cli_module._LazyGroup, "get_command", lambda self, ctx, name: boom)
    monkeypatch.setattr(cli_module._LazyGroup, "list_commands", lambda self, ctx: ["boom"])
    res = CliRunner().invoke(cli_module.cli, ["boom"])
    assert res.exit_code == 2 and "truncated, corrupt or not text" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_ctrl_c_prints_the_resume_hint_and_exits_130(monkeypatch, capsys):
    from qtlgraph import cli as cli_module

    @click.command()
    def stop() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module._LazyGroup, "get_command", lambda self, ctx, name: stop)
    with pytest.raises(SystemExit) as exc:
        cli_module.main(["stop"])
    assert exc.value.code == 130
    assert "rerun with --resume" in capsys.readouterr().err
