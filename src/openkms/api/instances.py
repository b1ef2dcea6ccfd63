"""KMS instance actions (group J): ListKmsInstances, GetKmsInstance, ConnectKmsInstance,
UpdateKmsInstanceBindVpc, GetKmsInstanceQuotaInfos, GetDefaultKmsInstance, ReleaseKmsInstance.

Instances are made by ``openkms instance create`` (buying one is outside the API); every action
here acts on the caller's account's instances, and another account's id is not found (403
``Forbidden.DKMSInstanceNotFound``, as for a made-up one).
"""

from __future__ import annotations

from typing import Any

from openkms.api.paging import PAGE_NUMBER, echo, page_size_param
from openkms.api.spec import ActionSpec, Param, Unsupported
from openkms.domain.clock import iso
from openkms.domain.instance import KmsInstance, instance_arn, parse_bind_vpcs
from openkms.service.context import CallContext
from openkms.service.instances import QUOTA_TYPES

INSTANCE_ID = Param("KmsInstanceId", required=True, max=64, doc="Instance id (kst-...).")
# What an instance is on the bill: pay-as-you-go (only those can be released).
CHARGE_TYPE = "POSTPAY"
PRODUCT_TYPE = "kms_ppi_public_intl"
PRODUCT_VERSION = "software"


def _arn(ctx: CallContext, inst: KmsInstance) -> str:
    return instance_arn(ctx.services.deployment.region, inst.account_uid, inst.instance_id)


def list_kms_instances(ctx: CallContext, *, page_number: int, page_size: int) -> dict[str, Any]:
    rows, total = ctx.services.instances.list_instances(ctx.scope.account_uid, page_number, page_size)
    return {
        **echo(page_number, page_size, total),
        "KmsInstances": {
            "KmsInstance": [{"KmsInstanceId": i.instance_id, "KmsInstanceArn": _arn(ctx, i)} for i in rows]
        },
    }


def get_kms_instance(ctx: CallContext, *, kms_instance_id: str) -> dict[str, Any]:
    inst = ctx.services.instances.get_instance(ctx.scope.account_uid, kms_instance_id)
    return {
        "KmsInstance": {
            "InstanceId": inst.instance_id,
            "InstanceName": inst.instance_name,
            "Status": inst.status,
            "Spec": inst.spec,
            "KeyNum": inst.key_num,
            "SecretNum": str(inst.secret_num),
            "VpcNum": inst.vpc_num,
            "VpcId": inst.vpc_id,
            "VswitchIds": list(inst.vswitch_ids),
            "ZoneIds": list(inst.zone_ids),
            "BindVpcs": {
                "BindVpc": [
                    {
                        "VpcId": v.vpc_id,
                        "VSwitchId": v.vswitch_id,
                        "RegionId": v.region_id,
                        "VpcOwnerId": v.vpc_owner_id,
                    }
                    for v in inst.bind_vpcs
                ]
            },
            "CreateTime": iso(inst.create_time),
            "StartDate": iso(inst.create_time),
            "EndDate": iso(inst.end_time),
            "ChargeType": CHARGE_TYPE,
            "ProductType": PRODUCT_TYPE,
            "ProductVersion": PRODUCT_VERSION,
            "SaleStatus": "Normal",
            "Log": 0,
            "LogStorage": 0,
            "DeletionProtection": inst.deletion_protection,
            "DeletionProtectionDescription": inst.deletion_protection_description,
            "CaCertificateChainPem": "",
        }
    }


def _ids(text: str) -> list[str]:
    return [p for p in (s.strip() for s in text.split(",")) if p]


def connect_kms_instance(
    ctx: CallContext, *, kms_instance_id: str, km_provider: str, vpc_id: str, v_switch_ids: str, zone_ids: str
) -> dict[str, Any]:
    del km_provider  # validated: Aliyun only
    ctx.services.instances.connect(
        ctx.scope.account_uid, kms_instance_id, vpc_id, _ids(v_switch_ids), _ids(zone_ids)
    )
    return {}


