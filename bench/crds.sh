#!/usr/bin/env bash
# kubectl's cold start with custom resources: a release `keelson server`, then, with 0 and with CRDS (50) definitions
# installed, RUNS rounds of each measurement with an empty kubectl cache every time:
#   - `kubectl api-resources` (aggregated discovery),
#   - `kubectl get <kind>` of one custom kind (discovery, then the list),
#   - every OpenAPI v3 document (the index, then each group version's document, as `kubectl explain` and apply
#     read them) and the OpenAPI v2 protobuf document (kubectl 1.27/1.28 before every apply).
# Medians in milliseconds; the 0-definition figures are the reference of the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

CRDS="${CRDS:-50}"
RUNS="${RUNS:-15}"
BENCH_NAME=crds
. bench/common.sh

API_PORT=$(free_port)
.build/release/keelson server --data-dir "$work/keelson" --https-listen-port "$API_PORT" --disable-agent >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -f "$work/keelson/kubeconfig.yaml" ] && break; sleep 0.1; done
export KUBECONFIG="$work/keelson/kubeconfig.yaml"
machine

median_ms() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# Milliseconds one command takes.
time_ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s%N)
  echo $(( (end - start) / 1000 ))e-3 | awk '{printf "%.1f\n", $1}'
}

openapi_all() {
  local index paths
  index=$(api_get "$work/keelson" "$API_PORT" /openapi/v3)
  paths=$(python3 -c 'import json,sys; print("\n".join(v["serverRelativeURL"] for v in json.load(sys.stdin)["paths"].values()))' <<<"$index")
  while read -r url; do api_get "$work/keelson" "$API_PORT" "$url" >/dev/null; done <<<"$paths"
  curl -sf --cacert "$work/keelson/server/tls/server-ca.crt" --cert "$work/keelson/server/tls/client-admin.crt" \
    --key "$work/keelson/server/tls/client-admin.key" -H 'Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf' \
    "https://127.0.0.1:$API_PORT/openapi/v2" >/dev/null
}

definition() { # index
  cat <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets$1.bench$1.example.com}
spec:
  group: bench$1.example.com
  scope: Namespaced
  names: {plural: widgets$1, singular: widget$1, kind: Widget$1, shortNames: [wd$1], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1, description: How big it is.}
              color: {type: string, enum: [red, green, blue]}
              labels: {type: object, additionalProperties: {type: string}}
              ports:
                type: array
                items:
                  type: object
                  required: [port]
                  properties: {name: {type: string}, port: {type: integer}, protocol: {type: string, default: TCP}}
          status:
            type: object
            properties: {ready: {type: boolean}, observedGeneration: {type: integer}}
EOF
}

measure() { # label
  local label=$1 apiresources get openapi
  apiresources=$(for _ in $(seq 1 "$RUNS"); do time_ms kubectl --cache-dir "$(mktemp -d "$work/cache.XXXX")" api-resources; done | median_ms)
  get=$(for _ in $(seq 1 "$RUNS"); do time_ms kubectl --cache-dir "$(mktemp -d "$work/cache.XXXX")" get "$GET_KIND"; done | median_ms)
  openapi=$(for _ in $(seq 1 "$RUNS"); do time_ms openapi_all; done | median_ms)
  printf '%-28s api-resources %7s ms   get %-10s %7s ms   all OpenAPI documents %7s ms\n' "$label" "$apiresources" "$GET_KIND" "$get" "$openapi"
}

GET_KIND=configmaps
measure "0 CRDs"
start=$(date +%s%N)
for i in $(seq 1 "$CRDS"); do definition "$i"; echo ---; done | kubectl apply -f - >/dev/null
kubectl wait --for condition=established crd --all --timeout=60s >/dev/null
echo "$CRDS CRDs applied and established in $(( ($(date +%s%N) - start) / 1000000 )) ms"
measure "$CRDS CRDs (get configmaps)"
GET_KIND=widgets1
measure "$CRDS CRDs (get widgets1)"
echo "OpenAPI v2 protobuf: $(api_get "$work/keelson" "$API_PORT" /openapi/v2 | wc -c) bytes as JSON; v3 index lists $(api_get "$work/keelson" "$API_PORT" /openapi/v3 | grep -o serverRelativeURL | wc -l) group versions"
echo "server RSS: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/${pids[0]}/status")"
