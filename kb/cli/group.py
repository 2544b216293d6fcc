"""The ``kb`` command group, its one-line errors and its entry point.

The commands themselves live beside it (:mod:`kb.cli.commands`, :mod:`kb.cli.insights`,
:mod:`kb.cli.keys`) and register on :data:`cli` when :mod:`kb.cli` is imported.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import sys
from typing import NoReturn

import click
from sqlalchemy.exc import OperationalError

from kb.config import load_settings
from kb.errors import ConfigError, KbError
from kb.logs import configure as configure_logs
from kb.usecases.bootstrap import Services, build

DISK_FULL = (
    "out of disk space (or over a file-size limit) while writing; what was stored before is "
    "intact and no half-written index is kept: free some space and run it again"
)


def out_of_space(e: BaseException) -> bool:
    """Whether ``e`` means the disk (or a quota or file-size limit) is full."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return True
    text = str(e).lower()
    return "disk is full" in text or "disk i/o error" in text or "no space left" in text


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to standard error and exit."""
    click.echo(f"kb: error: {message}", err=True)
    sys.exit(code)


def knowledge_base(ctx: click.Context) -> Services:
    return ctx.ensure_object(dict)["kb"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", envvar="KB_HOME", type=click.Path(), help="Data directory (KB_HOME).")
@click.version_option(package_name="kb")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """kb: a help-centre knowledge base with hybrid search and cited answers."""
    settings = load_settings({"home": home} if home else None)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    configure_logs(settings.log_level, settings.log_format)
    ctx.ensure_object(dict)["kb"] = build(settings)


def main() -> None:
    """Entry point: run the CLI, turning user errors into one line."""
    try:
        code = cli.main(standalone_mode=False)  # a command's ctx.exit(N) comes back as N
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        fail("aborted", 130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except ConfigError as e:
        fail(e.message, 2)
    except KbError as e:
        fail(e.message)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except (OSError, sqlite3.OperationalError, OperationalError, RuntimeError) as e:
        if not out_of_space(e):
            logging.getLogger("kb").debug("unexpected error", exc_info=True)
            fail(f"unexpected {type(e).__name__}: {e} (KB_LOG_LEVEL=DEBUG shows details)")
        fail(DISK_FULL)
    except Exception as e:  # a bug: one line for the user, the traceback in the debug log
        logging.getLogger("kb").debug("unexpected error", exc_info=True)
        fail(f"unexpected {type(e).__name__}: {e} (KB_LOG_LEVEL=DEBUG shows details)")
