"""KMS instances and application access, free of I/O: the records, their ids and ARNs, and the
rules for the values the instance and AAP actions take (alibaba-kms-api.md groups J and K).

Three parameters are parsed here rather than as the action tables' JSON arrays, each for a
grammar of its own: AccessControlRules (an object), SourcePrivateIp (a JSON array or a
comma-separated list) and BindVpcs (objects whose VpcOwnerId may be a number).

An instance holds keys and secrets up to its quotas; an application reaches it through an
application access point (AAP) with a client key, and the AAP's policies (permission templates,
resources, and network rules naming the source addresses allowed) say what the key may do. The
decision itself is :mod:`openkms.domain.aap`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from openkms.domain.errors import InvalidValue

__all__ = [
    "AAP_AUTHENTICATION",
    "CLIENT_KEY_ALGORITHM",
    "CLIENT_KEY_ORIGIN",
    "CLIENT_KEY_YEARS",
    "CONNECTED",
    "DEFAULT_KEY_NUM",
    "DEFAULT_SECRET_NUM",
    "DEFAULT_SPEC",
    "DEFAULT_VPC_NUM",
    "KEY_USER",
    "MAX_AAP_POLICIES",
    "NETWORK_RULE_TYPE",
    "PERMISSIONS",
    "SECRET_USER",
    "SPECS",
    "UNINITIALIZED",
    "AapPolicy",
    "AccessPoint",
    "BindVpc",
    "ClientKey",
    "KmsInstance",
    "NetworkRule",
    "aap_arn",
    "check_client_key_password",
    "check_name",
    "check_permissions",
    "check_policy_names",
    "check_resources",
    "instance_arn",
    "network_rule_arn",
    "new_client_key_id",
    "new_instance_id",
    "parse_access_control_rules",
    "parse_bind_vpcs",
    "parse_source_ips",
    "policy_arn",
    "region_code",
]

UNINITIALIZED = "Uninitialized"
CONNECTED = "Connected"

# Computing performance tiers of software instances (alibaba-kms-api.md §11.3).
SPECS = (200, 1000, 2000, 4000, 10000, 20000)
DEFAULT_SPEC = 1000
DEFAULT_KEY_NUM = 1000
DEFAULT_SECRET_NUM = 100
DEFAULT_VPC_NUM = 1
MIN_KEY_NUM, MAX_KEY_NUM = 1, 100_000
MAX_SECRET_NUM = 100_000
MAX_VPC_NUM = 100

NETWORK_RULE_TYPE = "Private"
AAP_AUTHENTICATION = "ClientKey"
MAX_AAP_POLICIES = 3
KEY_USER = "RbacPermission/Template/CryptoServiceKeyUser"
SECRET_USER = "RbacPermission/Template/CryptoServiceSecretUser"  # noqa: S105 - a template name
PERMISSIONS = (KEY_USER, SECRET_USER)

CLIENT_KEY_ALGORITHM = "RSA_2048"
CLIENT_KEY_ORIGIN = "KMS_PROVIDED"
CLIENT_KEY_YEARS = 5

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_RESOURCE = re.compile(r"(key|secret)/(\*|[^*\s]{1,256})")
_CHARSETS = (string.ascii_letters, string.digits, "~!@#$%^&*?_-")
_REGION_CODES = {
    "cn-hangzhou": "hzz",
    "cn-shanghai": "shh",
    "cn-beijing": "bjj",
    "cn-shenzhen": "szz",
    "cn-qingdao": "qdd",
    "cn-zhangjiakou": "zjk",
    "cn-huhehaote": "hhht",
    "cn-wulanchabu": "wlcb",
    "cn-chengdu": "cdd",
    "cn-hongkong": "hkk",
    "ap-southeast-1": "sgg",
    "eu-central-1": "fra",
    "us-west-1": "usw",
    "us-east-1": "use",
}


@dataclass(frozen=True, slots=True)
class BindVpc:
    vpc_id: str
    vswitch_id: str
    region_id: str
    vpc_owner_id: str


@dataclass(frozen=True, slots=True)
class KmsInstance:
    instance_id: str
    account_uid: str
    instance_name: str
    spec: int
    key_num: int
    secret_num: int
    vpc_num: int
    status: str
    vpc_id: str
    vswitch_ids: tuple[str, ...]
    zone_ids: tuple[str, ...]
    bind_vpcs: tuple[BindVpc, ...]
    deletion_protection: bool
    deletion_protection_description: str
    create_time: float
    end_time: float | None

    @property
    def connected(self) -> bool:
        return self.status == CONNECTED


@dataclass(frozen=True, slots=True)
class NetworkRule:
    account_uid: str
    name: str
    rule_type: str
    source_private_ips: tuple[str, ...]
    description: str
    create_time: float


@dataclass(frozen=True, slots=True)
class AapPolicy:
    """A permission policy of application access, scoped to one instance; ``network_rules``
    names the rules (AccessControlRules) whose addresses may use it."""

    account_uid: str
    name: str
    kms_instance: str
    permissions: tuple[str, ...]
    resources: tuple[str, ...]
    network_rules: tuple[str, ...]
    description: str
    create_time: float


@dataclass(frozen=True, slots=True)
class AccessPoint:
    account_uid: str
    name: str
    authentication_method: str
    policies: tuple[str, ...]
    description: str
    create_time: float


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A client key's public half (the private key is never kept)."""

    client_key_id: str
    account_uid: str
    aap_name: str
    key_algorithm: str
    key_origin: str
    public_key_der: bytes  # SubjectPublicKeyInfo
    certificate_der: bytes
    not_before: float
    not_after: float
    create_time: float

    def valid_at(self, now: float) -> bool:
        return self.not_before <= now <= self.not_after


