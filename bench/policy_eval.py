"""What an access decision costs: an Encrypt by a RAM user whose identity policy has ten
statements, against the same Encrypt by the account's root, with the key's default policy.

    .venv/bin/python bench/policy_eval.py [-n 200000]

Each figure is the best of five timeit runs. A decision's includes building the request context
and the check, as the server does on every request; ``evaluate`` is the one identity policy alone.
"""

from __future__ import annotations

import argparse
import json
import timeit
from datetime import UTC, datetime
from ipaddress import ip_address

from openkms.domain.access import Check, Principal, RequestContext
from openkms.domain.arn import key_arn
from openkms.domain.authorization import decide
from openkms.domain.keypolicy import default_policy
from openkms.domain.policy import PolicyKind, evaluate, parse_identity_policy, parse_resource_policy

ACCOUNT = "1111111111111111"
REGION = "cn-hangzhou"
KEY = key_arn(REGION, ACCOUNT, "key-hzz62f1cb66fa42qo3xr8")

# Ten statements of the kinds real policies hold: denies, wildcards, conditions, other services.
STATEMENTS = [
    {"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
    {"Effect": "Deny", "Action": ["kms:Decrypt"], "Resource": f"acs:kms:*:{ACCOUNT}:key/key-secret*"},
    {"Effect": "Allow", "Action": ["kms:List*", "kms:Describe*"], "Resource": "*"},
    {"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": f"acs:kms:*:{ACCOUNT}:secret/app/*"},
    {"Effect": "Allow", "Action": ["ecs:Describe*", "oss:Get*"], "Resource": "*"},
    {
        "Effect": "Allow",
        "Action": "kms:GenerateDataKey",
        "Resource": "*",
        "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
    },
    {
        "Effect": "Allow",
        "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": [f"acs:kms:{REGION}:{ACCOUNT}:key/key-*", f"acs:kms:{REGION}:{ACCOUNT}:alias/*"],
        "Condition": {"Bool": {"acs:SecureTransport": "true"}},
    },
    {"Effect": "Allow", "Action": "kms:TagResource", "Resource": f"acs:kms:*:{ACCOUNT}:key/*"},
    {"Effect": "Allow", "Action": "kms:Get*", "Resource": f"acs:kms:*:{ACCOUNT}:key/*"},
    {
        "Effect": "Deny",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"DateGreaterThan": {"acs:CurrentTime": "2099-01-01T00:00:00Z"}},
    },
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200_000)
    args = parser.parse_args()

    identity = [parse_identity_policy(json.dumps({"Version": "1", "Statement": STATEMENTS}))]
    key_policy = parse_resource_policy(default_policy(ACCOUNT), PolicyKind.KEY)
    user, root = Principal.user(ACCOUNT, "alice"), Principal.root(ACCOUNT)
    now, ip = datetime.now(UTC), ip_address("10.1.2.3")

    def one(principal: Principal, policies: list) -> bool:  # type: ignore[type-arg]
        ctx = RequestContext(principal, now, ip, True, None)
        return decide(ctx, (Check("kms:Encrypt", KEY, key_policy),), policies).allowed

    assert one(user, identity) and one(root, [])
    ctx, check = RequestContext(user, now, ip, True, None), Check("kms:Encrypt", KEY, key_policy)
    runs = timeit.repeat(lambda: evaluate(identity[0], ctx, check), number=args.n, repeat=5)
    print(f"{'evaluate, 10 statements':>24}: {min(runs) / args.n * 1e6:6.2f} µs per policy")
    for name, principal, policies in (("root", root, []), ("user, 10 statements", user, identity)):
        runs = timeit.repeat(lambda p=principal, ps=policies: one(p, ps), number=args.n, repeat=5)
        best = min(runs) / args.n
        print(f"{name:>24}: {best * 1e6:6.2f} µs per decision")


if __name__ == "__main__":
    main()
