"""What the offline command groups (`openkms ram`, `instance`, `secret-target`, `audit`) share:
the opener of the deployment they work on, and the run of one command over it, a refusal
printed on one line with exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from openkms.domain.errors import DomainError

if TYPE_CHECKING:
    from openkms.service.deployment import Deployment

Opener = Callable[[argparse.Namespace], "Deployment"]


def command(
    run: Callable[[argparse.Namespace, Deployment], None], open_deployment: Opener
) -> Callable[[argparse.Namespace], int]:
    """The ``func`` of a command group: ``run`` over the deployment, which is closed after."""

    def cmd(args: argparse.Namespace) -> int:
        dep = open_deployment(args)
        try:
            run(args, dep)
        except DomainError as exc:
            print(f"openkms: {exc.detail or type(exc).__name__}", file=sys.stderr)
            return 1
        finally:
            dep.close()
        return 0

    return cmd