def region_code(region: str) -> str:
    """The short region code Alibaba puts in instance and key ids (``cn-hangzhou`` -> ``hzz``);
    for a region not in the table, the first three letters of its second part (``ap-northeast-1``
    -> ``nor``), else ``kms``."""
    known = _REGION_CODES.get(region)
    if known is not None:
        return known
    parts = region.lower().split("-")
    letters = "".join(c for c in (parts[1] if len(parts) > 1 else parts[0]) if "a" <= c <= "z")
    return (letters or "kms")[:3]


def new_instance_id(region: str) -> str:
    """``kst-<region code><random>``, as ``kst-hzz62f5ba3dnpb6v8xxxx``."""
    alphabet = string.ascii_lowercase + string.digits
    return f"kst-{region_code(region)}" + "".join(secrets.choice(alphabet) for _ in range(21))


def new_client_key_id() -> str:
    """``KAAP.<uuid>``."""
    return f"KAAP.{uuid.UUID(bytes=secrets.token_bytes(16), version=4)}"


def instance_arn(region: str, account_id: str, instance_id: str) -> str:
    return f"acs:kms:{region}:{account_id}:keystore/{instance_id}"


def network_rule_arn(region: str, account_id: str, name: str) -> str:
    return f"acs:kms:{region}:{account_id}:network/{name}"


def policy_arn(region: str, account_id: str, name: str) -> str:
    return f"acs:kms:{region}:{account_id}:policy/{name}"


def aap_arn(region: str, account_id: str, name: str) -> str:
    return f"acs:kms:{region}:{account_id}:applicationaccesspoint/{name}"


def check_name(parameter: str, name: str) -> str:
    """Names of rules, policies and AAPs: 1-128 letters, digits, ``_``, ``.`` and ``-``."""
    if not _NAME.fullmatch(name):
        raise InvalidValue(parameter, f"The {parameter} must be 1-128 letters, digits, '_', '.' or '-'.")
    return name


