#!/usr/bin/env bash
# Real replicated servers on loopback, for the replica tests and for trying studyhall's
# read replicas: a MariaDB GTID primary and its replicas, a PostgreSQL 15 streaming primary
# and its standbys, each in its own data directory under one state folder.
#
#   scripts/replicas.sh up     [all|mariadb|postgresql] [--replicas N]   (N = 1 or 2; default 1)
#   scripts/replicas.sh status [all|mariadb|postgresql]
#   scripts/replicas.sh down   [all|mariadb|postgresql]
#
# `up` starts whatever of the set is not running (reusing its data when it has some, so a
# killed server comes back as it was) and writes $DIR/env, sourcable, with the URLs. `down`
# stops, by the PIDs in its own pid files, only the servers it started, then removes their
# data. `status` exits non-zero when a server is not running or a replica is not replicating.
#
# Settings: STUDYHALL_REPLICAS_DIR (state folder, default /tmp/studyhall-replicas),
# STUDYHALL_REPLICAS_MARIADB_PORT (primary port, default 3307; replicas take the next ones),
# STUDYHALL_REPLICAS_POSTGRES_PORT (default 5442; likewise), STUDYHALL_REPLICAS_PG_BIN
# (PostgreSQL's programs, default /usr/lib/postgresql/15/bin). Run as root (the servers then run
# as mysql and postgres) or as an ordinary user who can run mariadbd and PostgreSQL 15.
set -euo pipefail

DIR=$(realpath -m "${STUDYHALL_REPLICAS_DIR:-/tmp/studyhall-replicas}")
MARIADB_PORT=${STUDYHALL_REPLICAS_MARIADB_PORT:-3307}
POSTGRES_PORT=${STUDYHALL_REPLICAS_POSTGRES_PORT:-5442}
MARIADBD=/usr/sbin/mariadbd
PG_BIN=${STUDYHALL_REPLICAS_PG_BIN:-/usr/lib/postgresql/15/bin}
APP_USER=studyhall APP_PASSWORD=studyhall-app DATABASE=studyhall
ADMIN_USER=admin ADMIN_PASSWORD=admin-secret
REPL_USER=replicator REPL_PASSWORD=replicator-secret
WAIT_SECONDS=60

log() { printf '[replicas] %s\n' "$*"; }
die() { printf '[replicas] error: %s\n' "$*" >&2; exit 1; }

usage() {
    die "usage: $0 up|down|status [all|mariadb|postgresql] [--replicas N] (N is 1 or 2)"
}

# --- arguments ---------------------------------------------------------------------------
[ $# -ge 1 ] || usage
ACTION=$1; shift
TARGET=all
REPLICAS=""
while [ $# -gt 0 ]; do
    case $1 in
        all|mariadb|postgresql) TARGET=$1 ;;
        --replicas) [ $# -ge 2 ] || usage; REPLICAS=$2; shift ;;
        --replicas=*) REPLICAS=${1#*=} ;;
        *) usage ;;
    esac
    shift
done
case $ACTION in up|down|status) ;; *) usage ;; esac
case $REPLICAS in ""|1|2) ;; *) die "--replicas must be 1 or 2, not '$REPLICAS'" ;; esac
case $TARGET in
    all) BACKENDS="mariadb postgresql" ;;
    *) BACKENDS=$TARGET ;;
esac

AS_ROOT=0; [ "$(id -u)" = 0 ] && AS_ROOT=1

# Run a command as the account that owns a backend's files (mysql / postgres under root).
as_owner() {  # owner, command...
    local owner=$1; shift
    if [ $AS_ROOT = 1 ]; then runuser -u "$owner" -- "$@"; else "$@"; fi
}

# --- pid files ---------------------------------------------------------------------------
pid_of() {  # name -> the live PID of that server of ours, or nothing
    local file="$DIR/$1.pid" pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    # Ours only: the process must still run on this server's data directory (PIDs get reused).
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/$1/"; then
        echo "$pid"
    fi
}

stop_server() {  # name, signal (TERM for mariadbd, INT = fast shutdown for postgres)
    local name=$1 sig=$2 pid
    pid=$(pid_of "$name")
    if [ -n "$pid" ]; then
        log "stopping $name (pid $pid)"
        # A frozen (SIGSTOP) server cannot shut down: thaw it and its children (PostgreSQL's
        # backends) first.
        kill -CONT "$pid" $(pgrep -P "$pid" || true) 2>/dev/null || true
        kill "-$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            log "$name did not stop within ${WAIT_SECONDS}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$DIR/$name.pid"
}

