#!/usr/bin/env python3
"""Mints JWTs with PyJWT + cryptography for tests/auth_jwt.rs.

The Rust verifier is tested against tokens produced by code we did not write.
Keys are generated fresh on every run; the clock is fixed (NOW) so verdicts are
deterministic. Prints one JSON document on stdout:

  {"now", "issuer", "audience", "hs_secret", "rsa_public_pem", "ec_public_pem",
   "jwks", "tokens": {"hs256": {...}, "rs256": {...}, "es256": {...}}}

Each family maps case name -> compact JWT. Hand-built tokens (alg none, the
HS256-with-the-RSA-public-PEM confusion attack) use only base64/hmac from the
standard library, because PyJWT rightly refuses to produce them.
"""
import base64
import hashlib
import hmac
import json
import secrets

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

NOW = 1_800_000_000
ISSUER = "https://issuer.example.com/"
AUDIENCE = "oss-direct-upload"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_json(obj) -> str:
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(**overrides):
    c = {"sub": "user-42", "iss": ISSUER, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 600}
    for k, v in overrides.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def family(alg, key, other_key, kid):
    headers = {"kid": kid} if kid else None

    def mint(payload, k=key, hdrs=headers):
        return jwt.encode(payload, k, algorithm=alg, headers=hdrs)

    none_token = b64u_json({"alg": "none", "typ": "JWT"}) + "." + b64u_json(claims()) + "."
    return {
        "valid": mint(claims()),
        "exp_within_leeway": mint(claims(exp=NOW - 10)),
        "expired": mint(claims(exp=NOW - 3600)),
        "missing_exp": mint(claims(exp=None)),
        "nbf_future": mint(claims(nbf=NOW + 3600, exp=NOW + 7200)),
        "wrong_signature": mint(claims(), k=other_key),
        "wrong_aud": mint(claims(aud="someone-else")),
        "wrong_iss": mint(claims(iss="https://evil.example.com/")),
        "missing_iss": mint(claims(iss=None)),
        "alg_none": none_token,
        "missing_sub": mint(claims(sub=None)),
        "numeric_sub": mint(claims(sub=12345)),
        "empty_sub": mint(claims(sub="")),
        "array_sub": mint(claims(sub=["user-42"])),
        "object_sub": mint(claims(sub={"id": "user-42"})),
        "float_sub": mint(claims(sub=1.5)),
        "unicode_sub": mint(claims(sub="用户/../x")),
        "oversized": mint(claims(padding="x" * 9000)),
    }


def main():
    hs_secret = secrets.token_hex(32)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_other = ec.generate_private_key(ec.SECP256R1())
    rsa_pem = public_pem(rsa_key)
    ec_pem = public_pem(ec_key)

    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update({"kid": "rsa-1", "use": "sig", "alg": "RS256"})
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update({"kid": "ec-1", "use": "sig"})
    # A key for encryption only must be ignored by a verifier.
    enc_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_other.public_key()))
    enc_jwk.update({"kid": "enc-1", "use": "enc"})
    jwks = {"keys": [rsa_jwk, ec_jwk, enc_jwk]}

    hs = family("HS256", hs_secret, secrets.token_hex(32), None)
    rs = family("RS256", rsa_key, rsa_other, "rsa-1")
    es = family("ES256", ec_key, ec_other, "ec-1")

    # Algorithm confusion: HS256 "signed" with the RSA public key PEM as the secret.
    header = b64u_json({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    body = b64u_json(claims())
    mac = hmac.new(rsa_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    rs["hs256_with_public_pem"] = f"{header}.{body}.{b64u(mac)}"
    # A kid the JWKS does not hold, and an RSA-signed token claiming the EC key's kid.
    rs["unknown_kid"] = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "nope"})
    rs["kid_of_other_key"] = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "ec-1"})
    rs["kid_of_enc_key"] = jwt.encode(claims(), rsa_other, algorithm="RS256", headers={"kid": "enc-1"})
    # No kid at all, against a JWKS with several keys.
    rs["no_kid"] = jwt.encode(claims(), rsa_key, algorithm="RS256")
    es["no_kid"] = jwt.encode(claims(), ec_key, algorithm="ES256")

    print(
        json.dumps(
            {
                "now": NOW,
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "hs_secret": hs_secret,
                "rsa_public_pem": rsa_pem,
                "ec_public_pem": ec_pem,
                "jwks": jwks,
                "tokens": {"hs256": hs, "rs256": rs, "es256": es},
            }
        )
    )


if __name__ == "__main__":
    main()
