"""Tables for signing in to the web portal and the API, kept apart from the school tables.

- ``web_credential``: a school user's Argon2 password hash (one per user);
- ``web_operator``: the service's operators, separate accounts with no school;
- ``web_sign_in_throttle``: failed sign-ins per email, for the growing lock-out;
- ``api_token``: per-user API tokens, stored only as SHA-256 hashes.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlmodel import Field, SQLModel

from .models import _time


class WebCredential(SQLModel, table=True):
    __tablename__ = "web_credential"

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, index=True)
    password_hash: str = Field(max_length=255)
    updated_at: Optional[dt.datetime] = _time(nullable=True)


class WebOperator(SQLModel, table=True):
    __tablename__ = "web_operator"

    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)  # stored lower-case
    password_hash: Optional[str] = Field(default=None, max_length=255)
    created_at: Optional[dt.datetime] = _time(nullable=True)


class WebSignInThrottle(SQLModel, table=True):
    __tablename__ = "web_sign_in_throttle"

    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    failures: int = 0
    locked_until: Optional[dt.datetime] = _time(nullable=True)
    last_failure_at: Optional[dt.datetime] = _time(nullable=True)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)  # sha256 hex of the whole token
    hint: str = Field(max_length=12)  # the token's first characters, so a person can tell tokens apart
    label: Optional[str] = Field(default=None, max_length=100)
    created_at: Optional[dt.datetime] = _time(nullable=True)
    last_used_at: Optional[dt.datetime] = _time(nullable=True)
    revoked_at: Optional[dt.datetime] = _time(nullable=True)
