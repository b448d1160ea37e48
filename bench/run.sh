#!/usr/bin/env bash
# Twofold load benchmark (issue 8), loopback only, every step bounded:
#   1. builds the release binaries (twofold, twofold-bench);
#   2. starts `twofold serve` on a free 127.0.0.1 port with a throwaway data dir under /tmp;
#   3. seeds USERS users (authenticator app + SMS each) with a random bench key;
#   4. restarts the server and times start-up to /readyz with those users;
#   5. runs each scenario for DURATION seconds at CONCURRENCY connections, reading the
#      server's CPU seconds (/proc/<pid>/stat utime+stime) and memory (VmRSS, VmHWM)
#      before and after, and its /metrics latency sums;
#   6. prints a summary table; stops the server and deletes the data dir on exit.
#
# Settings (environment):
#   USERS=20000 DURATION=20 CONCURRENCY=32 THREADS=1 (load generator worker threads)
#   SCENARIOS="auth-totp getuserdetails adduser mixed auth-push healthz"
#                    healthz: GET /healthz, no signing and no database: the HTTP floor
#   PUSH_USERS=200   users auth-push adds and pairs with a simulated phone (>= CONCURRENCY);
#                    the run allows each phone 10000 pushes per 10 minutes (push_rate_limit)
#   PACED_RATES=""   e.g. "100 200 300": extra auth-totp runs paced at that many auth/s,
#                    for latency at a rate below saturation
#   KEEP=0           1 keeps the data dir and logs
#   ENGINE=sqlite    or postgres: the server stores in a throwaway PostgreSQL cluster
#                    (scripts/pg-cluster: 127.0.0.1, fsync off), stopped and removed on exit;
#                    PostgreSQL's own CPU then shows in the "other s" column
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-20000}
DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-32}
THREADS=${THREADS:-1}
SCENARIOS=${SCENARIOS:-"auth-totp getuserdetails adduser mixed auth-push healthz"}
PUSH_USERS=${PUSH_USERS:-200}
PACED_RATES=${PACED_RATES:-}
KEEP=${KEEP:-0}
ENGINE=${ENGINE:-sqlite}
[[ "$ENGINE" == sqlite || "$ENGINE" == postgres ]] || { echo "ENGINE must be sqlite or postgres" >&2; exit 2; }

number_in() { # name value min max
    [[ "$2" =~ ^[0-9]+$ ]] && (( $2 >= $3 && $2 <= $4 )) || { echo "$1 must be an integer in $3..$4" >&2; exit 2; }
}
number_in USERS "$USERS" 1 2000000
number_in DURATION "$DURATION" 1 3600
number_in CONCURRENCY "$CONCURRENCY" 1 4096
number_in THREADS "$THREADS" 1 64
number_in PUSH_USERS "$PUSH_USERS" "$CONCURRENCY" 10000
for s in $SCENARIOS; do
    case "$s" in auth-totp | getuserdetails | adduser | mixed | auth-push | healthz) ;; *) echo "unknown scenario $s" >&2; exit 2 ;; esac
done
for r in $PACED_RATES; do number_in PACED_RATES "$r" 1 100000; done

echo "== building (release)"
cargo build --release --quiet -p twofold-server -p twofold-bench
# Where cargo put them: CARGO_TARGET_DIR when set, else ./target.
SERVER=${CARGO_TARGET_DIR:-target}/release/twofold
BENCH=${CARGO_TARGET_DIR:-target}/release/twofold-bench

