#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers AMQP 0-9-1 where the gateway and its tests expect one
# (DESIGN.md 3.1), starting a local one if needed:
#   1. something answers on the broker's host:port (from $GATEWAY_AMQP__URL, else 127.0.0.1:5672): use it;
#   2. else, only for a local broker (127.0.0.1 / localhost / ::1, port 5672):
#      a. a Docker engine runs: `docker compose up -d rabbitmq` (docker-compose.yml in the repo root);
#      b. Debian's rabbitmq-server is installed: start it (systemctl, service, or rabbitmq-server -detached);
#      c. apt-get is there and we are root (or have password-less sudo): install rabbitmq-server, start it;
#   3. else print exactly what to do, and exit 1.
# A local broker that accepts TCP but never answers the AMQP header (wedged: seen when it ran out of file
# descriptors, or stopped with SIGSTOP) is asked to stop, killed if it does not, and started again.
# Every start and stop is bounded in time: this script never hangs a `make` for longer than a few minutes.
# Environment:
#   GATEWAY_AMQP__URL           broker URL (default amqp://guest:guest@127.0.0.1:5672/)
#   RABBITMQ_WAIT_SECONDS       how long to wait for a started broker (default 60)
#   RABBITMQ_NO_INSTALL=1       never install a package (step 2c)
#   RABBITMQ_NO_RESTART=1       never restart a wedged local broker (print what to do instead)
#   RABBITMQ_PROBE_SECONDS      how long one probe waits for the broker's answer (default 10)
set -euo pipefail

readonly DEFAULT_URL="amqp://guest:guest@127.0.0.1:5672/"
url=${GATEWAY_AMQP__URL:-$DEFAULT_URL}
wait_seconds=${RABBITMQ_WAIT_SECONDS:-60}
probe_seconds=${RABBITMQ_PROBE_SECONDS:-10}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Debian puts rabbitmq-server, service and friends in sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

say() { printf 'ensure-rabbitmq: %s\n' "$*"; }
warn() { printf 'ensure-rabbitmq: %s\n' "$*" >&2; }

