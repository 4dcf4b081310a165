#!/usr/bin/env bash
# Builds the images a node needs without any registry, as OCI image archives that the agent imports at start:
#   pause.tar    keelson.local/pause:1.0    the sandbox image: Debian's static catatonit as the pod's init (-P)
#   busybox.tar  keelson.local/busybox:1.0  a small test image: Debian's static busybox with its applets and httpd
#                (also tagged 1.1, so that a rollout to "another" image can be tried without a registry)
#   spare.tar    keelson.local/spare:1.0    an image no pod uses (one small file), which image garbage collection removes
# Usage: scripts/build-images.sh [DIR]   (default /var/lib/keelson/agent/images). Needs busybox-static and catatonit.
set -euo pipefail
out="${1:-/var/lib/keelson/agent/images}"
for tool in busybox catatonit sha256sum gzip tar; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (Debian: apt-get install busybox-static catatonit)" >&2; exit 1; }
done
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

digest() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# image NAME TAGS ROOTFS CONFIG_JSON_FRAGMENT: packs ROOTFS as one layer into $out/NAME.tar, named with each of
# the space-separated TAGS
image() {
  local name=$1 tags=$2 rootfs=$3 config=$4 layout="$work/$1-layout"
  mkdir -p "$layout/blobs/sha256"
  # Reproducible layer: fixed owner and time, sorted entries.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$work/$name-layer.tar" .
  local diff_id; diff_id=$(digest "$work/$name-layer.tar")
  gzip -n -c "$work/$name-layer.tar" > "$work/$name-layer.tar.gz"
  local layer; layer=$(digest "$work/$name-layer.tar.gz")
  local layer_size; layer_size=$(size "$work/$name-layer.tar.gz")
  mv "$work/$name-layer.tar.gz" "$layout/blobs/sha256/$layer"
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$config" "$diff_id" > "$work/$name-config.json"
  local cfg; cfg=$(digest "$work/$name-config.json")
  local cfg_size; cfg_size=$(size "$work/$name-config.json")
  mv "$work/$name-config.json" "$layout/blobs/sha256/$cfg"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$cfg" "$cfg_size" "$layer" "$layer_size" > "$work/$name-manifest.json"
  local manifest; manifest=$(digest "$work/$name-manifest.json")
  local manifest_size; manifest_size=$(size "$work/$name-manifest.json")
  mv "$work/$name-manifest.json" "$layout/blobs/sha256/$manifest"
  # containerd names an imported image after io.containerd.image.name; other tools read the OCI ref name.
  local entries=() tag
  for tag in $tags; do
    entries+=("$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"keelson.local/%s:%s","org.opencontainers.image.ref.name":"%s"}}' \
      "$manifest" "$manifest_size" "$name" "$tag" "$tag")")
  done
  local joined; joined=$(IFS=,; echo "${entries[*]}")
  printf '{"schemaVersion":2,"manifests":[%s]}' "$joined" > "$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$layout" -cf "$out/$name.tar.tmp" oci-layout index.json blobs
  mv "$out/$name.tar.tmp" "$out/$name.tar"
  echo "built keelson.local/$name ($tags) into $out/$name.tar" >&2
}

pause="$work/pause"
mkdir -p "$pause"
cp "$(command -v catatonit)" "$pause/catatonit"
image pause 1.0 "$pause" '{"Entrypoint":["/catatonit","-P"],"WorkingDir":"/"}'

box="$work/busybox"
mkdir -p "$box/bin" "$box/etc" "$box/tmp" "$box/www" "$box/root" "$box/var/log"
chmod 1777 "$box/tmp"
cp "$(command -v busybox)" "$box/bin/busybox"
for applet in $("$box/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$box/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$box/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$box/etc/group"
printf 'hello from keelson\n' > "$box/www/index.html"
image busybox "1.0 1.1" "$box" '{"Cmd":["sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"}'

spare="$work/spare"
mkdir -p "$spare"
printf 'an image nothing runs\n' > "$spare/README"
image spare 1.0 "$spare" '{"Cmd":["/README"],"WorkingDir":"/"}'