WORK=""
SERVER_PID=""
PGDIR=""
BOUNDED=()
# The store option of every `twofold` command: empty for SQLite (the data dir's file).
DB_ARGS=()

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    stop_server
    if [[ -n "$PGDIR" ]]; then scripts/pg-cluster stop "$PGDIR" || true; fi
    if [[ -z "$WORK" ]]; then return; fi
    if [[ "$KEEP" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

WORK=$(mktemp -d /tmp/twofold-bench.XXXXXX)
DATA=$WORK/data
PORT=$("$BENCH" free-port)
LISTEN=127.0.0.1:$PORT
KEY=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
CLK_TCK=$(getconf CLK_TCK)

now_ns() { date +%s%N; }

start_server() {
    "$SERVER" --data-dir "$DATA" "${DB_ARGS[@]}" --listen "$LISTEN" serve >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
}

# Milliseconds from $1 (ns) until /readyz answers 200; polls every 5 ms for at most ~20 s.
wait_ready() {
    local t0=$1 i
    for ((i = 0; i < 4000; i++)); do
        if curl -fsS -o /dev/null --max-time 1 "http://$LISTEN/readyz" 2>/dev/null; then
            echo $((($(now_ns) - t0) / 1000000))
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server exited; its log:" >&2
            cat "$WORK/server.log" >&2
            return 1
        fi
        sleep 0.005
    done
    echo "the server did not become ready" >&2
    return 1
}

# Busy ticks of the whole machine (all CPUs: user nice system irq softirq steal).
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
cpu_ticks() { sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{ print $12 + $13 }'; }
mem_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER_PID/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
# "op sum count" lines of the server's latency histograms.
latency_sums() {
    curl -fsS --max-time 5 "http://$LISTEN/metrics" |
        awk -F'[{}" ]+' '/^twofold_request_duration_seconds_(sum|count)\{/ {
            split($1, n, "_"); kind = n[length(n)]
            for (i = 2; i < NF; i++) if ($i == "op=") op = $(i + 1)
            v[op " " kind] = $NF; ops[op] = 1
        } END { for (o in ops) print o, v[o " sum"] + 0, v[o " count"] + 0 }'
}

if [[ "$ENGINE" == postgres ]]; then
    PGDIR=$(mktemp -d /tmp/twofold-bench-pg.XXXXXX) # outside $WORK (0700): the cluster runs as its own user
    PG_URL=$(scripts/pg-cluster start "$PGDIR")
    "$(scripts/pg-cluster bindir)/psql" -X -q "$PG_URL" -c "CREATE DATABASE twofold_bench"
    DB_ARGS=(--database-url "$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/twofold_bench")))' "$PG_URL")")
    echo "== PostgreSQL cluster in $PGDIR (fsync off)"
fi
echo "== server on $LISTEN ($ENGINE), data in $WORK"
T0=$(now_ns)
start_server
FIRST_READY_MS=$(wait_ready "$T0")
echo "   first start (creates the database) ready in $FIRST_READY_MS ms"

echo "== seeding $USERS users"
T0=$(now_ns)
"$SERVER" --data-dir "$DATA" "${DB_ARGS[@]}" seed --org default --users "$USERS" --bench-key "$KEY"
SEED_MS=$((($(now_ns) - T0) / 1000000))
# Seeding leaves the new file's pages dirty in the kernel; written back during the first
# scenarios, they competed with the run (and with its checkpoints' fsync): auth-totp
# varied from 2,800 to 4,100 auth/s between otherwise equal runs. A server in use has
# no such backlog.
sync

stop_server
T0=$(now_ns)
start_server
READY_MS=$(wait_ready "$T0")
IDLE_RSS=$(mem_kb VmRSS)
echo "   restart with $USERS users: ready in $READY_MS ms, RSS $(mb "$IDLE_RSS") MB"

PROPS=$DATA/pingid.properties
# auth-push pairs its own users (adduser, then the device API's pairing) and signs each in
# many times: the default of 20 pushes per device per 10 minutes would answer 20548.
if [[ " $SCENARIOS " == *" auth-push "* ]]; then
    "$SERVER" --data-dir "$DATA" "${DB_ARGS[@]}" org set default push_rate_limit=10000 >/dev/null
