"""The node registry: every built-in node kind, in alphabetical order.

A node kind is one module here with a typed config model, a ``run`` coroutine and a ``KIND``
entry; adding a kind is adding its module and one line below.
"""

from __future__ import annotations

from weir.nodes import (
    code,
    extension,
    file,
    http,
    llm,
    log,
    mail,
    mongodb,
    rabbitmq,
    s3,
    sftp,
    sleep,
    smb,
    sql,
    state,
    subflow,
    transform,
    wait,
)
from weir.nodes.kind import NodeKind

NODE_KINDS: dict[str, NodeKind] = {
    kind.name: kind
    for kind in (
        code.KIND,
        extension.KIND,
        file.KIND,
        http.KIND,
        llm.KIND,
        log.KIND,
        mail.KIND,
        mongodb.KIND,
        rabbitmq.KIND,
        s3.KIND,
        sftp.KIND,
        sleep.KIND,
        smb.KIND,
        sql.KIND,
        state.KIND,
        subflow.KIND,
        transform.KIND,
        wait.KIND,
    )
}
