#!/usr/bin/env bash
# auth-totp on three set-ups, for comparison: SQLite with one node, PostgreSQL with one
# node, PostgreSQL with two nodes (one load generator per node, separate users). Uses
# TWOFOLD_TEST_DATABASE_URL when set, else a throwaway cluster (scripts/pg-cluster).
# Every node, PostgreSQL and the generators share this machine: on a small machine the
# two-node figure shows correctness under load, not scaling.
# Settings: USERS=3000 DUR=10 CONC=16.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p twofold-server -p twofold-bench
B=target/release/twofold; G=target/release/twofold-bench
PSQL="$(scripts/pg-cluster bindir)/psql"
W=$(mktemp -d /tmp/twofold-multinode.XXXXXX)
cleanup() { kill $(jobs -p) 2>/dev/null || true; [ -n "${PGDIR:-}" ] && scripts/pg-cluster stop "$PGDIR"; rm -rf "$W"; }
trap cleanup EXIT
if [ -n "${TWOFOLD_TEST_DATABASE_URL:-}" ]; then
    BASE=$TWOFOLD_TEST_DATABASE_URL
else
    PGDIR=$(mktemp -d /tmp/twofold-pg.XXXXXX)
    BASE=$(scripts/pg-cluster start "$PGDIR")
fi
USERS=${USERS:-3000}; DUR=${DUR:-10}; CONC=${CONC:-16}; KEY=benchkey
wait_ready() { for i in $(seq 100); do curl -sf http://$1/readyz >/dev/null && return 0; sleep 0.1; done; return 1; }
run_bench() { # props prefix
  $G auth-totp --props $1 --users $USERS --prefix $2 --bench-key $KEY --duration $DUR --concurrency $CONC --progress 0 2>&1 | tail -15
}
echo "=== SQLite, 1 node"
P1=$($G free-port); P2=$($G free-port); P3=$($G free-port); P4=$($G free-port)
$B --data-dir $W/s --listen 127.0.0.1:$P1 serve > $W/s.log 2>&1 & P=$!
wait_ready 127.0.0.1:$P1
$B --data-dir $W/s seed --org default --users $USERS --prefix a --bench-key $KEY
run_bench $W/s/pingid.properties a
kill $P; wait $P || true

for db in tfb1 tfb2; do $PSQL -X -q $BASE -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" 2>/dev/null; done
U1=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$BASE" tfb1)
U2=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$BASE" tfb2)
echo "=== PostgreSQL, 1 node"
$B --data-dir $W/p1 --database-url $U1 --listen 127.0.0.1:$P2 serve > $W/p1.log 2>&1 & P=$!
wait_ready 127.0.0.1:$P2
$B --data-dir $W/p1 --database-url $U1 seed --org default --users $USERS --prefix a --bench-key $KEY
run_bench $W/p1/pingid.properties a
kill $P; wait $P || true

echo "=== PostgreSQL, 2 nodes (one generator per node, separate users)"
$B --data-dir $W/pa --database-url $U2 --listen 127.0.0.1:$P3 serve > $W/pa.log 2>&1 & PA=$!
wait_ready 127.0.0.1:$P3
TWOFOLD_MASTER_KEY_FILE=$W/pa/master.key $B --data-dir $W/pb --database-url $U2 --listen 127.0.0.1:$P4 serve > $W/pb.log 2>&1 & PB=$!
wait_ready 127.0.0.1:$P4
$B --data-dir $W/pa --database-url $U2 seed --org default --users $USERS --prefix a --bench-key $KEY
$B --data-dir $W/pa --database-url $U2 seed --org default --users $USERS --prefix b --bench-key $KEY
sed "s#127.0.0.1:$P3#127.0.0.1:$P4#g" $W/pa/pingid.properties > $W/pb.properties
run_bench $W/pa/pingid.properties a > $W/benchA.txt & BA=$!
run_bench $W/pb.properties b > $W/benchB.txt & BB=$!
wait $BA $BB
echo "--- node A"; cat $W/benchA.txt; echo "--- node B"; cat $W/benchB.txt
kill $PA $PB; wait $PA $PB || true
for db in tfb1 tfb2; do $PSQL -X -q $BASE -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done