def update_kms_instance_bind_vpc(ctx: CallContext, *, kms_instance_id: str, bind_vpcs: str) -> dict[str, Any]:
    ctx.services.instances.update_bind_vpcs(
        ctx.scope.account_uid, kms_instance_id, parse_bind_vpcs(bind_vpcs)
    )
    return {}


def get_kms_instance_quota_infos(
    ctx: CallContext, *, kms_instance_id: str, resource_type: str | None
) -> dict[str, Any]:
    infos = ctx.services.instances.quota_infos(ctx.scope.account_uid, kms_instance_id, resource_type)
    return {
        "KmsInstanceId": kms_instance_id,
        "KmsInstanceQuotaInfos": [
            {"ResourceType": q.resource_type, "ResourceQuota": q.quota, "UsedQuantity": q.used} for q in infos
        ],
    }


def get_default_kms_instance(ctx: CallContext) -> dict[str, Any]:
    del ctx
    # Keys and secrets made without DKMSInstanceId belong to no instance: there is no default one.
    return {"DefaultKmsInstanceId": ""}


def release_kms_instance(
    ctx: CallContext, *, kms_instance_id: str, force_delete_without_backup: bool
) -> dict[str, Any]:
    del force_delete_without_backup  # openkms keeps no instance backups; nothing to skip
    ctx.services.instances.release(ctx.scope.account_uid, kms_instance_id)
    return {}


ACTIONS = [
    ActionSpec(
        "ListKmsInstances",
        list_kms_instances,
        (PAGE_NUMBER, page_size_param(20)),
        unsupported=(
            Unsupported("Filters", "ListKmsInstances Filters have no documented grammar; list without them."),
        ),
        doc="Page through the account's instances, oldest first.",
    ),
    ActionSpec("GetKmsInstance", get_kms_instance, (INSTANCE_ID,), doc="An instance's details."),
    ActionSpec(
        "ConnectKmsInstance",
        connect_kms_instance,
        (
            INSTANCE_ID,
            Param("KMProvider", required=True, enum=("Aliyun",)),
            Param("VpcId", required=True, max=128),
            Param("VSwitchIds", required=True, max=1024, doc="vSwitch ids, comma-separated."),
            Param("ZoneIds", required=True, max=1024, doc="Zone ids, comma-separated."),
        ),
        doc="Make an Uninitialized instance usable (Connected), recording its network. An instance "
        "already connected is 403 Forbidden.DKMSInstanceStateInvalid.",
    ),
    ActionSpec(
        "UpdateKmsInstanceBindVpc",
        update_kms_instance_bind_vpc,
        (INSTANCE_ID, Param("BindVpcs", required=True, max=16384)),
        doc="Replace the extra VPCs bound to the instance (a JSON array of VpcId, VSwitchId, "
        "RegionId, VpcOwnerId), at most its VpcNum (else 400 Rejected.LimitExceeded).",
    ),
    ActionSpec(
        "GetKmsInstanceQuotaInfos",
        get_kms_instance_quota_infos,
        (INSTANCE_ID, Param("ResourceType", enum=QUOTA_TYPES)),
        doc="Quota and use of keys, secrets, VPCs and QPS (the Spec) of an instance; KmsInstanceId "
        "is required here.",
    ),
    ActionSpec(
        "GetDefaultKmsInstance",
        get_default_kms_instance,
        doc="Always empty: keys made without DKMSInstanceId belong to no instance.",
    ),
    ActionSpec(
        "ReleaseKmsInstance",
        release_kms_instance,
        (INSTANCE_ID, Param("ForceDeleteWithoutBackup", kind=bool, default=False)),
        doc="Delete an instance. Refused (409 Rejected.ResourceInUse) while it holds keys or secrets "
        "or a policy is scoped to it, and (409 Rejected.StateModifiedFailed) under deletion protection.",
    ),
]
