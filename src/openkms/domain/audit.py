"""Audit events: their ActionTrail shape, what of a call they may hold, and the chain that makes
them tamper-evident. Pure: the keys come from the caller (service/audit.py).

What an event holds of a call's parameters and answer, by field name, at any depth:
- never recorded, only its length: plaintexts, secret values, data keys, passwords, AccessKey
  secrets, security tokens, import material and tokens, signatures, MACs and messages
  (:data:`OMITTED`);
- in clear: names, ids, algorithms, states, dates, counts, flags (:data:`CLEAR`), and every
  number and boolean;
- a policy document: its SHA-256 (:data:`DOCUMENTS`);
- anything else (EncryptionContext values, ciphertexts, digests, descriptions, tags' values):
  ``hmac-sha256:<hex>`` under the deployment's audit key, so an auditor holding a value can find
  the events that carry it without the events revealing it.

The chain. Each writer (one per server process) appends to its own chain: event ``n`` carries
``seq`` and ``mac_n = HMAC-SHA256(k, mac_{n-1} || canonical(event_n))`` with ``mac_0`` the chain's
id. The chain's head (its last seq and mac) is kept beside it under a MAC of its own, so cutting
events off the end is detected as surely as changing one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from openkms.domain.ciphertext import parse_context
from openkms.domain.errors import InvalidValue
from openkms.domain.ram import Owner

EVENT_VERSION = "1"

# Never recorded: a dict {"omitted": true, "bytes": n} stands in their place.
OMITTED = frozenset(
    {
        "AccessKeySecret",
        "EncryptedKeyMaterial",
        "ExportedDataKey",
        "ImportToken",
        "Mac",
        "Message",
        "NewPassword",
        "OldPassword",
        "Password",
        "Plaintext",
        "PrivateKey",
        "PrivateKeyData",
        "RandomPassword",
        "SecretData",
        "SecurityToken",
        "Signature",
        "Value",
    }
)

# Policy documents: recorded by their SHA-256 (they can be long, and name principals).
DOCUMENTS = frozenset({"AssumeRolePolicyDocument", "NewAssumeRolePolicyDocument", "Policy", "PolicyDocument"})

# Recorded in clear: what identifies and describes a resource or a call, never a secret.
CLEAR = frozenset(
    {
        "AccessKeyId", "Algorithm", "AliasArn", "AliasName", "Arn", "AssumedRoleId",
        "AssumedRoleUser", "AutomaticRotation", "CertificateId", "CreateDate", "CreationDate",
        "CreateTime", "Creator", "DKMSInstanceId", "DeleteDate", "DeletionProtection",
        "DestinationKeyId", "DisplayName", "EncryptionKeyId", "Expiration", "ExternalId",
        "GroupName", "KeyId", "KeyMaterialExpireUnix", "KeySpec", "KeyState", "KeyStorageMechanism",
        "KeyUsage", "KeyVersionId", "KmsInstanceId", "LastRotationDate", "MaterialExpireTime",
        "MoveToVersion", "NextRotationDate", "Origin", "PolicyName", "PolicyType",
        "PrimaryKeyVersion", "ProtectedResourceArn", "ProtectionLevel", "RegionId",
        "RemoveFromVersion", "ResourceId", "ResourceType", "RoleArn", "RoleId", "RoleName",
        "RoleSessionName", "RotationInterval", "SecretName", "SecretType", "SourceKeyId",
        "SourceKeyVersionId", "SourceEncryptionAlgorithm", "Status", "UpdateDate", "UserAccessKeyId",
        "UserId", "UserName", "VersionId", "VersionStage", "VersionStages", "WrappingAlgorithm",
        "WrappingKeySpec", "NewUserName", "TagKey", "TagKeys", "PageNumber", "PageSize",
        "TotalCount", "Marker", "NextToken", "SecretDataType", "ExtendedConfig",
        "RecoveryWindowInDays", "PendingWindowInDays", "KeyVersions", "KeyVersion", "Aliases",
        "Alias", "KeyMetadata", "Keys", "Key", "SecretList", "Secret", "VersionStageList",
        "AccessKey", "AccessKeys", "Credentials", "User", "Users", "Role", "Roles", "Group",
        "Groups", "Policies", "Tags", "Tag", "Filters", "SecretsList", "Description",
        "NewDescription", "Comments", "NewComments", "DeletionProtectionDescription",
        "RequestId", "KeyVersionIds", "Success", "ClientKeyId", "AapName", "Name", "KmsInstance",
        "KmsInstances", "InstanceName", "InstanceId", "Permissions", "Resources", "AccessControlRules",
        "SourcePrivateIp", "Type", "Spec", "BindVpcs", "BindVpc", "VpcId", "VSwitchIds", "ZoneIds",
        "KMProvider", "NotBefore", "NotAfter", "KeyAlgorithm", "KeyOrigin", "PublicKeyData",
        "AuthenticationMethod", "NetworkRules", "NetworkRule", "ApplicationAccessPoints",
        "ApplicationAccessPoint", "ClientKeys", "DefaultKmsInstanceId", "ResourceQuota",
        "UsedQuantity", "KmsInstanceQuotaInfos", "ForceDeleteWithoutBackup", "KmsInstanceArn",
    }
)  # fmt: skip

# The protocol's own parameters: the request's envelope, not the action's input.
PROTOCOL = frozenset(
    {
        "AccessKeyId", "Action", "Format", "Signature", "SignatureMethod", "SignatureNonce",
        "SignatureType", "SignatureVersion", "Timestamp", "Version", "SecurityToken",
    }
)  # fmt: skip

# (resource type, names that carry one) for referencedResources, read from parameters and answer.
RESOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ACS::KMS::Key", ("KeyId", "DestinationKeyId", "SourceKeyId", "EncryptionKeyId")),
    ("ACS::KMS::KeyVersion", ("KeyVersionId", "SourceKeyVersionId")),
    ("ACS::KMS::Alias", ("AliasName",)),
    ("ACS::KMS::Secret", ("SecretName",)),
    ("ACS::KMS::SecretVersion", ("VersionId",)),
    ("ACS::RAM::User", ("UserName", "NewUserName")),
    ("ACS::RAM::Group", ("GroupName",)),
    ("ACS::RAM::Role", ("RoleName",)),
    ("ACS::RAM::Policy", ("PolicyName",)),
    ("ACS::RAM::AccessKey", ("UserAccessKeyId",)),
    ("ACS::KMS::Instance", ("KmsInstanceId", "DKMSInstanceId", "KmsInstance", "InstanceId")),
    ("ACS::KMS::ApplicationAccessPoint", ("AapName",)),
    ("ACS::KMS::ClientKey", ("ClientKeyId",)),
)
_RESOURCE_OF = {name: kind for kind, names in RESOURCES for name in names}
# ``Name`` names a different kind of resource in each action family (group K).
_NAME_KIND = (
    ("NetworkRule", "ACS::KMS::NetworkRule"),
    ("Policy", "ACS::KMS::AapPolicy"),
    ("ApplicationAccessPoint", "ACS::KMS::ApplicationAccessPoint"),
)
# An alias given as a KeyId (``alias/x``) names an alias, not a key.
_ALIAS_PREFIX = "alias/"

SERVICE_NAMES = {"kms": "Kms", "ram": "Ram", "sts": "Sts"}
_READ_PREFIXES = ("Describe", "List", "Get", "Query", "Check")
# Cryptographic calls that change nothing: Read, as ActionTrail files them.
_CRYPTO_READS = frozenset(
    {
        "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
        "GenerateAndExportDataKey", "ExportDataKey", "AsymmetricEncrypt", "AsymmetricDecrypt",
        "AsymmetricSign", "AsymmetricVerify", "GenerateMac", "VerifyMac", "GetRandomPassword",
        "AssumeRole", "GetCallerIdentity",
    }
)  # fmt: skip


def event_rw(action: str) -> str:
    """``Read`` for what only reads or computes, ``Write`` for what changes state."""
    if action.startswith(_READ_PREFIXES) or action in _CRYPTO_READS:
        return "Read"
    return "Write"


def event_time(at: float) -> str:
    """ActionTrail's time: UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


