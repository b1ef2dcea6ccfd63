"""Service-level actions: DescribeRegions, DescribeAccountKmsStatus, OpenKmsService."""

from __future__ import annotations

from typing import Any

from openkms.api.spec import ActionSpec
from openkms.service.context import CallContext


def describe_regions(ctx: CallContext) -> dict[str, Any]:
    return {"Regions": {"Region": [{"RegionId": ctx.services.deployment.region}]}}


def describe_account_kms_status(ctx: CallContext) -> dict[str, Any]:
    return {"AccountStatus": "Enabled"}


def open_kms_service(ctx: CallContext) -> dict[str, Any]:
    # A self-hosted deployment is always open; answering success keeps set-up scripts that
    # call this once working unchanged.
    return {}


ACTIONS = [
    ActionSpec("DescribeRegions", describe_regions, doc="List the deployment's region.", inline=True),
    ActionSpec("DescribeAccountKmsStatus", describe_account_kms_status, doc="Always Enabled.", inline=True),
    ActionSpec("OpenKmsService", open_kms_service, doc="A no-op that succeeds.", inline=True),
]
