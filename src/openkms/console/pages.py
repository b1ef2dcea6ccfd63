"""One function per console page or button. Each calls API actions through :meth:`Page.call`
(the server's authorization, handler and audit hops) and renders what came back; a refusal is
shown with its Alibaba code, never as an empty page.

POST buttons render the page they act on, with the action's outcome in place (an error next to
the form that caused it); creating a key or a secret redirects to the new resource's page.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import quote

from openkms.console.audit_view import audit_page
from openkms.console.page import Handler, Outcome, Page, Reply, location

__all__ = ["ROUTES"]

PAGE_SIZE = "20"
KEY_STATES = ("Enabled", "Disabled", "PendingDeletion", "PendingImport")
KEY_USAGES = ("ENCRYPT/DECRYPT", "SIGN/VERIFY", "GENERATE/VERIFY_MAC")
KEY_SPECS = (
    "Aliyun_AES_256", "Aliyun_AES_128", "Aliyun_SM4", "RSA_2048", "RSA_3072", "EC_P256", "EC_P256K",
    "EC_SM2", "HMAC_SHA256",
)  # fmt: skip


def _items(result: dict[str, Any] | None, outer: str, inner: str) -> list[Any]:
    """The list an Alibaba answer wraps twice (``{"Keys": {"Key": [...]}}``)."""
    if not result:
        return []
    found = (result.get(outer) or {}).get(inner) or []
    return list(found)


async def keys_list(page: Page, _m: re.Match[str]) -> Reply:
    filters: list[dict[str, Any]] = []
    for name, arg in (
        ("KeyState", "state"),
        ("KeySpec", "spec"),
        ("KeyUsage", "usage"),
        ("AliasName", "alias"),
    ):
        if page.arg(arg):
            filters.append({"Key": name, "Values": [page.arg(arg)]})
    tag = page.arg("tag")
    if tag:
        tag_key, _, tag_value = tag.partition("=")
        filters.append({"Key": "TagKey", "Values": [tag_key]})
        if tag_value:
            filters.append({"Key": "TagValue", "Values": [tag_value]})
    number = page.arg("page") or "1"
    listed = await page.call(
        "ListKeys", PageNumber=number, PageSize=PAGE_SIZE, Filters=json.dumps(filters) if filters else ""
    )
    keys = []
    if listed.ok:
        described = await asyncio.gather(
            *(page.call("DescribeKey", KeyId=k["KeyId"]) for k in _items(listed.result, "Keys", "Key"))
        )
        keys = [d.result["KeyMetadata"] for d in described if d.ok and d.result]
    total = int((listed.result or {}).get("TotalCount", 0))
    pages = max(1, -(-total // int(PAGE_SIZE)))
    here = {k: page.arg(k) for k in ("state", "spec", "usage", "tag", "alias")}
    return page.render(
        "keys.html", 403 if listed.denied else 200, outcome=listed, keys=keys, total=total,
        page_number=int(number) if number.isdigit() else 1, pages=pages, here=here,
        states=KEY_STATES, specs=KEY_SPECS, usages=KEY_USAGES,
        prev_url=location("/console/keys", **here, page=str(int(number) - 1)) if number.isdigit() else "",
        next_url=location("/console/keys", **here, page=str(int(number) + 1)) if number.isdigit() else "",
    )  # fmt: skip


async def key_new(page: Page, _m: re.Match[str]) -> Reply:
    return page.render("key_new.html", specs=KEY_SPECS, usages=KEY_USAGES, form={}, outcome=None)


async def key_create(page: Page, _m: re.Match[str]) -> Reply:
    created = await page.call(
        "CreateKey", KeySpec=page.arg("KeySpec"), KeyUsage=page.arg("KeyUsage"), Origin=page.arg("Origin"),
        Description=page.arg("Description"),
    )  # fmt: skip
    if not created.ok or created.result is None:
        return page.render(
            "key_new.html", 200 if not created.denied else 403, specs=KEY_SPECS, usages=KEY_USAGES,
            form=page.form, outcome=created,
        )  # fmt: skip
    key_id = created.result["KeyMetadata"]["KeyId"]
    alias = page.arg("AliasName")
    if alias:
        await page.call("CreateAlias", KeyId=key_id, AliasName=alias)
    return Reply(303, location=f"/console/keys/{key_id}")


async def key_detail(
    page: Page, m: re.Match[str], done: Outcome | None = None, what: str = "", **extra: Any
) -> Reply:
    key_id = m.group("key")
    described = await page.call("DescribeKey", KeyId=key_id)
    if not described.ok or described.result is None:
        return page.render("key.html", 403 if described.denied else 404, key_id=key_id, outcome=described)
    meta = described.result["KeyMetadata"]
    versions, aliases, tags, policy = await asyncio.gather(
        page.call("ListKeyVersions", KeyId=key_id, PageSize="100"),
        page.call("ListAliasesByKeyId", KeyId=key_id, PageSize="100"),
        page.call("ListResourceTags", KeyId=key_id),
        page.call("GetKeyPolicy", KeyId=key_id),
    )
    return page.render(
        "key.html", key_id=key_id, outcome=described, meta=meta, versions=versions,
        version_list=_items(versions.result, "KeyVersions", "KeyVersion"),
        aliases=aliases, alias_list=_items(aliases.result, "Aliases", "Alias"),
        tags=tags, tag_list=_items(tags.result, "Tags", "Tag"),
        policy=policy,
        policy_text=extra.pop("policy_text", None) or _pretty((policy.result or {}).get("Policy", "")),
        done=done, what=what, **extra,
    )  # fmt: skip


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


# The buttons of a key's page: (action, the form fields it reads as its parameters).
_KEY_BUTTONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "enable": ("EnableKey", ()),
    "disable": ("DisableKey", ()),
    "schedule-deletion": ("ScheduleKeyDeletion", ("PendingWindowInDays",)),
    "cancel-deletion": ("CancelKeyDeletion", ()),
    "rotate": ("CreateKeyVersion", ()),
    "rotation-policy": ("UpdateRotationPolicy", ("EnableAutomaticRotation", "RotationInterval")),
    "protection": ("SetDeletionProtection", ("EnableDeletionProtection", "DeletionProtectionDescription")),
    "policy": ("SetKeyPolicy", ("Policy",)),
    "alias": ("CreateAlias", ("AliasName",)),
    "encrypt": ("Encrypt", ("Plaintext", "EncryptionContext")),
    "import-parameters": ("GetParametersForImport", ("WrappingAlgorithm", "WrappingKeySpec")),
    "import": ("ImportKeyMaterial", ("EncryptedKeyMaterial", "ImportToken", "KeyMaterialExpireUnix")),
}


async def key_button(page: Page, m: re.Match[str]) -> Reply:
    op = m.group("op")
    key_id = m.group("key")
    if op == "decrypt":
        # Decrypt names no KeyId: the blob does. The page is the key's all the same.
        done = await page.call(
            "Decrypt",
            CiphertextBlob=page.arg("CiphertextBlob"),
            EncryptionContext=page.arg("EncryptionContext"),
        )
        return await key_detail(page, m, done, op)
    if op not in _KEY_BUTTONS:
        return page.render("error.html", 404, title="Not found", message="There is no such button.")
    action, fields = _KEY_BUTTONS[op]
    params = {name: page.arg(name) for name in fields}
    if op in ("rotation-policy", "protection"):
        flag = fields[0]
        params[flag] = "true" if page.arg(flag) in ("true", "on") else "false"
    params["KeyId"] = key_id
    done = await page.call(action, **params)
    extra: dict[str, Any] = {}
    if op == "policy" and not done.ok:
        extra["policy_text"] = page.arg("Policy")  # the text refused stays in the box, its error beside it
    return await key_detail(page, m, done, op, **extra)


async def secrets_list(page: Page, _m: re.Match[str]) -> Reply:
    number = page.arg("page") or "1"
    listed = await page.call("ListSecrets", PageNumber=number, PageSize=PAGE_SIZE)
    total = int((listed.result or {}).get("TotalCount", 0))
    return page.render(
        "secrets.html", 403 if listed.denied else 200, outcome=listed,
        secrets=_items(listed.result, "SecretList", "Secret"), total=total,
        page_number=int(number) if number.isdigit() else 1, pages=max(1, -(-total // int(PAGE_SIZE))),
    )  # fmt: skip


async def secret_new(page: Page, _m: re.Match[str]) -> Reply:
    return page.render("secret_new.html", form={}, outcome=None)


async def secret_create(page: Page, _m: re.Match[str]) -> Reply:
    name = page.arg("SecretName")
    created = await page.call(
        "CreateSecret", SecretName=name, SecretData=page.form.get("SecretData", ""),
        VersionId=page.arg("VersionId") or "v1", EncryptionKeyId=page.arg("EncryptionKeyId"),
        Description=page.arg("Description"),
    )  # fmt: skip
    if not created.ok:
        form = {k: v for k, v in page.form.items() if k != "SecretData"}  # a value is never echoed back
        return page.render("secret_new.html", 403 if created.denied else 200, form=form, outcome=created)
    return Reply(303, location=location(f"/console/secrets/{quote(name, safe='/')}"))


async def secret_detail(page: Page, m: re.Match[str], done: Outcome | None = None, what: str = "",
                        revealed: Outcome | None = None) -> Reply:  # fmt: skip
    name = m.group("name")
    described = await page.call("DescribeSecret", SecretName=name, FetchTags="true")
    if not described.ok:
        return page.render("secret.html", 403 if described.denied else 404, name=name, outcome=described)
    versions = await page.call(
        "ListSecretVersionIds", SecretName=name, IncludeDeprecated="true", PageSize="100"
    )
    return page.render(
        "secret.html", name=name, outcome=described, meta=described.result, versions=versions,
        version_list=_items(versions.result, "VersionIds", "VersionId"), done=done, what=what,
        revealed=revealed,
        new_version=f"v{int(time.time())}-{secrets.token_hex(2)}",
    )  # fmt: skip


_SECRET_BUTTONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "put": ("PutSecretValue", ("VersionId", "SecretData", "VersionStages")),
    "stage": ("UpdateSecretVersionStage", ("VersionStage", "MoveToVersion", "RemoveFromVersion")),
    "delete": ("DeleteSecret", ("RecoveryWindowInDays",)),
    "restore": ("RestoreSecret", ()),
}


async def secret_button(page: Page, m: re.Match[str]) -> Reply:
    op = m.group("op")
    name = m.group("name")
    if op == "reveal":
        # The value is read only when asked for, with an audited GetSecretValue of its own.
        shown = await page.call(
            "GetSecretValue",
            SecretName=name,
            VersionId=page.arg("VersionId"),
            VersionStage=page.arg("VersionStage"),
        )
        return await secret_detail(
            page, m, shown if not shown.ok else None, op, revealed=shown if shown.ok else None
        )
    if op not in _SECRET_BUTTONS:
        return page.render("error.html", 404, title="Not found", message="There is no such button.")
    action, fields = _SECRET_BUTTONS[op]
    params = {f: page.form.get(f, "") for f in fields}
    if op == "put" and params["VersionStages"]:
        params["VersionStages"] = json.dumps(
            [s.strip() for s in params["VersionStages"].split(",") if s.strip()]
        )
    done = await page.call(action, SecretName=name, **params)
    return await secret_detail(page, m, done, op)


async def identities(page: Page, _m: re.Match[str], done: Outcome | None = None, what: str = "") -> Reply:
    users, groups, roles, policies = await asyncio.gather(
        page.call("ListUsers", "RAM", MaxItems="100"),
        page.call("ListGroups", "RAM", MaxItems="100"),
        page.call("ListRoles", "RAM", MaxItems="100"),
        page.call("ListPolicies", "RAM", MaxItems="100"),
    )
    user = page.arg("user")
    attached = await page.call("ListPoliciesForUser", "RAM", UserName=user) if user else None
    return page.render(
        "identities.html", users=users, user_list=_items(users.result, "Users", "User"),
        groups=groups, group_list=_items(groups.result, "Groups", "Group"),
        roles=roles, role_list=_items(roles.result, "Roles", "Role"),
        policies=policies, policy_list=_items(policies.result, "Policies", "Policy"),
        user=user, attached=attached,
        attached_list=_items(attached.result if attached else None, "Policies", "Policy"),
        done=done, what=what,
    )  # fmt: skip


_RAM_BUTTONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "create-user": ("CreateUser", ("UserName", "DisplayName")),
    "create-group": ("CreateGroup", ("GroupName",)),
    "add-to-group": ("AddUserToGroup", ("UserName", "GroupName")),
    "attach-user": ("AttachPolicyToUser", ("PolicyType", "PolicyName", "UserName")),
    "attach-group": ("AttachPolicyToGroup", ("PolicyType", "PolicyName", "GroupName")),
}


async def identity_button(page: Page, m: re.Match[str]) -> Reply:
    op = m.group("op")
    if op not in _RAM_BUTTONS:
        return page.render("error.html", 404, title="Not found", message="There is no such button.")
    action, fields = _RAM_BUTTONS[op]
    done = await page.call(action, "RAM", **{f: page.arg(f) for f in fields})
    return await identities(page, m, done, op)


async def home(page: Page, _m: re.Match[str]) -> Reply:
    return Reply(303, location="/console/keys")


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "", home),
    ("GET", "/keys", keys_list),
    ("GET", "/keys/new", key_new),
    ("POST", "/keys", key_create),
    ("GET", "/keys/(?P<key>[A-Za-z0-9_:/.-]+?)", key_detail),
    ("POST", "/keys/(?P<key>[A-Za-z0-9_:/.-]+?)/(?P<op>[a-z-]+)", key_button),
    ("GET", "/secrets", secrets_list),
    ("GET", "/secrets/new", secret_new),
    ("POST", "/secrets", secret_create),
    # A secret's name may hold '/': the button is the last segment.
    ("GET", "/secrets/(?P<name>.+)", secret_detail),
    ("POST", "/secrets/(?P<name>.+)/(?P<op>[a-z-]+)", secret_button),
    ("GET", "/identities", identities),
    ("POST", "/identities/(?P<op>[a-z-]+)", identity_button),
    ("GET", "/audit", audit_page),
]
