"""Starts the real keelson binary for the Python client tests."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client, config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def keelson_binary():
    explicit = os.environ.get("KEELSON_BINARY")
    if explicit:
        return explicit
    for configuration in ("debug", "release"):
        candidate = os.path.join(ROOT, ".build", configuration, "keelson")
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("build keelson first (swift build)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `keelson server` on a data dir; restartable on the same dir."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.port = free_port()
        self.process = None
        self.log_path = data_dir + ".log"

    @property
    def kubeconfig(self):
        return os.path.join(self.data_dir, "kubeconfig.yaml")

    def start(self):
        if os.path.exists(self.kubeconfig):
            os.remove(self.kubeconfig)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [keelson_binary(), "server", "--data-dir", self.data_dir, "--https-listen-port", str(self.port), "--disable-agent"],
            stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.kubeconfig):
            if self.process.poll() is not None:
                raise RuntimeError("keelson exited: " + self.log())
            if time.monotonic() > deadline:
                raise RuntimeError("keelson not ready: " + self.log())
            time.sleep(0.02)
        # The controller manager publishes the cluster CA in every namespace; tests that list or watch ConfigMaps
        # start once it is there, so it never shows up in the middle of one.
        while not self._has_root_ca():
            if time.monotonic() > deadline:
                raise RuntimeError("kube-root-ca.crt not published: " + self.log())
            time.sleep(0.05)

    def _has_root_ca(self):
        request = urllib.request.Request(f"{self.url}/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
        try:
            with urllib.request.urlopen(request, timeout=5, context=self.ssl_context()) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return False

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise
        return self.process.returncode if self.process else 0

    def api_client(self):
        return config.new_client_from_config(config_file=self.kubeconfig)

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self, client_certificate=True):
        """Trusts the cluster's server CA; presents the admin's certificate unless told not to."""
        tls = os.path.join(self.data_dir, "server", "tls")
        context = ssl.create_default_context(cafile=os.path.join(tls, "server-ca.crt"))
        if client_certificate:
            context.load_cert_chain(os.path.join(tls, "client-admin.crt"), os.path.join(tls, "client-admin.key"))
        return context


@pytest.fixture
def server():
    data_dir = tempfile.mkdtemp(prefix="keelson-py-")
    s = Server(data_dir)
    s.start()
    try:
        yield s
    finally:
        if s.process and s.process.poll() is None:
            s.process.kill()
            s.process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
        if os.path.exists(s.log_path):
            os.remove(s.log_path)


@pytest.fixture
def core(server):
    return client.CoreV1Api(server.api_client())


@pytest.fixture
def apps(server):
    return client.AppsV1Api(server.api_client())
