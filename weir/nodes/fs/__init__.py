"""File systems for the file-like node kinds: one contract (``base``), the operations that run
against it (``ops``), and one adapter per kind: ``local`` (`file`), ``sftp`` (paramiko, with its
connections in ``ssh``), ``smb`` (smbprotocol) and ``s3`` (boto3, clients in ``s3_client``).
docs/nodes/filesystems.md explains how to add one."""