names_of() {  # backend, replicas -> server names
    local prefix=$1 n=$2 i
    [ "$prefix" = postgresql ] && prefix=postgres
    echo "$prefix-primary"
    for i in $(seq 1 "$n"); do echo "$prefix-replica$i"; done
}

replicas_of() {  # backend -> how many replicas `up` made (0 when never brought up)
    cat "$DIR/$1.replicas" 2>/dev/null || echo 0
}

# --- MariaDB -----------------------------------------------------------------------------
maria() {  # name, SQL -> run as root over the server's socket, tab-separated output
    mariadb --no-defaults --socket="$DIR/$1/sock" -u root --batch --skip-column-names \
        --connect-timeout=3 -e "$2"
}

maria_start() {  # name, index (0 = primary)
    local name=$1 index=$2 port=$((MARIADB_PORT + $2)) data="$DIR/$1/data" fresh=0 pid
    local user=(); [ $AS_ROOT = 1 ] && user=(--user=mysql)
    [ -n "$(pid_of "$name")" ] && return 0
    mkdir -p "$DIR/$name"
    [ $AS_ROOT = 1 ] && chown mysql "$DIR/$name"
    if [ ! -d "$data/mysql" ]; then
        log "initializing $name"
        mariadb-install-db --no-defaults --datadir="$data" "${user[@]}" \
            --auth-root-authentication-method=normal --skip-test-db >"$DIR/$name/install.log" 2>&1 \
            || die "mariadb-install-db failed for $name; see $DIR/$name/install.log"
        fresh=1
    fi
    local role=(--log-bin=binlog --binlog-format=ROW)
    [ "$index" -gt 0 ] && role=(--read-only=ON --relay-log=relay)
    log "starting $name on 127.0.0.1:$port"
    # setsid: out of the caller's process group; 9>&-: the daemon must not hold our lock.
    setsid "$MARIADBD" --no-defaults --datadir="$data" --port="$port" --socket="$DIR/$name/sock" \
        --bind-address=127.0.0.1 "${user[@]}" --skip-name-resolve --innodb-buffer-pool-size=32M \
        --innodb-log-file-size=16M --server-id=$((index + 1)) --gtid-strict-mode=1 "${role[@]}" \
        --log-error="$DIR/$name/error.log" </dev/null >/dev/null 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$DIR/$name.pid"
    for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
        maria "$name" "SELECT 1" >/dev/null 2>&1 && break
        [ -d "/proc/$pid" ] || die "$name exited while starting; see $DIR/$name/error.log"
        sleep 0.1
    done
    maria "$name" "SELECT 1" >/dev/null 2>&1 || die "$name did not answer within ${WAIT_SECONDS}s"
    [ $fresh = 1 ] || return 0
    if [ "$index" = 0 ]; then
        # Written to the binlog, so every replica gets the same accounts and database.
        maria "$name" "
            CREATE DATABASE $DATABASE CHARACTER SET utf8mb4;
            CREATE USER '$APP_USER'@'127.0.0.1' IDENTIFIED BY '$APP_PASSWORD';
            GRANT ALL ON $DATABASE.* TO '$APP_USER'@'127.0.0.1';
            CREATE USER '$ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$ADMIN_PASSWORD';
            GRANT ALL ON *.* TO '$ADMIN_USER'@'127.0.0.1' WITH GRANT OPTION;
            CREATE USER '$REPL_USER'@'127.0.0.1' IDENTIFIED BY '$REPL_PASSWORD';
            GRANT REPLICATION SLAVE ON *.* TO '$REPL_USER'@'127.0.0.1';"
    else
        maria "$name" "
            CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$MARIADB_PORT,
                MASTER_USER='$REPL_USER', MASTER_PASSWORD='$REPL_PASSWORD',
                MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;
            START SLAVE;"
    fi
}

maria_replicating() {  # name -> exit 0 when both replication threads run
    local running
    running=$(mariadb --no-defaults --socket="$DIR/$1/sock" -u root --connect-timeout=3 \
        -e "SHOW SLAVE STATUS\G" 2>/dev/null | grep -c -E '^ *Slave_(IO|SQL)_Running: Yes$' || true)
    [ "$running" = 2 ]
}

