"""Link tokens: format, round trip, and refusal of anything forged or malformed."""

import base64
import hashlib
import hmac
import random
from datetime import datetime, timedelta, timezone

import pytest

from FileStream.core.tokens import LinkClaim, make_link_token, new_file_id, new_link_secret, read_link_token

SECRET = b"k" * 32
FILE_ID = "AAECAwQFBgcICQoL"   # bytes 0..11
WHEN = datetime(2026, 12, 1, 10, 30, 0, tzinfo=timezone.utc)


def test_new_ids_and_secrets():
    ids = {new_file_id() for _ in range(1000)}
    assert len(ids) == 1000
    for file_id in ids:
        assert len(file_id) == 16 and len(base64.urlsafe_b64decode(file_id)) == 12
        assert set(file_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    secret = new_link_secret()
    assert isinstance(secret, bytes) and len(secret) == 32 and secret != new_link_secret()


def test_round_trip_with_and_without_expiry():
    token = make_link_token(SECRET, FILE_ID, WHEN)
    assert len(token) == 48 and "=" not in token
    assert read_link_token(SECRET, token) == LinkClaim(FILE_ID, WHEN)
    forever = make_link_token(SECRET, FILE_ID, None)
    assert read_link_token(SECRET, forever) == LinkClaim(FILE_ID, None)


def test_layout_is_the_documented_one():
    token = make_link_token(SECRET, FILE_ID, WHEN)
    raw = base64.urlsafe_b64decode(token)
    id_raw, expires, mac = raw[:12], raw[12:20], raw[20:]
    assert id_raw == bytes(range(12))
    assert int.from_bytes(expires, "big") == int(WHEN.timestamp())
    assert mac == hmac.new(SECRET, b"filestream-link-v1" + id_raw + expires, hashlib.sha256).digest()[:16]


def test_expiry_rounds_down_to_the_second():
    claim = read_link_token(SECRET, make_link_token(SECRET, FILE_ID, WHEN + timedelta(microseconds=999_999)))
    assert claim.expires_at == WHEN


def test_claim_expiry():
    claim = LinkClaim(FILE_ID, WHEN)
    assert not claim.is_expired(WHEN - timedelta(seconds=1))
    assert claim.is_expired(WHEN)
    assert not LinkClaim(FILE_ID, None).is_expired(WHEN + timedelta(days=10_000))


def test_every_single_character_change_is_refused():
    token = make_link_token(SECRET, FILE_ID, WHEN)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rng = random.Random(1)
    for i in range(len(token)):
        for replacement in rng.sample(alphabet, 6):
            if replacement != token[i]:
                assert read_link_token(SECRET, token[:i] + replacement + token[i + 1:]) is None


def test_extending_the_expiry_is_refused():
    raw = bytearray(base64.urlsafe_b64decode(make_link_token(SECRET, FILE_ID, WHEN)))
    raw[12:20] = (0).to_bytes(8, "big")     # "never expires"
    assert read_link_token(SECRET, base64.urlsafe_b64encode(bytes(raw)).decode()) is None


def test_other_secret_is_refused():
    assert read_link_token(b"other" * 8, make_link_token(SECRET, FILE_ID, WHEN)) is None


@pytest.mark.parametrize("token", [
    "", "x", "A" * 47, "A" * 49, "A" * 48, "+" * 48, "/" * 48, "=" * 48, "A" * 44 + "====",
    " " + "A" * 47, "A" * 47 + "\n", "é" * 48, None, 123,
])
def test_malformed_tokens_are_refused(token):
    assert read_link_token(SECRET, token) is None


def test_token_with_base64_standard_alphabet_is_refused():
    token = make_link_token(SECRET, FILE_ID, WHEN)
    translated = token.replace("-", "+").replace("_", "/")
    if translated != token:
        assert read_link_token(SECRET, translated) is None


@pytest.mark.parametrize("file_id", ["", "short", "A" * 17, "AAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAA+/", None])
def test_make_rejects_bad_file_ids(file_id):
    with pytest.raises(ValueError):
        make_link_token(SECRET, file_id, WHEN)


def test_make_rejects_bad_inputs():
    with pytest.raises(ValueError):
        make_link_token(b"", FILE_ID, WHEN)
    with pytest.raises(ValueError):
        make_link_token(SECRET, FILE_ID, datetime(2026, 1, 1))            # naive
    with pytest.raises(ValueError):
        make_link_token(SECRET, FILE_ID, datetime(1960, 1, 1, tzinfo=timezone.utc))
    assert read_link_token(b"", make_link_token(SECRET, FILE_ID, WHEN)) is None


def test_bundle_tokens_round_trip_and_never_pass_for_file_tokens_or_the_reverse():
    from FileStream.core.tokens import BundleClaim, make_bundle_token, read_bundle_token

    bundle_token = make_bundle_token(SECRET, FILE_ID, WHEN)
    assert len(bundle_token) == 48
    assert read_bundle_token(SECRET, bundle_token) == BundleClaim(bundle_id=FILE_ID, expires_at=WHEN)
    file_token = make_link_token(SECRET, FILE_ID, WHEN)
    assert file_token != bundle_token
    assert read_bundle_token(SECRET, file_token) is None, "a file link cannot open a bundle"
    assert read_link_token(SECRET, bundle_token) is None, "a bundle link cannot open a file"
    assert read_bundle_token(b"other" * 8, bundle_token) is None
    forever = make_bundle_token(SECRET, FILE_ID, None)
    assert read_bundle_token(SECRET, forever).expires_at is None
