"""The ``qtlgraph`` command: a click group whose subcommands live one per module here.

Each module ``qtlgraph/cli/<name>.py`` defines a click command called ``command`` and
imports heavy libraries (torch, polars, powerlaw) inside the command body, so that
``qtlgraph --help`` stays fast. Library errors (:class:`qtlgraph.errors.InputError`)
become one line on stderr and exit code 2.
"""

from __future__ import annotations

import gzip
import importlib
import pkgutil
import sys
import zlib

import click

from qtlgraph import __version__
from qtlgraph.errors import InputError


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


class InputFailure(click.ClickException):
    """An input error raised inside a command: one ``error: ...`` line, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


#: a damaged input file that escaped :mod:`qtlgraph.inputs`: still an input error, never
#: an interrupt (click would turn EOFError into Abort, exit 130)
DAMAGED = (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


class _LazyGroup(click.Group):
    def invoke(self, ctx: click.Context):
        # Converted here (not only in main) so click's CliRunner sees the same exit code 2.
        try:
            return super().invoke(ctx)
        except (InputError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise InputFailure(str(exc)) from None
        except DAMAGED as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise InputFailure(
                f"an input file is truncated, corrupt or not text ({type(exc).__name__}"
                f"{': ' + detail if detail else ''})"
            ) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [m.replace("_", "-") for m in _command_modules()]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = name.replace("-", "_")
        if module not in _command_modules():
            return None
        return importlib.import_module(f"{__name__}.{module}").command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qtlgraph")
def cli() -> None:
    """qtlgraph: QTL graphs over 10 kb genome bins and models of distal chromatin effects.

    \b
    Typical session:
      qtlgraph simulate --out sim --preset demo      # a dataset with known truth
      qtlgraph build sim/qtl/mono_H3K27ac.txt.gz --genome sim/genome.chrom.sizes --out g
      qtlgraph degrees g --out deg                   # histograms, power-law fit, hubs
      qtlgraph demo --out demo-out                   # every stage end to end
    Run 'qtlgraph COMMAND --help' for each command's options.
    """  # noqa: D301 - click's \b (no rewrapping) must stay a real backspace


RESUME_HINT = "interrupted; rerun with --resume where the command supports it"


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the group, turning input errors into one clear line."""
    try:
        cli.main(args=argv, prog_name="qtlgraph", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click raises Abort from the KeyboardInterrupt it caught: the same advice as below
        resumable = isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt)
        click.echo(RESUME_HINT if resumable else "interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (InputError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo(RESUME_HINT, err=True)
        sys.exit(130)
