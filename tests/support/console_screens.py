"""The screenshots of docs/console.md: a server of its own with a few keys, a secret and a user,
each page taken by Chromium at 1280x800 (and one at a phone's width).

Run: ``python -m tests.support.console_screens docs/images/console``
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alibabacloud_kms20160120 import models as k
from alibabacloud_ram20150501 import models as r

from tests.support.clients import ram_client, tea_client
from tests.support.console import browser, root, sign_in
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, running


def populate(srv: ServerProcess) -> tuple[str, tuple[str, str]]:
    """Keys, an alias, a tag, a secret and a user without rights; the first key's id and the
    user's AccessKey pair."""
    kms = tea_client(srv.endpoint)
    first = ""
    for spec, description in (
        ("Aliyun_AES_256", "payments: card data"),
        ("RSA_2048", "release signing"),
        ("Aliyun_SM4", "reports"),
    ):
        usage = "SIGN/VERIFY" if spec == "RSA_2048" else None
        key_id = kms.create_key(k.CreateKeyRequest(key_spec=spec, key_usage=usage, description=description)).body.key_metadata.key_id
        first = first or key_id
    kms.create_alias(k.CreateAliasRequest(alias_name="alias/payments", key_id=first))
    kms.tag_resource(k.TagResourceRequest(key_id=first, tags='[{"TagKey":"team","TagValue":"payments"}]'))
    kms.create_secret(k.CreateSecretRequest(secret_name="db-password", secret_data="not shown", version_id="v1"))
    ram = ram_client(srv.endpoint)
    ram.create_user(r.CreateUserRequest(user_name="auditor", display_name="Auditor"))
    ak = ram.create_access_key(r.CreateAccessKeyRequest(user_name="auditor")).body.access_key
    return first, (ak.access_key_id, ak.access_key_secret)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, running(ServerProcess(Path(tmp) / "data")) as srv, browser() as b:
        key_id, user = populate(srv)
        base = root(srv)
        context = b.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{base}/console/signin")
        page.screenshot(path=str(out / "signin.png"))
        sign_in(page, base, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        page.screenshot(path=str(out / "keys.png"))
        page.goto(f"{base}/console/keys/{key_id}")
        page.get_by_label("Plaintext", exact=True).fill("4111 1111 1111 1111")
        page.get_by_role("button", name="Encrypt").click()
        page.screenshot(path=str(out / "key.png"))
        page.goto(f"{base}/console/secrets/db-password")
        page.screenshot(path=str(out / "secret.png"))
        page.goto(f"{base}/console/audit?of=key&name={key_id}&verify=1")
        page.screenshot(path=str(out / "audit.png"))
        page.goto(f"{base}/console/identities")
        page.screenshot(path=str(out / "identities.png"))
        context.close()
        context = b.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        sign_in(page, base, *user)
        page.screenshot(path=str(out / "denied.png"))
        context.close()
        phone = b.new_context(viewport={"width": 390, "height": 800}, device_scale_factor=1)
        page = phone.new_page()
        sign_in(page, base, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        page.screenshot(path=str(out / "keys-phone.png"))
        phone.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