maria_catch_up() {  # replica name -> wait until it applied everything the primary has
    local pos
    pos=$(maria mariadb-primary "SELECT @@gtid_binlog_pos")
    [ "$(maria "$1" "SELECT MASTER_GTID_WAIT('$pos', $WAIT_SECONDS)")" = 0 ] \
        || die "$1 did not catch up with the primary within ${WAIT_SECONDS}s; see $DIR/$1/error.log"
}

# --- PostgreSQL --------------------------------------------------------------------------
pg() {  # port, SQL -> run as postgres over TCP, unaligned output
    psql -X -h 127.0.0.1 -p "$1" -U postgres -d postgres -At -v ON_ERROR_STOP=1 -c "$2"
}

pg_start() {  # name, index (0 = primary)
    local name=$1 index=$2 port=$((POSTGRES_PORT + $2)) data="$DIR/$1/data" fresh=0
    [ -n "$(pid_of "$name")" ] && return 0
    mkdir -p "$DIR/$name"
    [ $AS_ROOT = 1 ] && chown postgres "$DIR/$name"
    if [ ! -f "$data/PG_VERSION" ]; then
        fresh=1
        if [ "$index" = 0 ]; then
            log "initializing $name"
            as_owner postgres "$PG_BIN/initdb" -D "$data" -A trust -U postgres --no-sync \
                >"$DIR/$name/install.log" 2>&1 9>&- \
                || die "initdb failed for $name; see $DIR/$name/install.log"
        else
            log "copying the primary into $name (pg_basebackup -R)"
            as_owner postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$POSTGRES_PORT" \
                -U postgres -D "$data" -R -X stream -c fast >"$DIR/$name/install.log" 2>&1 9>&- \
                || die "pg_basebackup failed for $name; see $DIR/$name/install.log"
        fi
        # Later lines win: a standby's copy of the primary's settings gets its own port.
        cat >>"$data/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR/$name'
shared_buffers = 16MB
max_connections = 100
wal_keep_size = 256MB
hot_standby = on
hot_standby_feedback = on
EOF
    fi
    log "starting $name on 127.0.0.1:$port"
    # A server just killed may leave children for a moment: pg_ctl then refuses; try again.
    local started=0
    for _ in $(seq 1 $((WAIT_SECONDS / 2))); do
        if as_owner postgres setsid "$PG_BIN/pg_ctl" -D "$data" -l "$DIR/$name/server.log" \
            -w -t "$WAIT_SECONDS" start >/dev/null 2>&1 9>&-; then
            started=1; break
        fi
        sleep 2
    done
    [ $started = 1 ] || die "$name did not start; see $DIR/$name/server.log"
    head -n 1 "$data/postmaster.pid" >"$DIR/$name.pid"
    if [ $fresh = 1 ] && [ "$index" = 0 ]; then
        pg "$port" "CREATE ROLE $APP_USER LOGIN PASSWORD '$APP_PASSWORD'" >/dev/null
        pg "$port" "CREATE DATABASE $DATABASE OWNER $APP_USER" >/dev/null
    fi
}

pg_replicating() {  # index -> exit 0 when that standby streams from the primary
    [ "$(pg $((POSTGRES_PORT + $1)) "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)" = streaming ]
}

