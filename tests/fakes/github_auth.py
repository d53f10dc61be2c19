"""The fake GitHub App: its RSA key pair, JWT checks and installation tokens.

The key pair is generated once per fake so the bot signs real RS256 JWTs with
`private_key_pem` and the fake verifies them with the public key, as GitHub does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.github_state import State, Token

# GitHub refuses JWTs that live longer than ten minutes
MAX_JWT_LIFETIME = 600
CLOCK_SKEW = 60


def _key_pair() -> tuple[str, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # what GitHub hands out
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


@dataclass
class AppIdentity:
    app_id: int = 4242
    client_id: str = "Iv1.fakeclientid0001"
    slug: str = "model-routing-bot"
    installation_id: int = 7331
    owner_login: str = "octo-org"
    token_lifetime: timedelta = timedelta(hours=1)
    private_key_pem: str = field(init=False)
    _public_key: rsa.RSAPublicKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.private_key_pem, self._public_key = _key_pair()

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"

    def verify_jwt(self, token: str) -> str | None:
        """None when the JWT is good, else GitHub's message for the 401."""
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"], "verify_iat": False},
                leeway=CLOCK_SKEW,
            )
        except jwt.ExpiredSignatureError:
            return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
        except jwt.PyJWTError:
            return "A JSON web token could not be decoded"
        now = datetime.now(UTC).timestamp()
        if claims["iat"] > now + CLOCK_SKEW:
            return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
        if claims["exp"] - claims["iat"] > MAX_JWT_LIFETIME + CLOCK_SKEW:
            return "'Expiration time' claim ('exp') is too far in the future"
        if str(claims["iss"]) not in (str(self.app_id), self.client_id):
            return "'Issuer' claim ('iss') must be an Integer"
        return None

    def issue_token(self, state: State, installation_id: int) -> Token:
        expires = datetime.now(UTC) + self.token_lifetime
        token = Token(
            value="ghs_" + secrets.token_hex(18),
            login=self.bot_login,
            installation_id=installation_id,
            expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        state.tokens[token.value] = token
        state.user(self.bot_login, "Bot")
        return token


def token_owner(state: State, value: str) -> Token | None:
    """The token's record if it was issued (and has not expired) or added as static."""
    token = state.tokens.get(value)
    if token is None:
        return None
    if token.expires_at:
        expiry = datetime.strptime(token.expires_at, "%Y-%m-%dT%H:%M:%SZ")
        if expiry.replace(tzinfo=UTC) <= datetime.now(UTC):
            return None
    return token
