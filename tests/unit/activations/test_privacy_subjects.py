"""The erasure ledger's subject of an email is computed in Python (``activations.privacy.canonical_email``) and must
equal the identity graph's matching form (``outflow.normalize.email``), or an erased address would not be
recognised at a destination. Clean addresses take a fast path; these cases hold it to the full rules."""

from __future__ import annotations

import random

import pytest

from activations.privacy import canonical_email, subject_hash
from outflow.normalize import email

CASES = [
    # written forms: unwrapped, cleaned, validated
    "Jane Doe <Jane.Doe+news@GoogleMail.com>",
    "mailto:a@b.co.",
    "\u200bann@acme.io\u00a0",
    "x@y",
    "not-an-email",
    # clean forms a model emits, and near misses the fast path must leave to the validator
    "jane.doe+x@googlemail.com",
    "a..b@x.com",
    ".a@x.com",
    "a.@x.com",
    "a@-x.com",
    "a@x-.com",
    "a@ab--cd.com",
    "a@xn--80ak6aa92e.com",
    "a@x.onion",
    "a@mail.localhost",
    "a@b.test",
    "a@x.example",
    "a" * 65 + "@x.com",
    "a@" + "b" * 64 + ".com",
    "a@1.2.3.com",
    "%@x.com",
    "a_b@x.co",
    "a@x.c0m",
    "+news@example.com",
    "+@gmail.com",
]


@pytest.mark.parametrize("value", CASES)
def test_the_fast_path_agrees_with_the_identity_rules(value: str) -> None:
    assert canonical_email(value) == email(value).canonical


def test_random_clean_addresses_agree() -> None:
    rng = random.Random(7)
    alphabet = "abcz019._%+-"
    for _ in range(2000):
        local = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        labels = ["".join(rng.choice("abz09-") for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 3))]
        value = f"{local}@{'.'.join(labels)}.{rng.choice(['com', 'io', 'co', 'uk', 'test', 'local', 'x'])}"
        assert canonical_email(value) == email(value).canonical, value


def test_a_leading_plus_is_not_a_tag() -> None:
    assert email("+news@example.com").canonical == "+news@example.com"  # never "@example.com"
    assert subject_hash("email", canonical_email("Jane <JANE@x.io>")) == subject_hash("email", "jane@x.io")
