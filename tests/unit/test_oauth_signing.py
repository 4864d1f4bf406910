from __future__ import annotations

from pathlib import Path

import jwt

from runtime.oauth.signing import SIGNING_KEY_FILE, load_or_create_signing_key


def test_key_is_created_once_private_and_verifiable(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path)
    again = load_or_create_signing_key(tmp_path)
    assert again.kid == key.kid
    assert (tmp_path / SIGNING_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [SIGNING_KEY_FILE]
    token = key.sign({"sub": "x", "aud": "a"})
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    (jwk,) = key.jwks()["keys"]
    assert jwk["kid"] == key.kid
    assert {k: jwk[k] for k in ("kty", "alg", "use")} == {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
    }
    public = jwt.PyJWK(jwk).key
    assert jwt.decode(token, public, algorithms=["RS256"], audience="a") == {"sub": "x", "aud": "a"}
    assert "PRIVATE" not in repr(key)


def test_kid_is_the_rfc7638_thumbprint(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path)
    jwk = key.jwk()
    expected = jwt.PyJWK({k: jwk[k] for k in ("kty", "n", "e")})
    assert len(key.kid) == 43
    assert expected.key_type == "RSA"
    other = load_or_create_signing_key(tmp_path / "other")
    assert other.kid != key.kid
