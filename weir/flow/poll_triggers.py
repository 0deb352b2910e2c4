"""The polling trigger kinds: ``files`` (a directory, local or on SFTP or SMB, or an S3 prefix)
and ``mail`` (an IMAP folder). Each new item starts one execution.

Their connections are the file and mail nodes' own fields: a ``files`` trigger names one of
``local``, ``sftp``, ``smb``, ``s3`` and writes under it what that node takes beside its
operation (host, username, password...); a ``mail`` trigger is the mail node's ``receive``
with the poll settings added. So one set of fields, checks and clients serves node and trigger.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model, model_validator

from weir.lang.durations import Duration
from weir.lang.types import Strict
from weir.nodes.file import FileConfig
from weir.nodes.mail import MailReceive
from weir.nodes.operations import OneOperation
from weir.nodes.s3 import S3Config
from weir.nodes.sftp import SftpConfig
from weir.nodes.smb import SmbConfig

REMEMBER = "90d"
"""How long an item's mark is kept by default: an item still there after that fires again."""


def connection_model(node: type[OneOperation[Any]], name: str) -> type[BaseModel]:
    """The node config's fields without its operations: what a trigger writes to connect."""
    fields: dict[str, Any] = {
        field_name: (info.annotation, info)
        for field_name, info in node.model_fields.items()
        if (info.alias or field_name) not in node.OPERATIONS
    }
    model: type[BaseModel] = create_model(name, __base__=Strict, **fields)
    return model


LocalConnection = connection_model(FileConfig, "LocalConnection")
SftpConnection = connection_model(SftpConfig, "SftpConnection")
SmbConnection = connection_model(SmbConfig, "SmbConnection")
S3Connection = connection_model(S3Config, "S3Connection")

NODE_CONFIGS: dict[str, type[OneOperation[Any]]] = {
    "local": FileConfig,
    "sftp": SftpConfig,
    "smb": SmbConfig,
    "s3": S3Config,
}
"""The node config whose file system each ``files`` source uses."""


class PollSettings(Strict):
    """When and how much a polling trigger takes."""

    interval: Duration = Field("30s", validate_default=True, description="Time between polls.")
    limit: int = Field(100, ge=1, le=10000, description="New items started per poll at most.")
    concurrency: int | None = Field(
        None, ge=1, description="Executions of this trigger at once; `limit` if unset."
    )
    remember: Duration = Field(
        REMEMBER,
        validate_default=True,
        description="How long an item is remembered as started. Keep it longer than any item "
        "stays where it is found: one still there after this starts again (or use `after`).",
    )


class MoveTo(Strict):
    move: str = Field(min_length=1, description="Directory (or S3 prefix) to move the file to.")


class FilesTrigger(PollSettings):
    """Starts one execution per new file in a directory, local or on a server, or per new S3
    object under a prefix."""

    local: LocalConnection | None = Field(  # type: ignore[valid-type]
        None, description="A local directory: the file node's baseDir (the default source)."
    )
    sftp: SftpConnection | None = Field(  # type: ignore[valid-type]
        None, description="An SFTP server: the sftp node's connection fields."
    )
    smb: SmbConnection | None = Field(  # type: ignore[valid-type]
        None, description="An SMB share: the smb node's connection fields."
    )
    s3: S3Connection | None = Field(  # type: ignore[valid-type]
        None, description="An S3 bucket: the s3 node's connection fields."
    )
    path: str = Field(
        min_length=1,
        description="Directory to watch (an S3 key prefix), as the source's node names paths.",
    )
    pattern: str | None = Field(None, description='Glob matched against file names: "*.csv".')
    recursive: bool = Field(False, description="Also watch subdirectories.")
    settle: Duration = Field(
        "5s",
        validate_default=True,
        description="A file starts once its size and modification time stayed the same this "
        "long (two looks apart): one still being written waits. S3 objects are whole at once.",
    )
    after: Literal["keep", "delete"] | MoveTo = Field(
        "keep",
        description="What happens to a file once its execution succeeded: keep it, delete it, "
        "or {move: directory}. A failed execution's file is kept.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> FilesTrigger:
        chosen = self.sources()
        if len(chosen) > 1:
            raise ValueError(f"files takes one of local, sftp, smb, s3; found {', '.join(chosen)}")
        self.node_config()  # the node's own checks (sftp needs a password or a key...)
        return self

    def sources(self) -> list[str]:
        return [name for name in NODE_CONFIGS if getattr(self, name) is not None]

    @property
    def source(self) -> str:
        chosen = self.sources()
        return chosen[0] if chosen else "local"

    def node_config(self) -> OneOperation[Any]:
        """The source's node config, listing ``path``: its fields make the file system."""
        connection = getattr(self, self.source)
        fields = connection.model_dump(by_alias=True, exclude_unset=True) if connection else {}
        if self.source == "local":
            fields.setdefault("baseDir", ".")
        listing = {"prefix": self.path} if self.source == "s3" else {"path": self.path}
        return NODE_CONFIGS[self.source].model_validate({**fields, "list": listing})


class MailTrigger(MailReceive, PollSettings):
    """Starts one execution per new message in an IMAP folder: the mail node's receive, polled.
    ``markSeen`` and ``moveTo`` act once the message's execution succeeded."""

    limit: int = Field(50, ge=1, le=10000, description="New messages started per poll at most.")