Hasher = Callable[[str], str]
# How a background action reports itself: (event name, account uid, referenced resources).
Report = Callable[[str, str, dict[str, list[str]]], None]


@dataclass(frozen=True, slots=True)
class Redactor:
    """Applies the rules of the module doc; ``hasher`` turns a value into ``hmac-sha256:<hex>``."""

    hasher: Hasher

    def value(self, name: str, value: Any) -> Any:
        if name in CLEAR and type(value) is str:
            return value  # the common case first
        if value is None or isinstance(value, bool | int | float):
            return value
        if name in OMITTED:
            return {"omitted": True, "bytes": _size(value)}
        if name in DOCUMENTS and isinstance(value, str):
            return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        if isinstance(value, dict):
            if name in CLEAR:
                return {k: self.value(k, v) for k, v in value.items()}
            # A map of a caller's own (EncryptionContext): its keys in clear, values keyed.
            return {k: self.value(k if k in CLEAR else name, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(name, v) for v in value]
        text = value if isinstance(value, str) else str(value)
        if name in CLEAR:
            return text
        if name.endswith("EncryptionContext"):
            return self._context(text)
        return self.hasher(text)

    def params(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """An action's request parameters as sent (the protocol's own left out)."""
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if name in PROTOCOL:
                continue
            out[name] = self.value(_field(name), value)
        return out

    def _context(self, text: str) -> Any:
        """EncryptionContext arrives as JSON text: its keys in clear, each value keyed (the
        whole text keyed when it is not a valid context)."""
        try:
            parsed = parse_context(text)
        except InvalidValue:
            return self.hasher(text)
        return {k: self.hasher(v) for k, v in parsed.items()}


def _field(wire_name: str) -> str:
    """The field name of a wire parameter: ``Tag.1.Value`` -> ``Value`` of a tag, which is the
    caller's data (keyed), so a repeat list's item fields read as their list's name."""
    if "." not in wire_name:
        return wire_name
    head, _, rest = wire_name.partition(".")
    last = rest.rsplit(".", 1)[-1]
    return last if last in CLEAR else head + "." + last


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(json.dumps(value, default=str).encode())


def referenced(
    params: Mapping[str, Any], result: Mapping[str, Any] | None, action: str = ""
) -> dict[str, list[str]]:
    """``{"ACS::KMS::Key": [...], ...}``: the resources a call names, in its parameters and
    its answer (an Encrypt by alias answers the key id and version it used). ``action`` says
    what a ``Name`` parameter names (a network rule, policy or access point of group K)."""
    found: dict[str, list[str]] = {}

    def add(kind: str, value: Any) -> None:
        if not isinstance(value, str) or not value:
            return
        if kind == "ACS::KMS::Key" and value.startswith(_ALIAS_PREFIX):
            kind = "ACS::KMS::Alias"
        if kind == "ACS::KMS::Key" and value.startswith("acs:kms:"):
            value = value.rsplit("/", 1)[-1]
        items = found.setdefault(kind, [])
        if value not in items:
            items.append(value)

    def walk(node: Any, depth: int) -> None:
        if depth > 3:
            return
        if isinstance(node, dict):
            for name, value in node.items():
                if isinstance(value, dict | list):
                    walk(value, depth + 1)
                else:
                    kind = _RESOURCE_OF.get(name)
                    if kind is not None:
                        add(kind, value)
        elif isinstance(node, list):
            for item in node[:100]:
                walk(item, depth + 1)

    for name, value in params.items():
        kind = _RESOURCE_OF.get(name)
        if name == "Name" and action.startswith(("Create", "Update", "Delete", "Describe")):
            kind = next((k for suffix, k in _NAME_KIND if action.endswith(suffix)), None)
        if kind is None and "." in name:
            kind = _RESOURCE_OF.get(_field(name))
        if kind is not None:
            add(kind, value)
    if result is not None:
        walk(result, 0)
    return found


def identity(owner: Owner | None, access_key_id: str, user_name: str | None = None) -> dict[str, Any]:
    """ActionTrail's ``userIdentity``. A call refused before its signature was checked has no
    owner: the AccessKeyId it claimed is all there is."""
    if owner is None:
        return {"type": "unknown", "accessKeyId": access_key_id}
    if owner.session is not None:
        s = owner.session
        return {
            "type": "assumed-role",
            "principalId": f"{s.role_id}:{s.session_name}",
            "accountId": owner.account_uid,
            "accessKeyId": access_key_id,
            "userName": f"{s.role_name}:{s.session_name}",
            "sessionContext": {
                "attributes": {"mfaAuthenticated": "false"},
                "roleName": s.role_name,
                "sessionName": s.session_name,
                "expiration": event_time(s.expires),
            },
        }
    if owner.user_id is not None:
        out = {
            "type": "ram-user",
            "principalId": owner.user_id,
            "accountId": owner.account_uid,
            "accessKeyId": access_key_id,
        }
        if user_name is not None:
            out["userName"] = user_name
        return out
    return {
        "type": "root-account",
        "principalId": owner.account_uid,
        "accountId": owner.account_uid,
        "accessKeyId": access_key_id,
        "userName": "root",
    }


SYSTEM_IDENTITY = {"type": "system", "principalId": "openkms", "userName": "openkms"}


@dataclass(slots=True)
class Call:
    """What the server knows of one API call when it is answered."""

    request_id: str
    at: float
    action: str
    product: str  # "kms", "ram", "sts"
    api_version: str
    host: str
    region: str
    source_ip: str
    user_agent: str
    secure: bool
    owner: Owner | None
    access_key_id: str
    params: Mapping[str, str]
    result: Mapping[str, Any] | None
    error_code: str
    error_message: str


def api_event(call: Call, redact: Redactor, user_name: str | None = None) -> dict[str, Any]:
    """The event of one API call (success or error)."""
    refs = referenced(call.params, call.result, call.action)
    return {
        # The request id is unique per call: it serves as the event's id, as ActionTrail's often do.
        "eventId": call.request_id,
        "eventVersion": EVENT_VERSION,
        "eventName": call.action,
        "eventTime": event_time(call.at),
        "eventType": "ApiCall",
        "eventCategory": "Management",
        "eventRW": event_rw(call.action),
        "eventSource": call.host,
        "acsRegion": call.region,
        "serviceName": SERVICE_NAMES.get(call.product, call.product),
        "apiVersion": call.api_version,
        "requestId": call.request_id,
        "sourceIpAddress": call.source_ip,
        "userAgent": call.user_agent,
        "userIdentity": identity(call.owner, call.access_key_id, user_name),
        "requestParameters": redact.params(call.params),
        "responseElements": (
            {k: redact.value(k, v) for k, v in call.result.items()} if call.result is not None else None
        ),
        "errorCode": call.error_code,
        "errorMessage": call.error_message,
        "resourceType": ";".join(refs),
        "resourceName": ";".join(",".join(v) for v in refs.values()),
        "referencedResources": refs,
        "additionalEventData": {"Scheme": "https" if call.secure else "http"},
        "recipientAccountId": call.owner.account_uid if call.owner is not None else "",
    }


def system_event(
    name: str, at: float, region: str, account_uid: str, resources: dict[str, list[str]], **details: Any
) -> dict[str, Any]:
    """The event of an action the server took by itself (a scheduled rotation, a destruction)."""
    return {
        "eventId": str(uuid.uuid4()),
        "eventVersion": EVENT_VERSION,
        "eventName": name,
        "eventTime": event_time(at),
        "eventType": "AliyunServiceEvent",
        "eventCategory": "Management",
        "eventRW": "Write",
        "eventSource": "openkms",
        "acsRegion": region,
        "serviceName": "Kms",
        "userIdentity": dict(SYSTEM_IDENTITY),
        "requestParameters": details,
        "errorCode": "",
        "errorMessage": "",
        "resourceType": ";".join(resources),
        "resourceName": ";".join(",".join(v) for v in resources.values()),
        "referencedResources": resources,
        "recipientAccountId": account_uid,
    }


# -- the chain ------------------------------------------------------------------------------


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes an event is stored as and its MAC covers: JSON without spaces, UTF-8 (the MAC
    is checked over the stored bytes, so no key order need be imposed)."""
    return _ENCODE(event).encode()


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def link(key: bytes, previous: bytes, body: bytes) -> bytes:
    """The MAC of an event whose canonical bytes are ``body``, after the one whose MAC is
    ``previous``."""
    return hmac.digest(key, previous + body, "sha256")


def genesis(chain: str) -> bytes:
    """``mac_0`` of a chain: its id, so two chains never share a link."""
    return hashlib.sha256(b"openkms/audit/chain|" + chain.encode()).digest()


def head_mac(key: bytes, chain: str, seq: int, mac: bytes, pruned_seq: int) -> bytes:
    """The MAC of a chain's head (and of where its pruned part ends): whoever cannot compute it
    cannot move the head back, nor prune events unseen."""
    text = f"openkms/audit/head|{chain}|{seq}|{pruned_seq}|".encode()
    return hmac.new(key, text + mac, hashlib.sha256).digest()


def same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
