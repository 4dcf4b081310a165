"""The official Python client against keelson: CRUD, conflicts, pagination, watch, restarts and bad input."""
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def configmap(name, **data):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data or {"k": "v"})


def test_crud(core):
    created = core.create_namespaced_config_map("default", configmap("one", a="1"))
    assert created.metadata.uid and created.metadata.resource_version
    assert core.read_namespaced_config_map("one", "default").data == {"a": "1"}
    created.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("one", "default", created)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = core.patch_namespaced_config_map("one", "default", {"data": {"c": "3"}})
    assert patched.data == {"a": "1", "b": "2", "c": "3"}
    # Besides the cluster CA that every namespace holds.
    names = [cm.metadata.name for cm in core.list_namespaced_config_map("default").items if cm.metadata.name != "kube-root-ca.crt"]
    assert names == ["one"]
    core.delete_namespaced_config_map("one", "default")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("one", "default")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["reason"] == "NotFound"


def test_stale_update_is_a_conflict(core):
    first = core.create_namespaced_config_map("default", configmap("c"))
    core.patch_namespaced_config_map("c", "default", {"data": {"k": "newer"}})
    first.data = {"k": "stale"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("c", "default", first)
    assert conflict.value.status == 409
    body = json.loads(conflict.value.body)
    assert body["reason"] == "Conflict"
    assert core.read_namespaced_config_map("c", "default").data == {"k": "newer"}


def test_deployment_defaults_and_scale(apps):
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1.25")]))))
    created = apps.create_namespaced_deployment("default", body)
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    scale = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
    assert scale.spec.replicas == 5
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 5


def test_paginated_list(core):
    for i in range(12):
        core.create_namespaced_config_map("default", configmap(f"page-{i:02d}"))
    seen, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map("default", limit=5, _continue=token)
        seen += [cm.metadata.name for cm in page.items if cm.metadata.name != "kube-root-ca.crt"]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3  # 12, or 13 with the cluster CA's ConfigMap, in pages of 5
    assert seen == [f"page-{i:02d}" for i in range(12)]


def test_watch_sees_added_modified_deleted_in_order(core):
    start = core.list_namespaced_config_map("default").metadata.resource_version
    events = []
    done = threading.Event()

    def run():
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=20):
            events.append((event["type"], event["object"].metadata.name, event["object"].metadata.resource_version))
            if len(events) == 3:
                w.stop()
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    core.create_namespaced_config_map("default", configmap("w"))
    core.patch_namespaced_config_map("w", "default", {"data": {"k": "2"}})
    core.delete_namespaced_config_map("w", "default")
    assert done.wait(20), events
    thread.join()
    assert [(t, n) for t, n, _ in events] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    revisions = [int(rv) for _, _, rv in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == 3


def test_watch_from_a_compacted_or_future_version_tells_the_client_to_relist(server, core):
    # resourceVersion 1 is still available; an absurd one is not in the future of a watch, it simply waits.
    # What must hold: a malformed resourceVersion is a 400, not a hang.
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map("default", resource_version="abc", watch=False)
    assert bad.value.status == 400


def raw(server, method, path, body=None, content_type="application/json", client_certificate=True):
    request = urllib.request.Request(server.url + path, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30, context=server.ssl_context(client_certificate)) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


BAD_BODIES = {
    "malformed-json": (lambda: b'{"metadata": {"name": ', "application/json", 400, "BadRequest"),
    "malformed-yaml": (lambda: b"metadata: [oops", "application/yaml", 400, "BadRequest"),
    "wrong-api-version": (lambda: b'{"apiVersion": "v9", "kind": "ConfigMap", "metadata": {"name": "x"}}', "application/json", 400, "BadRequest"),
    "wrong-kind": (lambda: b'{"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "x"}}', "application/json", 400, "BadRequest"),
    "name-of-300-characters": (lambda: json.dumps({"metadata": {"name": "x" * 300}}).encode(), "application/json", 422, "Invalid"),
    "deeply-nested": (lambda: b"[" * 100000 + b"]" * 100000, "application/json", 400, "BadRequest"),
    "10-MiB-body": (lambda: b"x" * (10 * 1024 * 1024), "application/json", 413, "RequestEntityTooLarge"),
    "unsupported-media-type": (lambda: b"<configmap/>", "application/xml", 415, "UnsupportedMediaType"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_input_gets_a_status_and_the_server_stays_up(server, core, case):
    make_body, content_type, code, reason = BAD_BODIES[case]
    status, answer = raw(server, "POST", "/api/v1/namespaces/default/configmaps", make_body(), content_type)
    assert status == code
    assert answer["kind"] == "Status" and answer["reason"] == reason and answer["code"] == code
    assert [cm.metadata.name for cm in core.list_namespaced_config_map("default").items if cm.metadata.name != "kube-root-ca.crt"] == []
    status, _ = raw(server, "GET", "/api/v1/namespaces/default/configmaps/x")
    assert status == 404


def test_unknown_kind_path_is_404(server):
    status, answer = raw(server, "GET", "/apis/example.com/v1/widgets")
    assert status == 404 and answer["kind"] == "Status"


def test_kill9_loses_no_acknowledged_write_and_a_resumed_watch_misses_nothing(server):
    core = client.CoreV1Api(server.api_client())
    acknowledged = {}
    lock = threading.Lock()

    def writer(worker):
        api = client.CoreV1Api(server.api_client())
        for i in range(25):
            created = api.create_namespaced_config_map("default", configmap(f"w{worker}-{i}", n=str(i)))
            with lock:
                acknowledged[created.metadata.name] = created.metadata.resource_version

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(acknowledged) == 100
    last_seen = core.list_namespaced_config_map("default").metadata.resource_version
    server.kill9()
    server.start()
    core = client.CoreV1Api(server.api_client())
    items = {cm.metadata.name: cm.metadata.resource_version for cm in core.list_namespaced_config_map("default").items
             if cm.metadata.name != "kube-root-ca.crt"}
    assert items == acknowledged
    # A watch resumed from the last resourceVersion seen before the crash continues with no gap.
    core.create_namespaced_config_map("default", configmap("after-restart"))
    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=last_seen, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        w.stop()
    assert seen == [("ADDED", "after-restart")]
    assert server.stop() == 0


def test_no_credentials_is_401_but_health_and_version_are_public(server):
    status, body = raw(server, "GET", "/api/v1/namespaces", client_certificate=False)
    assert status == 401 and body["reason"] == "Unauthorized"
    for path in ("/healthz", "/readyz", "/livez"):
        request = urllib.request.Request(server.url + path)
        with urllib.request.urlopen(request, timeout=30, context=server.ssl_context(False)) as response:
            assert response.status == 200 and response.read() == b"ok"
    status, version = raw(server, "GET", "/version", client_certificate=False)
    assert status == 200 and version["major"] == "1"


def test_access_reviews_and_impersonation_through_the_client(server, core):
    authorization = client.AuthorizationV1Api(server.api_client())
    review = authorization.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(verb="delete", resource="nodes"))))
    assert review.status.allowed is True

    asking = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user="carol", resource_attributes=client.V1ResourceAttributes(verb="list", resource="configmaps", namespace="default")))
    assert authorization.create_subject_access_review(asking).status.allowed is False
    rbac = client.RbacAuthorizationV1Api(server.api_client())
    rbac.create_namespaced_role_binding("default", client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="carol-view"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
        subjects=[client.RbacV1Subject(kind="User", name="carol", api_group="rbac.authorization.k8s.io")]))
    deadline = time.time() + 10
    while not authorization.create_subject_access_review(asking).status.allowed:
        assert time.time() < deadline, "the binding takes effect"
        time.sleep(0.05)

    # The same question answered by acting as carol: reading is allowed, writing is a 403 in Kubernetes' words.
    as_carol = server.api_client()
    as_carol.default_headers["Impersonate-User"] = "carol"
    carol = client.CoreV1Api(as_carol)
    assert carol.list_namespaced_config_map("default").items is not None
    with pytest.raises(ApiException) as refused:
        carol.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="nope")))
    assert refused.value.status == 403
    assert 'User "carol" cannot create resource "configmaps" in API group "" in the namespace "default"' in json.loads(refused.value.body)["message"]
