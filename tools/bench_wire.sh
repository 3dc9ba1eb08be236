#!/usr/bin/env bash
# Wire benchmark, HeliosDB Nano against PostgreSQL in one run (see
# benches/wire.rs). Installs Debian's PostgreSQL if it is missing, starts a
# throwaway cluster and a release `heliosdb serve`, both on fresh data
# directories with default durability (fsync on, synchronous commit).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update && apt-get install -y postgresql
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d)
chmod 777 "$WORK"
# Free ports picked by the kernel (override with PG_PORT / HELIOS_PORT).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PG_PORT=${PG_PORT:-$(free_port)}
HELIOS_PORT=${HELIOS_PORT:-$(free_port)}
run_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else bash -c "$*"; fi; }
run_pg "$PGBIN/initdb -D $WORK/pg -U bench --auth=trust" >/dev/null
run_pg "$PGBIN/pg_ctl -D $WORK/pg -o '-p $PG_PORT -k $WORK -c max_connections=200' -l $WORK/pg.log start" >/dev/null
cargo build --release --quiet
"${CARGO_TARGET_DIR:-target}/release/heliosdb" serve --data-dir "$WORK/helios" --listen "127.0.0.1:$HELIOS_PORT" 2>"$WORK/helios.log" &
HPID=$!
cleanup() {
    kill "$HPID" 2>/dev/null || true
    run_pg "$PGBIN/pg_ctl -D $WORK/pg stop -m fast" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do
    (echo > /dev/tcp/127.0.0.1/$HELIOS_PORT) 2>/dev/null && break
    sleep 0.1
done
run_pg "$PGBIN/createdb -h 127.0.0.1 -p $PG_PORT -U bench heliosdb"
HELIOSDB_URL="host=127.0.0.1 port=$HELIOS_PORT user=heliosdb dbname=heliosdb" \
PG_URL="host=127.0.0.1 port=$PG_PORT user=bench dbname=heliosdb" \
    cargo bench --quiet --bench wire
