#!/usr/bin/env bash
# Installs what building and testing Keelson needs on Debian, skipping what is already there.
set -euo pipefail

need_apt=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need_apt+=(libsqlite3-dev)
# zlib: the kubelet's SPDY header compression (port-forward).
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# The node agent: containerd runs the pods with runc and the CNI plugins; busybox-static and catatonit become the
# test and sandbox images (scripts/build-images.sh); nsenter (util-linux) and ip (iproute2) set up test namespaces.
command -v containerd >/dev/null 2>&1 || need_apt+=(containerd)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
[ -x /usr/lib/cni/bridge ] || need_apt+=(containernetworking-plugins)
command -v busybox >/dev/null 2>&1 || need_apt+=(busybox-static)
command -v catatonit >/dev/null 2>&1 || need_apt+=(catatonit)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# The service proxy programs the kernel with iptables-restore (the default mode) or nft (--proxy-mode=nftables).
command -v iptables-restore >/dev/null 2>&1 || need_apt+=(iptables)
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "swift is not on PATH: install the Swift 6.3 toolchain first (https://www.swift.org/install/linux/debian/)" >&2
  exit 1
fi

if [ "${1:-}" = "--test" ]; then
  # The store conformance suite and the etcd end-to-end tests start a real etcd (Debian's etcd-server).
  # The etcds:// tests make their certificates with the openssl command.
  need_test=()
  command -v etcd >/dev/null 2>&1 || need_test+=(etcd-server)
  command -v openssl >/dev/null 2>&1 || need_test+=(openssl)
  if [ ${#need_test[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_test[@]}"
  fi
  # The end-to-end tests drive the real clients: kubectl (expected on PATH) and the official Python client.
  python3 -c "import kubernetes, pytest, prometheus_client" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check kubernetes pytest prometheus_client
  command -v kubectl >/dev/null 2>&1 || { echo "kubectl is not on PATH; the end-to-end tests need it" >&2; exit 1; }
fi
