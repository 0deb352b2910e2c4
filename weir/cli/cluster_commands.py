"""`weir crds`, `weir render` and `weir operator`: the Kubernetes side of Weir."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from weir.cli.common import UsageError, load_or_report


def add_crds(commands: Any) -> None:
    crds = commands.add_parser(
        "crds", help="write the CustomResourceDefinitions generated from the models"
    )
    crds.add_argument(
        "--output", "-o", default="crds", help="directory (default crds/); - prints them"
    )
    crds.set_defaults(handler=cmd_crds)


def add_render(commands: Any) -> None:
    render = commands.add_parser("render", help="print the Kubernetes manifests of a flow's runner")
    render.add_argument("file", metavar="FILE")
    render.add_argument("--namespace", "-n", default="default")
    render.add_argument("--image", default=None, help="runner image (default $WEIR_RUNNER_IMAGE)")
    render.set_defaults(handler=cmd_render)


def add_operator(commands: Any) -> None:
    operator = commands.add_parser("operator", help="run the Weir operator (kopf)")
    scope = operator.add_mutually_exclusive_group()
    scope.add_argument(
        "--all-namespaces", "-A", action="store_true", help="watch every namespace (default)"
    )
    scope.add_argument(
        "--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)"
    )
    operator.add_argument("--liveness-port", type=int, default=8081, help="serves /healthz")
    operator.add_argument(
        "--metrics-port", type=int, default=9090, help="serves /metrics; 0 turns it off"
    )
    operator.add_argument(
        "--peering",
        default=os.environ.get("WEIR_PEERING") or None,
        metavar="NAME",
        help="leader election among replicas through kopf's peering object NAME "
        "($WEIR_PEERING); without it the operator runs standalone, as the only replica",
    )
    operator.add_argument("--runner-image", help="default runner image ($WEIR_RUNNER_IMAGE)")
    operator.add_argument(
        "--runner-resources", help="default runner resources as JSON ($WEIR_RUNNER_RESOURCES)"
    )
    operator.add_argument(
        "--runner-store-secret",
        help="NAME/KEY of a Secret with the execution-store URL ($WEIR_RUNNER_STORE_SECRET)",
    )
    operator.set_defaults(handler=cmd_operator)


def cmd_crds(args: argparse.Namespace) -> int:
    from weir.operator.crds import render_crds, write_crds

    if args.output == "-":
        print("---\n".join(render_crds().values()), end="")
        return 0
    for path in write_crds(Path(args.output)):
        print(path)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from weir.operator.render import RenderInput, render, to_yaml
    from weir.operator.settings import RenderSettings

    flow = load_or_report(args.file)
    if flow is None:
        return 2
    settings = RenderSettings.from_env()
    if args.image:
        settings.runner_image = args.image
    # Offline there is no Flow uid, so no owner references; the operator adds them.
    print(to_yaml(render(RenderInput(flow, args.namespace, settings))), end="")
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    for flag, variable in (
        ("runner_image", "WEIR_RUNNER_IMAGE"),
        ("runner_resources", "WEIR_RUNNER_RESOURCES"),
        ("runner_store_secret", "WEIR_RUNNER_STORE_SECRET"),
    ):
        if getattr(args, flag):
            os.environ[variable] = getattr(args, flag)
    if args.runner_resources:
        try:
            json.loads(args.runner_resources)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--runner-resources is not valid JSON: {exc.msg}") from None
    import secrets

    import kopf
    from prometheus_client import start_http_server

    import weir.operator.handlers  # noqa: F401 - registers the handlers
    from weir.operator.metrics import REGISTRY

    if args.metrics_port:
        start_http_server(args.metrics_port, registry=REGISTRY)
    from weir.operator.handlers import STATE

    STATE.namespaced = bool(args.namespace)
    # A random priority: kopf pauses every replica that sees another of the same one.
    priority = secrets.randbelow(2**31 - 1) + 1
    if args.peering:
        from weir.operator.peering import Peering

        STATE.peering = Peering(args.peering, priority, tuple(args.namespace))
    kopf.configure(verbose=False)
    kopf.run(
        standalone=args.peering is None,
        peering_name=args.peering,
        priority=priority,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=f"http://0.0.0.0:{args.liveness_port}/healthz",
    )
    return 0
