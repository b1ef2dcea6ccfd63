"""Bench-only bulk loader: put N symmetric keys into a stopped server's data directory, fast.

Creating 100,000 keys through the API takes minutes, because every CreateKey is its own
durable commit (an fsync). This loader creates the first key with openkms's own service code
in-process (``KeyService.create``: the rows, wrapping and associated data of the API), reads its
rows back as a template, and inserts the others as copies of that template with their own ids,
dates and freshly generated material wrapped under the same KEK with their own associated data
(``material_aad``), many rows per statement and thousands per transaction. It is for the
benchmark only, and must run while no server is using the data directory.

    .venv/bin/python bench/bulkload.py --data-dir DIR --count 99990 --out key-ids.txt

Runs under the project's venv (it imports openkms). Prints the number of keys per second.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--out", type=Path, help="write the new key ids here, one a line")
    args = ap.parse_args()

    from sqlalchemy import insert, select

    from openkms.config import Settings
    from openkms.crypto import keygen
    from openkms.domain import ids as idgen
    from openkms.domain.keyspec import SPECS
    from openkms.rootkey.keyring import material_aad
    from openkms.service.deployment import open_deployment
    from openkms.service.keys import KeyService
    from openkms.store.schema import key_versions, keys

    settings = Settings()
    settings.data_dir = args.data_dir
    dep = open_deployment(settings, migrate_schema=False)
    started = time.perf_counter()
    try:
        first = KeyService(dep).create(
            key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
            description="bench bulk", enable_automatic_rotation=False, rotation_interval=None, tag_map={},
            account_uid=dep.account_id,
        )
        with dep.db.read() as conn:
            key_row = dict(conn.execute(select(keys).where(keys.c.key_id == first.key_id)).one()._mapping)
            version_row = dict(
                conn.execute(select(key_versions).where(key_versions.c.key_id == first.key_id)).one()._mapping
            )
        spec = SPECS[key_row["key_spec"]]
        kek_version = version_row["kek_version"]
        ids = [first.key_id]
        while len(ids) < args.count:
            n = min(args.batch, args.count - len(ids))
            key_rows, version_rows = [], []
            for _ in range(n):
                key_id, version_id, now = idgen.new_key_id(), idgen.new_version_id(), dep.clock.now()
                material, _ = keygen.generate(spec)
                _, wrapped = dep.keyring.wrap(material, material_aad(key_id, version_id, spec.name, kek_version))
                key_rows.append({**key_row, "key_id": key_id, "primary_version_id": version_id,
                                 "creation_date": now, "last_rotation_date": now})
                version_rows.append({**version_row, "version_id": version_id, "key_id": key_id,
                                     "creation_date": now, "material_wrapped": wrapped})
                ids.append(key_id)
            with dep.db.write() as conn:
                conn.execute(insert(keys), key_rows)
                conn.execute(insert(key_versions), version_rows)
    finally:
        dep.close()
    elapsed = time.perf_counter() - started
    if args.out:
        args.out.write_text("\n".join(ids) + "\n")
    print(f"bulkload: {len(ids)} keys in {elapsed:.1f} s ({len(ids) / elapsed:.0f} keys/s)", file=sys.stderr)


if __name__ == "__main__":
    main()