pg_catch_up() {  # index -> wait until the standby replayed everything the primary wrote
    local lsn
    lsn=$(pg "$POSTGRES_PORT" "SELECT pg_current_wal_lsn()")
    for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
        [ "$(pg $((POSTGRES_PORT + $1)) "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && return 0
        sleep 0.1
    done
    die "postgres-replica$1 did not catch up with the primary within ${WAIT_SECONDS}s"
}

# --- the env file ------------------------------------------------------------------------
env_urls() {  # prefix, SQLAlchemy scheme, primary port, admin login, replica count
    local prefix=$1 scheme=$2 port=$3 admin=$4 n=$5 i urls="" admins=""
    echo "${prefix}_PRIMARY_URL=$scheme://$APP_USER:$APP_PASSWORD@127.0.0.1:$port/$DATABASE"
    echo "${prefix}_ADMIN_PRIMARY_URL=$scheme://$admin@127.0.0.1:$port/$DATABASE"
    for i in $(seq 1 "$n"); do
        urls+="${urls:+,}$scheme://$APP_USER:$APP_PASSWORD@127.0.0.1:$((port + i))/$DATABASE"
        admins+="${admins:+,}$scheme://$admin@127.0.0.1:$((port + i))/$DATABASE"
    done
    echo "${prefix}_REPLICA_URLS=$urls"
    echo "${prefix}_ADMIN_REPLICA_URLS=$admins"
}

write_env() {
    local n
    {
        echo "# written by scripts/replicas.sh up; source it"
        n=$(replicas_of mariadb)
        if [ "$n" -gt 0 ]; then
            env_urls MARIADB mysql+pymysql "$MARIADB_PORT" "$ADMIN_USER:$ADMIN_PASSWORD" "$n"
        fi
        n=$(replicas_of postgresql)
        if [ "$n" -gt 0 ]; then
            env_urls POSTGRES postgresql+psycopg "$POSTGRES_PORT" postgres "$n"
        fi
    } >"$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
}

# --- actions -----------------------------------------------------------------------------
backend_status() {  # backend -> print one line per server; exit non-zero on any problem
    local backend=$1 n name i=0 bad=0 pid state
    n=$(replicas_of "$backend")
    if [ "$n" = 0 ]; then log "$backend: not up"; return 1; fi
    for name in $(names_of "$backend" "$n"); do
        pid=$(pid_of "$name")
        if [ -z "$pid" ]; then
            state="not running"; bad=1
        elif [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ]; then
            state="frozen (SIGSTOP), pid $pid"; bad=1
        elif [ $i = 0 ]; then
            state="running, pid $pid"
        elif { [ "$backend" = mariadb ] && maria_replicating "$name"; } \
            || { [ "$backend" = postgresql ] && pg_replicating "$i"; }; then
            state="replicating, pid $pid"
        else
            state="running but NOT replicating, pid $pid"; bad=1
        fi
        local port=$(( $([ "$backend" = mariadb ] && echo "$MARIADB_PORT" || echo "$POSTGRES_PORT") + i ))
        log "$name 127.0.0.1:$port: $state"
        i=$((i + 1))
    done
    return $bad
}

do_up() {
    local backend n i want
    mkdir -p "$DIR"; chmod 755 "$DIR"
    for backend in $BACKENDS; do
        case $backend in
            mariadb) [ -x "$MARIADBD" ] && command -v mariadb-install-db >/dev/null \
                || die "MariaDB is not installed ($MARIADBD and mariadb-install-db are needed)" ;;
            postgresql) [ -x "$PG_BIN/pg_ctl" ] \
                || die "PostgreSQL 15 is not installed ($PG_BIN/pg_ctl is needed)" ;;
        esac
        n=$(replicas_of "$backend")
        want=${REPLICAS:-1}
        [ "$n" -gt "$want" ] && want=$n
        i=0
        for name in $(names_of "$backend" "$want"); do
            if [ "$backend" = mariadb ]; then maria_start "$name" $i; else pg_start "$name" $i; fi
            i=$((i + 1))
        done
        echo "$want" >"$DIR/$backend.replicas"
        for i in $(seq 1 "$want"); do
            if [ "$backend" = mariadb ]; then maria_catch_up "mariadb-replica$i"; else pg_catch_up "$i"; fi
        done
    done
    write_env
    for backend in $BACKENDS; do backend_status "$backend" || true; done
    log "URLs in $DIR/env"
}

do_down() {
    local backend name
    for backend in $BACKENDS; do
        # Replicas first, so that none of them logs a lost primary while it shuts down.
        for name in $(names_of "$backend" 2 | tac); do
            if [ "$backend" = mariadb ]; then stop_server "$name" TERM; else stop_server "$name" INT; fi
            rm -rf "${DIR:?}/$name"
        done
        rm -f "$DIR/$backend.replicas"
    done
    if [ -d "$DIR" ]; then
        write_env
        if ! ls "$DIR"/*.replicas >/dev/null 2>&1; then rm -rf "${DIR:?}"; fi
    fi
    log "down: $TARGET"
}

do_status() {
    local backend bad=0
    for backend in $BACKENDS; do backend_status "$backend" || bad=1; done
    return $bad
}

# One invocation at a time per state folder (two test runs may call `up` together).
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock -w 300 9 || die "another scripts/replicas.sh holds $DIR.lock"
case $ACTION in
    up) do_up ;;
    down) do_down ;;
    status) do_status ;;
esac
