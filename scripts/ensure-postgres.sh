#!/usr/bin/env bash
# Optional PostgreSQL for the store tests (the default store is SQLite, which needs nothing).
# If something answers the PostgreSQL protocol on $PGHOST:$PGPORT (default 127.0.0.1:5432), say so;
# else start the local Debian clusters (pg_ctlcluster) when they exist. Never installs anything and
# always exits 0: tests that need PostgreSQL skip with a visible reason when it is not there.
set -uo pipefail

host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
# PGHOST may name a socket directory; the check below is over TCP, so fall back to 127.0.0.1.
[[ $host == /* ]] && host=127.0.0.1
wait_seconds=${POSTGRES_WAIT_SECONDS:-20}
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

say() { printf 'ensure-postgres: %s\n' "$*"; }

# Send an SSLRequest and expect the one-byte answer 'S' or 'N' that only a PostgreSQL server gives.
pg_answers() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$host" "$port" <<'PY'
import socket
import struct
import sys

try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as sock:
        sock.settimeout(5)
        sock.sendall(struct.pack("!ii", 8, 80877103))
        sys.exit(0 if sock.recv(1) in (b"S", b"N") else 1)
except OSError:
    sys.exit(1)
PY
    else
        # shellcheck disable=SC2016  # $1 and $2 expand in the inner bash, on purpose
        timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
    fi
}

if pg_answers; then
    say "OK: PostgreSQL answers on $host:$port (PostgreSQL store tests will run)"
    exit 0
fi

started=0
if [[ -d /etc/postgresql ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
    for conf in /etc/postgresql/*/*/postgresql.conf; do
        [[ -e $conf ]] || continue
        dir=${conf%/postgresql.conf}
        cluster=${dir##*/}
        version=${dir%/*}
        version=${version##*/}
        say "starting PostgreSQL cluster $version/$cluster: pg_ctlcluster $version $cluster start"
        if pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start; then
            started=1
        else
            say "  could not start $version/$cluster (it may already run on another port, or need root)"
        fi
    done
fi

if ((started)); then
    for ((waited = 0; waited < wait_seconds; waited += 1)); do
        if pg_answers; then
            say "OK: PostgreSQL answers on $host:$port after ${waited}s (PostgreSQL store tests will run)"
            exit 0
        fi
        sleep 1
    done
fi

say "PostgreSQL is NOT available on $host:$port: tests that need it will be skipped (SQLite tests still run)."
say "  to run them on Debian/Ubuntu: sudo apt-get install -y postgresql && sudo service postgresql start"
exit 0
