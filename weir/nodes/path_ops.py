"""The path operations that file-like nodes share (`file`, `sftp`, `smb`): one set of config
models, so the same fields mean the same thing on every filesystem a flow touches."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from weir.lang.expressions import Text
from weir.lang.types import Strict


def compiled_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


class ListOp(Strict):
    path: Text = Field(description="Directory to list.")
    pattern: str | None = Field(None, description='Glob matched against entry names: "*.csv".')
    regex: str | None = Field(
        None, description="Regular expression searched in each entry's path relative to `path`."
    )
    recursive: bool = Field(False, description="Descend into subdirectories.")
    filesOnly: bool = Field(False, description="Leave directories out of the result.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return compiled_regex(value)


class DeleteOp(Strict):
    path: Text = Field(description="File or empty directory to remove.")
    missingOk: bool = Field(False, description="Succeed when the path does not exist.")


class RenameOp(Strict):
    path: Text = Field(description="Path to rename or move.")
    to: Text = Field(description="New path, in the same or another directory.")
    overwrite: bool = Field(False, description="Replace an existing target.")
    mkdirs: bool = Field(False, description="Create the target's missing parent directories.")


class MkdirOp(Strict):
    path: Text = Field(description="Directory to create.")
    parents: bool = Field(
        True, description="Create missing parents too, and succeed if it already exists."
    )
