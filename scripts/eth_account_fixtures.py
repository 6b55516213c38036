#!/usr/bin/env python3
"""Cross-check weft's pairing signatures with an independent signer, Python eth-account.

Requires: pip install eth-account

    python3 scripts/eth_account_fixtures.py          # (re)write eth_account_signatures.json
    python3 scripts/eth_account_fixtures.py --check  # verify both fixture files, exit 1 on mismatch

Input:  tests/fixtures/identity/pairing_messages.json  (pairing messages weft built; see
        tests/identity_eth_account.rs, regenerate with WEFT_UPDATE_FIXTURES=1)
Output: tests/fixtures/identity/eth_account_signatures.json  (each message signed with
        EIP-191 personal_sign by the fixed development key of its address)
Check:  eth_account_signatures.json is what eth-account produces now, and every signature in
        weft_signatures.json (made by weft's local wallet) recovers to its stated address.
"""

import argparse
import json
import sys
from pathlib import Path

try:
    from eth_account import Account
    from eth_account.messages import encode_defunct
except ImportError:
    sys.exit("eth-account is not installed: run `pip install eth-account`")

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "identity"
MESSAGES = FIXTURES / "pairing_messages.json"
ETH_ACCOUNT_SIGNATURES = FIXTURES / "eth_account_signatures.json"
WEFT_SIGNATURES = FIXTURES / "weft_signatures.json"

# anvil/hardhat development accounts 0 and 1: public test keys, never for real funds.
DEV_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
]
KEY_BY_ADDRESS = {Account.from_key(k).address: k for k in DEV_KEYS}


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"cannot read {path}: {e}")


def sign_all():
    signatures = []
    for entry in load(MESSAGES)["messages"]:
        address = entry["address"]
        key = KEY_BY_ADDRESS.get(address)
        if key is None:
            sys.exit(f"{entry['name']}: no development key for {address}")
        signed = Account.sign_message(encode_defunct(text=entry["message"]), private_key=key)
        signatures.append(
            {
                "name": entry["name"],
                "address": address,
                "message": entry["message"],
                "signature": "0x" + bytes(signed.signature).hex(),
            }
        )
    return {
        "signer": "eth-account (Account.sign_message with encode_defunct)",
        "signatures": signatures,
    }


def check():
    problems = []
    expected = sign_all()
    if load(ETH_ACCOUNT_SIGNATURES) != expected:
        problems.append(
            f"{ETH_ACCOUNT_SIGNATURES.name} differs from what eth-account produces now; "
            "rerun this script without --check"
        )
    weft = load(WEFT_SIGNATURES)["signatures"]
    if not weft:
        problems.append(f"{WEFT_SIGNATURES.name} has no signatures")
    for entry in weft:
        try:
            recovered = Account.recover_message(
                encode_defunct(text=entry["message"]), signature=entry["signature"]
            )
        except Exception as e:  # eth-account raises several types for bad signatures
            problems.append(f"{entry['name']}: eth-account cannot recover weft's signature: {e}")
            continue
        if recovered != entry["address"]:
            problems.append(
                f"{entry['name']}: weft's signature recovers to {recovered}, "
                f"not {entry['address']}"
            )
    for problem in problems:
        print("MISMATCH:", problem, file=sys.stderr)
    if problems:
        return 1
    print(
        f"ok: {len(expected['signatures'])} eth-account signatures reproduced, "
        f"{len(weft)} weft signatures recovered by eth-account"
    )
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    args = parser.parse_args()
    if args.check:
        return check()
    out = sign_all()
    with open(ETH_ACCOUNT_SIGNATURES, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"wrote {len(out['signatures'])} signatures to {ETH_ACCOUNT_SIGNATURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
