#!/usr/bin/env bash
# Starts (start) or stops (stop) a 3-node Divan cluster on 127.0.0.1 for
# development: HTTP ports 15984-15986 (gossip and rpc ports follow from them),
# data in .cluster/, joined with the same /_cluster_setup calls that set up a
# CouchDB cluster. Used by `make cluster` and `make cluster-stop`.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=.cluster
BIN=${DIVAN_BIN:-bin/divan}
USER_=${DIVAN_ADMIN_USER:-admin}
PASS=${DIVAN_ADMIN_PASSWORD:-admin}
PORTS=(15984 15985 15986)

stop() {
  [ -f "$DIR/pids" ] || { echo "no local cluster running"; return 0; }
  while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done < "$DIR/pids"
  while read -r pid; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done < "$DIR/pids"
  rm -f "$DIR/pids"
  echo "local cluster stopped (data kept in $DIR/)"
}

post() { # node-port json
  curl -fsS -u "$USER_:$PASS" -H 'Content-Type: application/json' -X POST "http://127.0.0.1:$1/_cluster_setup" -d "$2"
  echo
}

start() {
  [ -f "$DIR/pids" ] && { echo "already running: make cluster-stop first"; exit 1; }
  mkdir -p "$DIR"
  for i in 0 1 2; do
    port=${PORTS[$i]}
    seeds=""
    [ "$i" -gt 0 ] && seeds="127.0.0.1:$((PORTS[0] + 2000))"
    DIVAN_ADMIN_USER=$USER_ DIVAN_ADMIN_PASSWORD=$PASS \
      "$BIN" -data-dir "$DIR/node$((i + 1))" -port "$port" -node-name "divan$((i + 1))@127.0.0.1" \
      -seeds "$seeds" -log-level warn >"$DIR/node$((i + 1)).log" 2>&1 &
    echo $! >>"$DIR/pids"
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/_up" >/dev/null && break; sleep 0.1; done
  done
  # The CouchDB cluster setup sequence.
  for port in "${PORTS[@]}"; do
    post "$port" "{\"action\":\"enable_cluster\",\"bind_address\":\"0.0.0.0\",\"username\":\"$USER_\",\"password\":\"$PASS\",\"node_count\":3}"
  done
  for port in "${PORTS[@]:1}"; do
    post "${PORTS[0]}" "{\"action\":\"add_node\",\"host\":\"127.0.0.1\",\"port\":$port,\"username\":\"$USER_\",\"password\":\"$PASS\"}"
  done
  post "${PORTS[0]}" '{"action":"finish_cluster"}'
  curl -fsS -u "$USER_:$PASS" "http://127.0.0.1:${PORTS[0]}/_membership"
  echo
  echo "3-node cluster up: http://$USER_:$PASS@127.0.0.1:${PORTS[0]} (also :${PORTS[1]}, :${PORTS[2]}); logs in $DIR/"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
