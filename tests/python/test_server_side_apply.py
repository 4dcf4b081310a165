"""Server-side apply from the official Python client: the apply content type on the generated patch methods,
conflicts as ApiException 409 with FieldManagerConflict causes, force, and managed_fields read back."""
import json

import pytest
from kubernetes.client.rest import ApiException

APPLY = "application/apply-patch+yaml"


def deployment(replicas, image="nginx:1.27"):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def test_apply_creates_then_conflicts_then_forces(apps):
    created = apps.patch_namespaced_deployment("web", "default", deployment(2), field_manager="py-ci", _content_type=APPLY)
    assert created.spec.replicas == 2
    assert [(m.manager, m.operation) for m in created.metadata.managed_fields] == [("py-ci", "Apply")]

    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 4}}, field_manager="py-scaler")
    with pytest.raises(ApiException) as refused:
        apps.patch_namespaced_deployment("web", "default", deployment(2), field_manager="py-ci", _content_type=APPLY)
    assert refused.value.status == 409
    body = json.loads(refused.value.body)
    assert body["reason"] == "Conflict"
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "py-scaler" using apps/v1', "field": ".spec.replicas"}
    ]
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 4

    forced = apps.patch_namespaced_deployment("web", "default", deployment(2), field_manager="py-ci", force=True, _content_type=APPLY)
    assert forced.spec.replicas == 2
    managers = {m.manager for m in forced.metadata.managed_fields}
    assert "py-ci" in managers and "py-scaler" not in managers


def test_apply_without_field_manager_is_refused(apps):
    with pytest.raises(ApiException) as refused:
        apps.patch_namespaced_deployment("web", "default", deployment(1), _content_type=APPLY)
    assert refused.value.status == 422
