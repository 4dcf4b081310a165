#!/usr/bin/env bash
# Generates the Swift code for the proto files under Protos/ into Sources/Keelson*Proto. Run it after changing a
# proto file and commit the result: builds never run protoc. Needs protoc (Debian: protobuf-compiler); the Swift
# plugins are built from the package's own resolved dependencies, so the generated code matches their versions.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc is missing (apt-get install protobuf-compiler)" >&2; exit 1; }
swift package resolve
plugins=$(mktemp -d)
trap 'rm -rf "$plugins"' EXIT
for package in swift-protobuf:protoc-gen-swift grpc-swift-protobuf:protoc-gen-grpc-swift-2; do
  checkout=".build/checkouts/${package%%:*}"
  product="${package##*:}"
  swift build --package-path "$checkout" --scratch-path "$plugins/build-${package%%:*}" -c release --product "$product" >&2
  cp "$plugins/build-${package%%:*}/release/$product" "$plugins/"
done

generate() { # proto directory, output directory
  mkdir -p "$2"
  rm -f "$2"/*.pb.swift "$2"/*.grpc.swift
  protoc --proto_path="$1" \
    --plugin=protoc-gen-swift="$plugins/protoc-gen-swift" --swift_out="$2" --swift_opt=Visibility=Public \
    --plugin=protoc-gen-grpc-swift="$plugins/protoc-gen-grpc-swift-2" --grpc-swift_out="$2" \
    --grpc-swift_opt=Visibility=Public,Server=false,Client=true \
    "$1"/*.proto
}
generate Protos/etcd Sources/KeelsonEtcdProto
generate Protos/cri Sources/KeelsonCRIProto
echo "generated into Sources/KeelsonEtcdProto and Sources/KeelsonCRIProto" >&2
