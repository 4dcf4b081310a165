"""The official Python client on custom resources: a CRD through ApiextensionsV1Api, CRUD and watch through
CustomObjectsApi, and the dynamic client's discovery of the new kind."""
import threading
import time

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

GROUP = "stable.example.com"
PLURAL = "crontabs"


def crontab_definition():
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "cronSpec": {"type": "string", "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                    "image": {"type": "string"},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                },
            },
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }


def crontab(name, **spec):
    return {"apiVersion": f"{GROUP}/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": spec or {"cronSpec": "* * * * */5", "image": "my-cron-image"}}


@pytest.fixture
def crd(server):
    api = server.api_client()
    extensions = client.ApiextensionsV1Api(api)
    extensions.create_custom_resource_definition(crontab_definition())
    deadline = time.monotonic() + 10
    while True:
        status = extensions.read_custom_resource_definition(f"{PLURAL}.{GROUP}").status
        if any(c.type == "Established" and c.status == "True" for c in (status.conditions or [])):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.02)
    return client.CustomObjectsApi(api)


def test_custom_objects_crud(crd):
    created = crd.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, crontab("a", cronSpec="*/1 * * * *"))
    assert created["spec"] == {"cronSpec": "*/1 * * * *", "replicas": 1}
    got = crd.get_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "a")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    patched = crd.patch_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "a", {"spec": {"replicas": 3}})
    assert patched["spec"]["replicas"] == 3
    patched["spec"]["image"] = "other"
    replaced = crd.replace_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "a", patched)
    assert replaced["spec"]["image"] == "other"
    assert [o["metadata"]["name"] for o in crd.list_namespaced_custom_object(GROUP, "v1", "default", PLURAL)["items"]] == ["a"]
    assert [o["metadata"]["name"] for o in crd.list_cluster_custom_object(GROUP, "v1", PLURAL)["items"]] == ["a"]
    crd.delete_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "a")
    with pytest.raises(ApiException) as missing:
        crd.get_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "a")
    assert missing.value.status == 404


def test_invalid_custom_object_is_a_422_naming_the_field(crd):
    with pytest.raises(ApiException) as refused:
        crd.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, crontab("bad", cronSpec="often", replicas=20))
    assert refused.value.status == 422
    body = refused.value.body if isinstance(refused.value.body, str) else refused.value.body.decode()
    assert "spec.cronSpec" in body and "spec.replicas" in body
    assert crd.list_namespaced_custom_object(GROUP, "v1", "default", PLURAL)["items"] == []


def test_watch_of_a_custom_resource(crd):
    start = crd.list_namespaced_custom_object(GROUP, "v1", "default", PLURAL)["metadata"]["resourceVersion"]
    events = []
    done = threading.Event()

    def run():
        w = watch.Watch()
        for event in w.stream(crd.list_namespaced_custom_object, GROUP, "v1", "default", PLURAL,
                              resource_version=start, timeout_seconds=20):
            events.append((event["type"], event["object"]["metadata"]["name"]))
            if len(events) == 3:
                w.stop()
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    crd.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, crontab("w"))
    crd.patch_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "w", {"spec": {"replicas": 2}})
    crd.delete_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "w")
    assert done.wait(20), events
    thread.join()
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_dynamic_client_discovers_the_kind(crd, server):
    dyn = dynamic.DynamicClient(server.api_client())
    resource = dyn.resources.get(api_version=f"{GROUP}/v1", kind="CronTab")
    assert resource.name == PLURAL and resource.namespaced and resource.short_names == ["ct"]
    resource.create(body=crontab("d"), namespace="default")
    assert [o.metadata.name for o in resource.get(namespace="default").items] == ["d"]
