"""Request and response models of `/api/admin` (users and collections). What leaves the server is a user's
name, role and counts, never a password hash or a stored key hash; a new API key is returned once."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from assistant.storage import CollectionInfo, NewKey, UserInfo
from assistant.storage.users import MAX_PASSWORD, MIN_PASSWORD

# What `assistant.storage.users.check_name` accepts, for the schema (checked again by the handlers).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
NAME_RULE = "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
PASSWORD_RULE = f"{MIN_PASSWORD} to {MAX_PASSWORD} characters"


class UserOut(BaseModel):
    name: str
    admin: bool = Field(description="May manage documents, collections and users.")
    has_password: bool = Field(description="May sign in on /login with name and password.")
    keys: int = Field(description="How many API keys the user has (the keys themselves are never shown).")
    created_at: datetime

    @classmethod
    def of(cls, user: UserInfo) -> UserOut:
        return cls(
            name=user.name,
            admin=user.is_admin,
            has_password=user.has_password,
            keys=user.keys,
            created_at=user.created_at,
        )


class UserList(BaseModel):
    users: list[UserOut]


class UserCreate(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str = Field(description=f"Unique; {NAME_RULE}.", json_schema_extra={"pattern": NAME_PATTERN})
    admin: bool = Field(False, description="An admin (else a member, who uses the collections granted).")
    password: str | None = Field(
        None,
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD,
        description=f"For signing in on /login ({PASSWORD_RULE}); absent: API key only.",
    )


class NewUserKey(BaseModel):
    """A user and the API key just made for them: shown this once, stored only as a hash."""

    user: UserOut
    api_key: str = Field(description="Send as `Authorization: Bearer <key>`; it cannot be shown again.")

    @classmethod
    def of(cls, made: NewKey) -> NewUserKey:
        return cls(user=UserOut.of(made.user), api_key=made.api_key)


class PasswordChange(BaseModel):
    model_config = ConfigDict(strict=True)
    password: str | None = Field(
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD,
        description=f"The new password ({PASSWORD_RULE}); null removes it (API keys only).",
    )


class UserDeleted(BaseModel):
    deleted: str = Field(description="The user removed, with their keys, grants and conversations.")


class CollectionOut(BaseModel):
    name: str
    members: list[str] = Field(description="The members it is granted to (admins may use every collection).")
    created_at: datetime

    @classmethod
    def of(cls, collection: CollectionInfo) -> CollectionOut:
        return cls(name=collection.name, members=list(collection.users), created_at=collection.created_at)


class CollectionList(BaseModel):
    collections: list[CollectionOut]


class CollectionCreate(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str = Field(description=f"Unique; {NAME_RULE}.", json_schema_extra={"pattern": NAME_PATTERN})
