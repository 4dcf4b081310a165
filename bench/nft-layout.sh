#!/usr/bin/env bash
# The nftables layout planned for the proxier, measured before the proxier exists: SERVICES ClusterIP services with
# ENDPOINTS endpoints each, with no chain per service or endpoint. Endpoints live in named maps, one per endpoint
# count N, keyed by service address, protocol, port and a slot 0..N-1; one DNAT rule per N picks the slot with
# `numgen random mod N` (a service not in that map makes the lookup miss and the rule fall through). Hairpin
# traffic is masqueraded through a set of (endpoint, endpoint) pairs, HAIRPIN of them (the endpoints that may be
# on this node: a node's pods, 100 by default; SERVICES × ENDPOINTS puts every endpoint in). Loaded with `nft -f` into a network namespace
# made for the run, then one-service changes: an endpoint replaced (same N) and an endpoint added (the service
# moves from map N to map N+1). Needs root and nft.
set -euo pipefail

SERVICES="${SERVICES:-10000}"
ENDPOINTS="${ENDPOINTS:-10}"
CHANGES="${CHANGES:-5}"
HAIRPIN="${HAIRPIN:-100}"

netns="keelson-nft-$$"
work=$(mktemp -d /tmp/keelson-nft.XXXXXX)
cleanup() {
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$netns"
ip -n "$netns" link set lo up
in_ns() { nsenter --net="/run/netns/$netns" "$@"; }

# Service i is 10.43.(i/250).(i%250+1):80/tcp; endpoint j of service i is 10.(64+e/65536).(e/256%256).(e%256):8080
# with e = i*ENDPOINTS+j.
awk -v services="$SERVICES" -v endpoints="$ENDPOINTS" -v hairpin="$HAIRPIN" '
  function svc(i) { return sprintf("10.43.%d.%d", int(i / 250), i % 250 + 1) }
  function ep(e) { return sprintf("10.%d.%d.%d", 64 + int(e / 65536), int(e / 256) % 256, e % 256) }
  BEGIN {
    print "table ip keelson {"
    for (n = 1; n <= endpoints + 1; n++) {
      printf "  map endpoints-%d { typeof ip daddr . meta l4proto . th dport . numgen random mod %d : ip daddr . th dport\n", n, n
      if (n == endpoints) {
        printf "    elements = { "
        first = 1
        for (i = 0; i < services; i++) for (j = 0; j < endpoints; j++) {
          printf "%s%s . tcp . 80 . %d : %s . 8080", (first ? "" : ",\n      "), svc(i), j, ep(i * endpoints + j)
          first = 0
        }
        print " }"
      }
      print "  }"
    }
    printf "  set hairpin { type ipv4_addr . ipv4_addr\n"
    if (hairpin > 0) {
      printf "    elements = { "
      for (e = 0; e < hairpin; e++) printf "%s%s . %s", (e ? ",\n      " : ""), ep(e), ep(e)
      print " }"
    }
    print "  }"
    print "  set no-endpoints { type ipv4_addr . inet_proto . inet_service; }"
    for (hook = 0; hook < 2; hook++) {
      if (hook == 0) print "  chain prerouting { type nat hook prerouting priority dstnat; policy accept;"
      else print "  chain output { type nat hook output priority -100; policy accept;"
      for (n = 1; n <= endpoints + 1; n++)
        printf "    dnat ip to ip daddr . meta l4proto . th dport . numgen random mod %d map @endpoints-%d\n", n, n
      print "  }"
    }
    print "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;"
    print "    ct status dnat ip saddr . ip daddr @hairpin masquerade"
    print "  }"
    print "  chain filter-output { type filter hook output priority filter; policy accept;"
    print "    ip daddr . meta l4proto . th dport @no-endpoints reject"
    print "  }"
    print "}"
  }' > "$work/full.nft"

ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), $(nft --version)"
elements=$((SERVICES * ENDPOINTS))
start=$(date +%s%N)
in_ns nft -f "$work/full.nft"
end=$(date +%s%N)
echo "full load: $SERVICES services x $ENDPOINTS endpoints ($elements map elements, $HAIRPIN hairpin pairs, $((2 * (ENDPOINTS + 1) + 2)) rules): $(ms "$start" "$end") ms"

svc() { echo "10.43.$(($1 / 250)).$(($1 % 250 + 1))"; }
ep() { local e=$1; echo "10.$((64 + e / 65536)).$((e / 256 % 256)).$((e % 256))"; }
spare=$((SERVICES * ENDPOINTS + 1000))
for round in $(seq 1 "$CHANGES"); do
  i=$(( (round * 7919) % SERVICES ))
  s=$(svc "$i")
  # An endpoint replaced: one slot's target changes, and the hairpin pair with it.
  old=$(ep $((i * ENDPOINTS))); new=$(ep $((spare + round)))
  {
    echo "delete element ip keelson endpoints-$ENDPOINTS { $s . tcp . 80 . 0 }"
    echo "add element ip keelson endpoints-$ENDPOINTS { $s . tcp . 80 . 0 : $new . 8080 }"
    [ $((i * ENDPOINTS)) -lt "$HAIRPIN" ] && echo "delete element ip keelson hairpin { $old . $old }"
    echo "add element ip keelson hairpin { $new . $new }"
  } > "$work/replace.nft"
  start=$(date +%s%N); in_ns nft -f "$work/replace.nft"; end=$(date +%s%N)
  replace=$(ms "$start" "$end")
  # An endpoint added: the service's slots move from map N to map N+1.
  {
    printf "delete element ip keelson endpoints-%d { " "$ENDPOINTS"
    for j in $(seq 0 $((ENDPOINTS - 1))); do printf "%s%s . tcp . 80 . %d" "$([ "$j" -gt 0 ] && echo ", ")" "$s" "$j"; done
    printf " }\nadd element ip keelson endpoints-%d { " $((ENDPOINTS + 1))
    for j in $(seq 0 "$ENDPOINTS"); do
      target=$([ "$j" -eq 0 ] && echo "$new" || ([ "$j" -eq "$ENDPOINTS" ] && ep $((spare + 100 + round)) || ep $((i * ENDPOINTS + j))))
      printf "%s%s . tcp . 80 . %d : %s . 8080" "$([ "$j" -gt 0 ] && echo ", ")" "$s" "$j" "$target"
    done
    echo " }"
    added=$(ep $((spare + 100 + round)))
    echo "add element ip keelson hairpin { $added . $added }"
  } > "$work/grow.nft"
  start=$(date +%s%N); in_ns nft -f "$work/grow.nft"; end=$(date +%s%N)
  echo "one-service change $round (service $s): endpoint replaced $replace ms, endpoint added (map $ENDPOINTS -> $((ENDPOINTS + 1))) $(ms "$start" "$end") ms"
done