# --- where the broker should be ------------------------------------------------------------------
# amqp[s]://[user[:password]@]host[:port][/vhost][?query]; host may be [IPv6].
scheme=${url%%://*}
if [[ $scheme == "$url" || ($scheme != amqp && $scheme != amqps) ]]; then
    warn "GATEWAY_AMQP__URL='$url' is not an amqp:// or amqps:// URL"
    exit 1
fi
rest=${url#*://}
rest=${rest%%/*}
rest=${rest%%\?*}
hostport=${rest##*@}
if [[ $hostport == \[* ]]; then
    host=${hostport%%]*}
    host=${host#[}
    port=${hostport#*]}
    port=${port#:}
else
    host=${hostport%%:*}
    port=${hostport#"$host"}
    port=${port#:}
fi
[[ -n $host ]] || host=127.0.0.1
if [[ -z $port ]]; then
    if [[ $scheme == amqps ]]; then port=5671; else port=5672; fi
fi
if ! [[ $port =~ ^[0-9]+$ ]]; then
    warn "GATEWAY_AMQP__URL='$url' has an invalid port '$port'"
    exit 1
fi
where="$host:$port"
[[ $host == *:* ]] && where="[$host]:$port"

case $host in
    127.0.0.1 | localhost | ::1) local_host=1 ;;
    *) local_host=0 ;;
esac

# --- is it answering? ----------------------------------------------------------------------------
# amqp: send the AMQP 0-9-1 protocol header and expect a method frame (type 1, Connection.Start)
# back, so a port held by something else does not count. amqps: a TCP connect is all we check.
amqp_answers() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$host" "$port" "$scheme" "$probe_seconds" <<'PY'
import socket
import sys

host, port, scheme, probe_seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
try:
    sock = socket.create_connection((host, port), timeout=3)
except OSError:
    sys.exit(1)  # nothing listens
with sock:
    if scheme == "amqps":
        sys.exit(0)
    try:
        sock.settimeout(probe_seconds)
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        reply = sock.recv(8)
    except socket.timeout:
        sys.exit(3)  # accepts connections, never answers: wedged
    except OSError:
        sys.exit(1)
if reply[:1] == b"\x01":
    sys.exit(0)
if reply[:4] == b"AMQP":
    print(f"ensure-rabbitmq: {host}:{port} speaks AMQP but not 0-9-1 (it answered {reply!r})", file=sys.stderr)
sys.exit(2)
PY
    else
        # No python3: a TCP connect through bash's /dev/tcp is the best we can do.
        # shellcheck disable=SC2016  # $1 and $2 expand in the inner bash, on purpose
        timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
    fi
}

wait_for_broker() {
    local how=$1 waited=0
    say "waiting up to ${wait_seconds}s for RabbitMQ on $where ($how)..."
    while ((waited < wait_seconds)); do
        if amqp_answers; then
            say "RabbitMQ is up on $where after ${waited}s"
            return 0
        fi
        sleep 2
        waited=$((waited + 2))
        if ((waited % 10 == 0)); then
            say "  still waiting for $where (${waited}s of ${wait_seconds}s)"
        fi
    done
    warn "RabbitMQ did not answer on $where within ${wait_seconds}s after: $how"
    return 1
}

# Print the ways out and stop. $1 says why nothing was started.
reason_kind=none
give_up() {
    {
        echo
        echo "ensure-rabbitmq: no RabbitMQ answers on $where, and none could be started: $1"
        echo
        if [[ $reason_kind == taken ]]; then
            echo "Another program holds $where. Stop it, or point GATEWAY_AMQP__URL at your RabbitMQ:"
            echo "      export GATEWAY_AMQP__URL=amqp://USER:PASSWORD@HOST:PORT/"
        elif ((local_host)) && [[ $port == 5672 ]]; then
            echo "The gateway and its tests need RabbitMQ 3.10+ on $where. Do one of:"
            echo "  * Debian/Ubuntu:"
            echo "      sudo apt-get update && sudo apt-get install -y rabbitmq-server"
            echo "      sudo systemctl start rabbitmq-server     # without systemd: sudo service rabbitmq-server start"
            echo "  * Docker (from $repo_root):"
            echo "      docker compose up -d rabbitmq"
            echo "  * a broker elsewhere:"
            echo "      export GATEWAY_AMQP__URL=amqp://USER:PASSWORD@HOST:5672/"
        else
            echo "GATEWAY_AMQP__URL points at $where; this script starts a broker only on 127.0.0.1:5672."
            echo "Do one of:"
            echo "  * start (or make reachable) the broker on $where, or correct GATEWAY_AMQP__URL;"
            echo "  * unset GATEWAY_AMQP__URL to use, or have this script start, a local broker on 127.0.0.1:5672."
        fi
        echo
        echo "Then run the make target again."
    } >&2
    exit 1
}

# Run a command as root: directly, or through password-less sudo. Fails if neither is possible.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

can_be_root() {
    [[ $(id -u) -eq 0 ]] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose "$@"
    else
        return 127
    fi
}

# Every start/stop command gets this long before it is killed (an init script waiting on a wedged node
# otherwise waits forever).
readonly COMMAND_SECONDS=120

start_debian_rabbitmq() {
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        say "starting rabbitmq-server: systemctl start rabbitmq-server"
        as_root timeout "$COMMAND_SECONDS" systemctl start rabbitmq-server
    else
        # Without systemd, the server's own daemon mode (the init script only wraps it, and waits unbounded),
        # with as many file descriptors as the hard limit allows: RabbitMQ counts its socket limit from them,
        # and at the usual soft 1024 (832 sockets) a busy test machine wedges it.
        # Debian's wrapper (/usr/sbin/rabbitmq-server) switches to the rabbitmq user with su, whose PAM session
        # resets the soft limit: raise it inside that user's shell instead.
        local server=/usr/lib/rabbitmq/bin/rabbitmq-server
        if [[ -x $server ]] && id rabbitmq >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
            say "starting rabbitmq-server: su rabbitmq -c 'ulimit -n <hard limit>; $server -detached'"
            su rabbitmq -s /bin/sh -c "ulimit -n \$(ulimit -Hn); cd /var/lib/rabbitmq && \
 exec timeout $COMMAND_SECONDS $server -detached"
        else
            say "starting rabbitmq-server: rabbitmq-server -detached"
            as_root timeout "$COMMAND_SECONDS" rabbitmq-server -detached
        fi
    fi
}

# The Erlang VM holding the broker's port (not other nodes on this machine, e.g. the fault tests' own).
rabbit_beam_pids() {
    if command -v ss >/dev/null 2>&1; then
        as_root ss -ltnpH "sport = :$port" 2>/dev/null | grep 'beam' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true
    fi
}

# A wedged local node: ask it to stop, then kill its VM, so that it can be started again.
stop_wedged_rabbitmq() {
    local pids
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        as_root timeout 60 systemctl stop rabbitmq-server || true
    fi
    if command -v rabbitmqctl >/dev/null 2>&1; then
        say "stopping the wedged node: rabbitmqctl stop (at most 30s)"
        as_root timeout 30 rabbitmqctl stop >/dev/null 2>&1 || true
    fi
    pids=$(rabbit_beam_pids)
    if [[ -n $pids ]]; then
        say "killing the wedged node's Erlang VM: kill -9 $pids"
        # shellcheck disable=SC2086  # one pid a word
        as_root kill -CONT $pids 2>/dev/null || true
        # shellcheck disable=SC2086
        as_root kill -9 $pids 2>/dev/null || true
        sleep 2
    fi
}

# --- 1. already there? ---------------------------------------------------------------------------
status=0
amqp_answers || status=$?
if ((status == 0)); then
    say "OK: RabbitMQ answers AMQP on $where"
    exit 0
fi
if ((status == 2)); then
    reason_kind=taken
    give_up "something listens on $where but does not answer as an AMQP 0-9-1 broker"
fi
if ((status == 3)); then
    # Silence may be a busy broker: look twice more before calling it wedged.
    for _ in 1 2; do
        sleep 2
        status=0
        amqp_answers || status=$?
        if ((status == 0)); then
            say "OK: RabbitMQ answers AMQP on $where (slowly)"
            exit 0
        fi
    done
fi
if ((status == 3)); then
    say "$where accepts connections but does not answer the AMQP header within ${probe_seconds}s, three times: wedged"
    if ((!local_host)) || [[ $port != 5672 ]] || [[ ${RABBITMQ_NO_RESTART:-0} == 1 ]] || ! can_be_root; then
        give_up "the broker on $where accepts connections but does not answer (wedged: out of file descriptors?\
 see 'rabbitmq-diagnostics status'); restart it"
    fi
    stop_wedged_rabbitmq
    status=0
    amqp_answers || status=$?
    if ((status != 1)); then
        give_up "the wedged broker on $where still holds the port after rabbitmqctl stop and kill -9"
    fi
fi
say "no RabbitMQ answers on $where"

if ((!local_host)); then
    give_up "the broker is not local"
fi
if [[ $port != 5672 ]]; then
    give_up "a local broker is only started on the default port 5672, not $port"
fi

# --- 2a. Docker ----------------------------------------------------------------------------------
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    if compose version >/dev/null 2>&1; then
        say "a Docker engine runs: docker compose up -d rabbitmq"
        (cd "$repo_root" && compose up -d rabbitmq) || give_up "'docker compose up -d rabbitmq' failed (see above)"
        wait_for_broker "docker compose up -d rabbitmq" && exit 0
        give_up "the rabbitmq container did not become ready; see: docker compose logs rabbitmq"
    fi
    say "a Docker engine runs but neither 'docker compose' nor 'docker-compose' is installed; skipping Docker"
else
    say "no Docker engine answers (docker info); skipping Docker"
fi

# --- 2b. Debian's rabbitmq-server, installed -----------------------------------------------------
log_hint="see /var/log/rabbitmq/ (startup_log, startup_err, rabbit@*.log)"
if command -v rabbitmq-server >/dev/null 2>&1; then
    if ! can_be_root; then
        give_up "rabbitmq-server is installed but starting it needs root (no password-less sudo)"
    fi
    start_debian_rabbitmq || give_up "starting the installed rabbitmq-server failed; $log_hint"
    wait_for_broker "starting the installed rabbitmq-server" && exit 0
    give_up "the installed rabbitmq-server did not come up; $log_hint"
fi

# --- 2c. install it ------------------------------------------------------------------------------
if [[ ${RABBITMQ_NO_INSTALL:-0} == 1 ]]; then
    give_up "rabbitmq-server is not installed and RABBITMQ_NO_INSTALL=1"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    give_up "rabbitmq-server is not installed and there is no apt-get here"
fi
if ! can_be_root; then
    give_up "rabbitmq-server is not installed and installing it needs root (no password-less sudo)"
fi
say "installing Debian's rabbitmq-server: apt-get update && apt-get install -y rabbitmq-server"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    give_up "'apt-get update' failed (see above)"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server </dev/null ||
    give_up "'apt-get install -y rabbitmq-server' failed (see above)"
# The package's postinst may already have started it (with systemd, or where invoke-rc.d may).
if amqp_answers; then
    say "OK: RabbitMQ answers AMQP on $where (started by the package)"
    exit 0
fi
start_debian_rabbitmq || give_up "starting the freshly installed rabbitmq-server failed; $log_hint"
wait_for_broker "starting the freshly installed rabbitmq-server" && exit 0
give_up "the freshly installed rabbitmq-server did not come up; $log_hint"
