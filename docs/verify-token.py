#!/usr/bin/env python3
"""Verify dingtalk-oidc tokens as a relying service should (Python twin of examples/verify_token.rs).

    pip install "pyjwt[crypto]>=2.13" requests
    python docs/verify-token.py --issuer URL --audience AUD [--expect-type access|id] [TOKEN... | -]

With no TOKEN (or "-"), tokens are read from stdin, one per line, sharing one JWKS cache. Each
verified token's claims are printed as one JSON line on stdout; a rejected token's reason goes to
stderr, as do notes on what the JWKS cache did. Exit status: 0 when every token verified, 1 when
any was rejected or the issuer could not be reached, 2 for a bad command line.

PyJWT's own jwt.PyJWKClient would also work, but it keeps keys for a fixed `lifespan` and ignores
the JWKS response's Cache-Control and ETag; the small cache below honours both. See
docs/verifying-tokens.md for what is checked and why.
"""

import argparse
import json
import sys
import time

import jwt
import requests

# A token naming an unknown kid makes us refetch at once (the key may be new), but anyone can
# mint such a token: at most one forced refetch per this many seconds.
FORCED_REFETCH_COOLDOWN = 10
# Trust a key set at most a day whatever max-age says: a withdrawn key leaves the JWKS.
MAX_FRESHNESS = 24 * 3600
TIMEOUT = 10


def log(message):
    print(message, file=sys.stderr, flush=True)


def discover(issuer):
    """OpenID Connect Discovery 1.0 §4: the metadata, of which we need jwks_uri."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    response = requests.get(url, timeout=TIMEOUT)
    response.raise_for_status()
    metadata = response.json()
    # Discovery §4.3: the document must name exactly the issuer we asked about.
    if metadata.get("issuer") != issuer:
        raise ValueError(f"{url} is for issuer {metadata.get('issuer')!r}, not {issuer!r}")
    return metadata["jwks_uri"]


def freshness_lifetime(headers):
    """RFC 9111 §4.2.1, §5.2.2: max-age less Age; nothing for no-cache/no-store or no max-age."""
    max_age = 0
    for directive in headers.get("Cache-Control", "").split(","):
        directive = directive.strip().lower()
        if directive in ("no-cache", "no-store"):
            return 0
        if directive.startswith("max-age="):
            try:
                max_age = int(directive.removeprefix("max-age=").strip('"'))
            except ValueError:
                max_age = 0
    try:
        age = int(headers.get("Age", "0"))
    except ValueError:
        age = 0
    return min(max(max_age - age, 0), MAX_FRESHNESS)


def usable_keys(jwks):
    """The RS256 signing keys by kid. Others are skipped (RFC 7517 §5: ignore what you don't
    understand); keys for encryption (`use`, §4.2) or another algorithm (`alg`, §4.4) must not
    verify our signatures."""
    keys = {}
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        if "kid" not in jwk:
            continue
        try:
            keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
        except jwt.PyJWTError:
            continue
    return keys


class JwksCache:
    """The issuer's keys, kept as long as Cache-Control allows and revalidated with the ETag."""

    def __init__(self, uri):
        self.uri = uri
        self.session = requests.Session()
        self.keys = {}
        self.etag = None
        self.fresh_until = None  # None until the first fetch
        self.last_forced_refetch = None

    def key(self, kid):
        if self.fresh_until is None or time.monotonic() >= self.fresh_until:
            self.refresh()
        # OIDC Core §10.1.1: an unfamiliar kid may be a new key; look again, but not too often.
        if kid not in self.keys and (
            self.last_forced_refetch is None or time.monotonic() - self.last_forced_refetch >= FORCED_REFETCH_COOLDOWN
        ):
            log(f"jwks: unknown kid {kid!r}, refetching")
            self.last_forced_refetch = time.monotonic()
            self.refresh()
        if kid not in self.keys:
            raise ValueError(f"no key with kid {kid!r} in the issuer's JWKS")
        return self.keys[kid]

    def refresh(self):
        asked_at = time.monotonic()  # freshness counts from the request (RFC 9111 §4.2.3)
        headers = {"If-None-Match": self.etag} if self.etag else {}
        response = self.session.get(self.uri, headers=headers, timeout=TIMEOUT)
        lifetime = freshness_lifetime(response.headers)
        if response.status_code == 304 and self.etag:
            # Our keys are current; only the freshness is renewed (RFC 9111 §4.3.4).
            log(f"jwks: not modified (304), keeping {len(self.keys)} keys for {lifetime}s")
        elif response.status_code == 200:
            self.keys = usable_keys(response.json())
            self.etag = response.headers.get("ETag")
            log(f"jwks: fetched {len(self.keys)} keys (200), fresh for {lifetime}s")
        else:
            raise ValueError(f"{self.uri} answered {response.status_code}")
        self.fresh_until = asked_at + lifetime


def check_type(typ, expect):
    """Access tokens are at+jwt (RFC 9068 §2.1, §4), our ID tokens JWT; logout+jwt is neither."""
    typ = (typ or "").lower().removeprefix("application/")  # RFC 7515 §4.1.9
    found = {"at+jwt": "access", "jwt": "id"}.get(typ)
    if found is None:
        raise ValueError(f"token type {typ!r} is neither an access token (at+jwt) nor an ID token (JWT)")
    if expect and expect != found:
        raise ValueError(f"expected {expect} token, got {found} token")


def verify(jwks, token, issuer, audience, expect):
    # Read unverified only to pick the key; nothing in it counts until the signature checks out.
    header = jwt.get_unverified_header(token)
    # RS256 only, whatever the token says (RFC 8725 §2.1, §3.1): no `none`, no HS256 "keyed" with
    # our public key. `algorithms=["RS256"]` below enforces it as well.
    if header.get("alg") != "RS256":
        raise ValueError(f"algorithm {header.get('alg')!r} is not accepted (RS256 only)")
    check_type(header.get("typ"), expect)
    kid = header.get("kid")
    if not kid:
        raise ValueError("token header has no kid")
    return jwt.decode(
        token,
        jwks.key(kid),
        algorithms=["RS256"],
        # iss exactly (OIDC Core §3.1.3.7, RFC 9068 §4; PyJWT 2.10.0 matched it partially),
        # aud must contain ours, exp checked with 60 s for clock skew.
        issuer=issuer,
        audience=audience,
        leeway=60,
        options={"require": ["iss", "sub", "aud", "exp"]},
    )


def main():
    parser = argparse.ArgumentParser(description="Verify dingtalk-oidc tokens.")
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--expect-type", choices=["access", "id"])
    parser.add_argument("tokens", nargs="*", metavar="TOKEN")
    args = parser.parse_args()  # exits 2 on a bad command line

    try:
        jwks = JwksCache(discover(args.issuer))
    except (requests.RequestException, ValueError, KeyError) as e:
        log(f"error: {e}")
        return 1

    tokens = sys.stdin if args.tokens in ([], ["-"]) else args.tokens
    seen, all_verified = 0, True
    for token in tokens:
        token = token.strip()
        if not token:
            continue
        seen += 1
        try:
            claims = verify(jwks, token, args.issuer, args.audience, args.expect_type)
            print(json.dumps(claims), flush=True)
        except (jwt.PyJWTError, requests.RequestException, ValueError) as e:
            all_verified = False
            log(f"token {seen}: rejected: {e}")
    if seen == 0:
        log("error: no token given")
        return 1
    return 0 if all_verified else 1


if __name__ == "__main__":
    sys.exit(main())