def _json_strings(parameter: str, text: str) -> list[str] | None:
    """A JSON array of strings, or None when the text is not JSON at all."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidValue(parameter, f"The {parameter} must be a JSON array of strings.")
    return value


def parse_source_ips(text: str) -> tuple[str, ...]:
    """SourcePrivateIp: a JSON array or a comma-separated list of addresses and CIDR blocks.
    Each is returned in its canonical network form (``192.168.0.0/24``, ``10.0.0.1/32``)."""
    items = _json_strings("SourcePrivateIp", text)
    if items is None:
        items = [p for p in (s.strip() for s in text.split(",")) if p]
    if not items or len(items) > 100:
        raise InvalidValue(
            "SourcePrivateIp", "The SourcePrivateIp must name 1 to 100 addresses or CIDR blocks."
        )
    out: list[str] = []
    for item in items:
        try:
            net = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise InvalidValue("SourcePrivateIp", f"{item!r} is not an IP address or CIDR block.") from None
        if str(net) not in out:
            out.append(str(net))
    return tuple(out)


def check_permissions(items: Sequence[str]) -> tuple[str, ...]:
    """Permissions: templates of :data:`PERMISSIONS` (the JSON array is parsed by the action
    table)."""
    if not items or any(p not in PERMISSIONS for p in items):
        raise InvalidValue(
            "Permissions", f"The Permissions must be a JSON array of {', '.join(PERMISSIONS)}."
        )
    return tuple(dict.fromkeys(items))


def check_resources(items: Sequence[str]) -> tuple[str, ...]:
    """Resources: ``key/*``, ``key/<KeyId>``, ``secret/*``, ``secret/<SecretName>``."""
    if not items or any(not _RESOURCE.fullmatch(r) for r in items):
        raise InvalidValue(
            "Resources",
            "The Resources must be a JSON array of key/*, key/<KeyId>, secret/* or secret/<SecretName>.",
        )
    return tuple(dict.fromkeys(items))


def parse_access_control_rules(text: str) -> tuple[str, ...]:
    """AccessControlRules: ``{"NetworkRules": ["<rule name>", ...]}``."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    rules = value.get("NetworkRules") if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or set(value) - {"NetworkRules"}
        or not isinstance(rules, list)
        or not all(isinstance(r, str) and _NAME.fullmatch(r) for r in rules)
    ):
        raise InvalidValue(
            "AccessControlRules", 'The AccessControlRules must be {"NetworkRules":["<name>",...]}.'
        )
    return tuple(dict.fromkeys(rules))


def check_policy_names(items: Sequence[str]) -> tuple[str, ...]:
    """An AAP's Policies: 1 to 3 policy names."""
    names = tuple(dict.fromkeys(items))
    if not names or len(names) > MAX_AAP_POLICIES or any(not _NAME.fullmatch(p) for p in names):
        raise InvalidValue(
            "Policies", f"The Policies must be a JSON array of 1 to {MAX_AAP_POLICIES} policy names."
        )
    return names


def parse_bind_vpcs(text: str) -> tuple[BindVpc, ...]:
    """UpdateKmsInstanceBindVpc's BindVpcs: ``[{"VpcId","VSwitchId","RegionId","VpcOwnerId"}]``."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise InvalidValue("BindVpcs", "The BindVpcs must be a JSON array of VPC objects.")
    out: list[BindVpc] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("VpcId"), str) or not item["VpcId"]:
            raise InvalidValue("BindVpcs", "Each of the BindVpcs names its VpcId.")
        fields = [item.get(f, "") for f in ("VSwitchId", "RegionId", "VpcOwnerId")]
        if not all(isinstance(f, str | int) and not isinstance(f, bool) for f in fields):
            raise InvalidValue("BindVpcs", "VSwitchId, RegionId and VpcOwnerId are strings or numbers.")
        vpc = BindVpc(item["VpcId"], *(str(f) for f in fields))
        if vpc not in out:
            out.append(vpc)
    return tuple(out)


def check_client_key_password(password: str) -> None:
    """8-64 characters, at least two of: letters, digits, the specials ``~!@#$%^&*?_-``."""
    if not 8 <= len(password) <= 64 or any(not any(c in cs for cs in _CHARSETS) for c in password):
        raise InvalidValue("Password", "The Password must be 8-64 letters, digits or ~!@#$%^&*?_-.")
    if sum(any(c in cs for c in password) for cs in _CHARSETS) < 2:
        raise InvalidValue("Password", "The Password must mix at least two of letters, digits and specials.")
