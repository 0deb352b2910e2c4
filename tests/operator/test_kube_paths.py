"""Names never steer a request: every path segment is checked before it goes into a URL."""

from __future__ import annotations

import pytest

from weir.kube.client import InvalidName, resource_path


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("default", "../../kube-system/configmaps/victim"),
        ("default", "victim#"),
        ("default", "victim?dryRun=All"),
        ("default", "a/b"),
        ("default", "Victim"),
        ("default", "x" * 254),
        ("default", ""),
        ("kube-system/configmaps", "victim"),
        ("..", "victim"),
        ("", "victim"),
    ],
)
def test_a_name_that_is_not_a_kubernetes_name_is_refused(namespace: str, name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        resource_path("v1", "configmaps", namespace, name)
    assert caught.value.status == 400 and not caught.value.retryable


def test_valid_names_make_the_usual_paths() -> None:
    assert resource_path("v1", "configmaps", "shop", "weir-orders.v2") == (
        "/api/v1/namespaces/shop/configmaps/weir-orders.v2"
    )
    assert resource_path("apps/v1", "deployments", None) == "/apis/apps/v1/deployments"