fi
ROWS=()
run_scenario() { # label, then twofold-bench arguments
    local label=$1
    shift
    local c0 c1 cpu_all m0 m1 out summary requests auths secs cpu other before after
    if [[ "$1" == auth-totp || "$1" == mixed ]]; then
        # Start on a fresh 30-s TOTP step (an earlier run may have spent codes of this
        # one), waiting here so that the idle wait is not in the CPU figures.
        local wait_ms=$((30000 - $(now_ns) / 1000000 % 30000 + 50))
        echo "   waiting $((wait_ms / 1000)) s for a fresh 30-s time step"
        sleep "$(awk -v ms="$wait_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    fi
    before=$(latency_sums)
    c0=$(cpu_ticks)
    m0=$(machine_ticks)
    out=$("$BENCH" "$@" --props "$PROPS" --users "$USERS" --bench-key "$KEY" --no-step-wait \
        --concurrency "$CONCURRENCY" --threads "$THREADS" --clk-tck "$CLK_TCK" --progress 0 \
        --server-pid "$SERVER_PID")
    c1=$(cpu_ticks)
    m1=$(machine_ticks)
    after=$(latency_sums)
    echo "$out"
    summary=$(grep '^summary ' <<<"$out")
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$summary"; }
    requests=$(field requests)
    auths=$(field auths)
    secs=$(field seconds)
    cpu_all=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
    cpu=$cpu_all
    # The server's CPU over the measured run alone when the bench read it (it excludes
    # set-up such as auth-push's pairing of its users).
    if [[ "$(field server_cpu_s)" =~ ^[0-9.]+$ ]]; then cpu=$(field server_cpu_s); fi
    # CPU seconds of everything else on the machine (noise): all busy time minus the
    # server and the load generator.
    other=$(awk -v a="$m0" -v b="$m1" -v t="$CLK_TCK" -v s="$cpu_all" -v c="$(field client_cpu_s)" \
        'BEGIN { o = (b - a) / t - s - c; if (o < 0) o = 0; printf "%.1f", o }')
    echo "  server: CPU $cpu s ($(awk -v c="$cpu" -v s="$secs" 'BEGIN { printf "%.0f", 100 * c / s }') % of one core)," \
        "RSS $(mb "$(mem_kb VmRSS)") MB, peak (VmHWM) $(mb "$(mem_kb VmHWM)") MB;" \
        "other processes: $other CPU s"
    # Server-side mean latency per operation over this run (from /metrics); operations
    # with fewer than 10 requests are the generator's preflight checks, not the load.
    awk 'NR == FNR { s[$1] = $2; n[$1] = $3; next }
         { ds = $2 - s[$1]; dn = $3 - n[$1]
           if (dn >= 10) printf "  server-side mean %-20s %8.2f ms over %d requests\n", $1, 1000 * ds / dn, dn }' \
        <(echo "$before") <(echo "$after")
    if [[ "$(field starved_s)" =~ ^[0-9.]+$ ]] && awk -v s="$(field starved_s)" 'BEGIN { exit !(s > 0) }'; then
        BOUNDED+=("$label")
    fi
    ROWS+=("$(printf '%-24s %9s %9s %10s %10s %8s %10s %10s %9s %8s' "$label" \
        "$(field req_per_s)" "$(field auth_per_s)" "$(field auth_p99_ms)" "$(field iter_p99_ms)" "$cpu" \
        "$(awk -v c="$cpu" -v n="$auths" 'BEGIN { if (n > 0) printf "%.3f", 1000 * c / n; else print "-" }')" \
        "$(awk -v c="$cpu" -v n="$requests" 'BEGIN { if (n > 0) printf "%.3f", 1000 * c / n; else print "-" }')" \
        "$(mb "$(mem_kb VmHWM)")" "$other")")
}

for s in $SCENARIOS; do
    echo "== $s: $DURATION s, $CONCURRENCY connections"
    run_scenario "$s" "$s" --duration "$DURATION" --push-users "$PUSH_USERS"
done
for r in $PACED_RATES; do
    echo "== auth-totp paced at $r authentications/s: $DURATION s"
    run_scenario "auth-totp @$r/s" auth-totp --duration "$DURATION" --rate "$r"
done

echo
echo "== summary ($ENGINE): $USERS users, $CONCURRENCY connections, $DURATION s per scenario, $(nproc) CPUs"
echo "   seeding: $SEED_MS ms ($(awk -v u="$USERS" -v ms="$SEED_MS" 'BEGIN { printf "%.0f", u * 1000 / ms }') users/s)"
echo "   start-up to ready with $USERS users: $READY_MS ms (first start on an empty dir: $FIRST_READY_MS ms)"
echo "   server RSS idle after start-up: $(mb "$IDLE_RSS") MB; peak over the whole run: $(mb "$(mem_kb VmHWM)") MB"
printf '%-24s %9s %9s %10s %10s %8s %10s %10s %9s %8s\n' scenario "req/s" "auth/s" "auth p99" "iter p99" "CPU s" \
    "CPU ms/au" "CPU ms/req" "HWM MB" "other s"
printf '%s\n' "${ROWS[@]}"
echo "(p99 in ms; iter p99: per iteration, from the schedule when paced; CPU: the server's user+system seconds;"
echo " other s: CPU seconds used by other processes on the machine during the run, i.e. noise)"
if ((${#BOUNDED[@]} > 0)); then
    echo "WARNING: bounded by USERS, not by the server: ${BOUNDED[*]} (each user signs in once per 30-s step," \
        "so a run reaches at most USERS / min(DURATION, 30 s) authentications/s); raise USERS" >&2
fi
