"""KMS instances and application access at the service level: the reads the instance gateway
makes (instance by id, client key by id, an access point's policies with their networks), on
the embedded store and on PostgreSQL; quotas decided under the instance's lock; the refusals
that keep references whole."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from openkms.domain import errors
from openkms.domain.aap import Denial
from openkms.domain.instance import KEY_USER, SECRET_USER
from openkms.store import instances as repo
from tests.support.inprocess import START, World, open_world
from tests.support.postgres import PostgresDatabase


@pytest.fixture(params=["sqlite", "postgres"])
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        w = open_world(tmp_path / "data")
        yield w
        w.close()
        return
    with PostgresDatabase() as pg:
        w = open_world(tmp_path / "data", pg.url)
        yield w
        w.close()


def _set_up(w: World, connect: bool = True) -> tuple[str, str]:
    """An instance, a rule for 10.0.0.0/24, a key-user policy on key/* and an AAP; returns the
    instance id and the account."""
    acct = w.dep.account_id
    svc = w.services.instances
    inst = svc.create_instance(acct, "i1", key_num=2, secret_num=1, connect=connect)
    svc.create_network_rule(acct, "net", "Private", ("10.0.0.0/24",), "")
    svc.create_policy(acct, "pol", inst.instance_id, (KEY_USER,), ("key/*",), ("net",), "")
    svc.create_aap(acct, "app", "ClientKey", ("pol",), "")
    return inst.instance_id, acct


def test_the_gateway_reads_an_instance_a_client_key_and_its_policies(any_world: World) -> None:
    w = any_world
    svc = w.services.instances
    instance_id, acct = _set_up(w)
    made = svc.create_client_key(acct, "app", "pass-word-1", None, None)

    inst = svc.instance(instance_id)
    assert inst is not None and inst.account_uid == acct and inst.connected
    assert svc.instance("kst-hzznothere") is None

    key = svc.client_key(made.key.client_key_id)
    assert key is not None and key.aap_name == "app" and key.account_uid == acct
    assert key.not_before == float(int(START)) and key.valid_at(START + 86400)
    # The bundle opens with the password, and its key is the stored public key's pair.
    private, cert, _ = pkcs12.load_key_and_certificates(made.pkcs12, b"pass-word-1")
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048 and cert is not None
    signature = private.sign(b"string to sign", padding.PKCS1v15(), hashes.SHA256())
    public = serialization.load_der_public_key(key.public_key_der)
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, b"string to sign", padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(made.pkcs12, b"wrong-password-1")

    policies = svc.access_policies(acct, "app")
    assert [p.name for p in policies] == ["pol"]
    assert [str(n) for n in policies[0].networks] == ["10.0.0.0/24"]
    assert svc.authorize(key, instance_id, "Encrypt", "key/abc", "10.0.0.7") is None
    assert svc.authorize(key, instance_id, "Encrypt", "key/abc", "10.0.1.7") is Denial.NETWORK
    assert svc.authorize(key, instance_id, "GetSecretValue", "secret/s", "10.0.0.7") is Denial.ACTION
    # A change to the rule is seen by the next read on this node.
    svc.update_network_rule(acct, "net", ("10.0.1.0/24",), None)
    assert svc.authorize(key, instance_id, "Encrypt", "key/abc", "10.0.1.7") is None
    svc.update_policy(
        acct,
        "pol",
        permissions=(KEY_USER, SECRET_USER),
        resources=("secret/s",),
        network_rules=None,
        description=None,
    )
    assert svc.authorize(key, instance_id, "GetSecretValue", "secret/s", "10.0.1.7") is None
    assert svc.authorize(key, instance_id, "Encrypt", "key/abc", "10.0.1.7") is Denial.RESOURCE

    svc.delete_client_key(acct, key.client_key_id)
    assert svc.client_key(key.client_key_id) is None


def test_references_stay_whole(any_world: World) -> None:
    w = any_world
    svc = w.services.instances
    instance_id, acct = _set_up(w)
    with pytest.raises(errors.ResourceInUse):
        svc.delete_network_rule(acct, "net")
    with pytest.raises(errors.ResourceInUse):
        svc.delete_policy(acct, "pol")
    made = svc.create_client_key(acct, "app", "pass-word-1", None, None)
    with pytest.raises(errors.ResourceInUse):
        svc.delete_aap(acct, "app")
    with pytest.raises(errors.ResourceInUse):  # a policy is scoped to it
        svc.release(acct, instance_id)
    with pytest.raises(errors.InvalidValue):
        svc.create_policy(acct, "p2", instance_id, (KEY_USER,), ("key/*",), ("nope",), "")
    with pytest.raises(errors.InstanceNotFound):
        svc.create_policy(acct, "p2", "kst-hzzmissing", (KEY_USER,), ("key/*",), ("net",), "")
    with pytest.raises(errors.AlreadyExists):
        svc.create_network_rule(acct, "net", "Private", ("10.0.0.1/32",), "")
    svc.delete_client_key(acct, made.key.client_key_id)
    svc.delete_aap(acct, "app")
    svc.delete_policy(acct, "pol")
    svc.delete_network_rule(acct, "net")
    svc.release(acct, instance_id)
    assert svc.instance(instance_id) is None


def test_quotas_are_counted_and_enforced(any_world: World) -> None:
    w = any_world
    svc = w.services.instances
    instance_id, acct = _set_up(w)
    with w.dep.db.write() as tx:
        svc.admit(tx, acct, instance_id, "key")
    infos = {q.resource_type: (q.quota, q.used) for q in svc.quota_infos(acct, instance_id, None)}
    assert infos["key"] == (2, 0) and infos["secret"] == (1, 0)
    off = svc.create_instance(acct, "i2", connect=False)
    with pytest.raises(errors.InstanceStateInvalid), w.dep.db.write() as tx:
        svc.admit(tx, acct, off.instance_id, "key")
    with pytest.raises(errors.InstanceNotFound), w.dep.db.write() as tx:
        svc.admit(tx, "1234567890123456", instance_id, "key")
    assert repo.count_keys(w.dep.db, instance_id) == 0


def test_client_key_validity_and_password_rules(any_world: World) -> None:
    w = any_world
    svc = w.services.instances
    _, acct = _set_up(w)
    made = svc.create_client_key(acct, "app", "Abcdefgh1", "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
    key = made.key
    assert key.valid_at(START)  # 2027-01-15
    assert not key.valid_at(1_830_400_000.0)  # 2028-01-02: past NotAfter
    assert key.not_after == 1_830_297_600.0
    assert base64.b64encode(made.pkcs12).startswith(b"MII")
    for bad in ("short1", "abcdefghij", "a" * 65, "pass word 1"):
        with pytest.raises(errors.InvalidValue):
            svc.create_client_key(acct, "app", bad, None, None)
    with pytest.raises(errors.InvalidValue):
        svc.create_client_key(acct, "app", "pass-word-1", "2028-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
    with pytest.raises(errors.InvalidValue):
        svc.create_client_key(acct, "app", "pass-word-1", "2028-01-01T00:00:00Z", None)
    with pytest.raises(errors.ResourceNotFound):
        svc.create_client_key(acct, "nope", "pass-word-1", None, None)
