#!/usr/bin/env bash
# Twofold next to privacyIDEA (issue 8), in one run, loopback only, every step bounded:
#   1. builds the release binaries (twofold, twofold-bench);
#   2. installs privacyIDEA (pinned, PI_VERSION) and gunicorn from PyPI into a throwaway venv
#      under /tmp, writes a pi.cfg with SQLite, creates the tables, encryption and audit keys,
#      an admin, an internal SQL user resolver with USERS users and a default realm
#      (`pi-manage`);
#   3. enrolls one TOTP token per user with a known seed (the `twofold seed --bench-key`
#      rule) through privacyIDEA's management CLI: `pi-tokenjanitor import privacyidea`, one
#      process for all tokens (45-70 tokens/s here; the admin REST API's /token/init took
#      about 180 ms per token, QR code included). Every token gets the OTP PIN $PI_PIN, hashed
#      as privacyIDEA's default configuration hashes PINs (argon2id, m=64 MiB, t=9, p=4);
#   4. runs privacyIDEA under gunicorn (gthread workers, workers = CPUs, PI_THREADS threads
#      each, keep-alive) on a free 127.0.0.1 port and measures /validate/check with
#      twofold-bench's `privacyidea` scenario (user + pass = PIN + a fresh TOTP code, each user
#      at most once per 30-s step) for DURATION s at CONCURRENCY connections, twice:
#        a. default: the PIN is checked against its argon2 hash;
#        b. cheap PIN: the authentication policy `otppin=none` (privacyIDEA then checks no PIN,
#           so pass is the code alone and no hash is verified), server restarted;
#      reading the gunicorn processes' CPU seconds and memory before and after;
#   5. runs Twofold's auth-totp with the same DURATION/CONCURRENCY through bench/run.sh, with
#      TWOFOLD_USERS seeded users (the same users and seeds, more of them: Twofold signs in
#      more users per 30-s step than privacyIDEA could enroll in a reasonable time);
#   6. prints one table and the ratio Twofold ÷ the faster privacyIDEA configuration.
# Everything (servers, venv, databases) is stopped and deleted on exit; KEEP=1 keeps the dir.
#
# Settings (environment):
#   USERS=10000 TWOFOLD_USERS=300000 DURATION=20 CONCURRENCY=16 KEEP=0
#   PI_VERSION=3.14 GUNICORN_VERSION=27.0.1 PI_THREADS=4
# USERS bounds the rate: a user signs in at most once per 30-s step, so a run can reach at most
# USERS / min(DURATION, 30) authentications/s; twofold-bench says so when it hits that bound.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-10000}
TWOFOLD_USERS=${TWOFOLD_USERS:-300000}
DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-16}
KEEP=${KEEP:-0}
PI_VERSION=${PI_VERSION:-3.14}
GUNICORN_VERSION=${GUNICORN_VERSION:-27.0.1}
PI_THREADS=${PI_THREADS:-4}
PI_PIN=4711

number_in() { # name value min max
    [[ "$2" =~ ^[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)) || { echo "$1 must be an integer in $3..$4" >&2; exit 2; }
}
number_in USERS "$USERS" 1 200000
number_in TWOFOLD_USERS "$TWOFOLD_USERS" "$USERS" 2000000
number_in DURATION "$DURATION" 1 600
number_in CONCURRENCY "$CONCURRENCY" 1 1024
number_in PI_THREADS "$PI_THREADS" 1 64
[[ "$PI_VERSION" =~ ^[0-9][0-9.]*$ && "$GUNICORN_VERSION" =~ ^[0-9][0-9.]*$ ]] || {
    echo "PI_VERSION and GUNICORN_VERSION must be version numbers" >&2
    exit 2
}
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
    echo "privacyIDEA $PI_VERSION needs Python >= 3.10" >&2
    exit 2
}

echo "== building (release)"
cargo build --release --quiet -p twofold-server -p twofold-bench
BENCH=target/release/twofold-bench

WORK=$(mktemp -d /tmp/pi-compare.XXXXXX)
SHM=""
VENV=$WORK/venv
PY=$VENV/bin/python
PORT=$("$BENCH" free-port)
URL=http://127.0.0.1:$PORT
KEY=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
echo "$KEY" >"$WORK/bench-key" # the token seeds' key, for runs by hand in a KEEP=1 dir
ADMIN_PW=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
CLK_TCK=$(getconf CLK_TCK)
CPUS=$(nproc)
MASTER=""

stop_pi() {
    if [[ -n "$MASTER" ]] && kill -0 "$MASTER" 2>/dev/null; then
        kill "$MASTER" # gunicorn's master stops its workers on SIGTERM
        wait "$MASTER" 2>/dev/null || true
    fi
    MASTER=""
}
cleanup() {
    stop_pi
    if [[ -n "$SHM" ]]; then rm -rf "$SHM"; fi
    if [[ "$KEEP" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

echo "== privacyIDEA $PI_VERSION in a venv under $WORK"
T0=$(now_ns)
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "privacyidea==$PI_VERSION" "gunicorn==$GUNICORN_VERSION"
PI_INSTALLED=$("$PY" -c 'import importlib.metadata as m; print(m.version("privacyidea"))')
echo "   installed privacyIDEA $PI_INSTALLED, gunicorn $("$PY" -c 'import gunicorn; print(gunicorn.__version__)')," \
    "Python $("$PY" -c 'import platform; print(platform.python_version())') in $(secs_since "$T0") s"

write_cfg() { # file, database file
    cat >"$1" <<EOF
import logging
PI_ENCFILE = '$WORK/enckey'
PI_AUDIT_KEY_PRIVATE = '$WORK/private.pem'
PI_AUDIT_KEY_PUBLIC = '$WORK/public.pem'
PI_LOGFILE = '$WORK/privacyidea.log'
PI_LOGLEVEL = logging.INFO
SQLALCHEMY_DATABASE_URI = 'sqlite:///$2'
SECRET_KEY = b'$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')'
PI_PEPPER = '$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')'
EOF
}
write_cfg "$WORK/pi.cfg" "$WORK/pi.sqlite"
export PRIVACYIDEA_CONFIGFILE=$WORK/pi.cfg
cat >"$WORK/wsgi.py" <<EOF
from privacyidea.app import create_app
application = create_app(config_name="production", config_file="$WORK/pi.cfg", silent=True)
EOF

echo "== pi-manage: keys, tables, admin, resolver, realm"
T0=$(now_ns)
{
    "$VENV/bin/pi-manage" setup create_enckey
    "$VENV/bin/pi-manage" setup create_audit_keys
    "$VENV/bin/pi-manage" setup create_tables
    "$VENV/bin/pi-manage" admin add admin -p "$ADMIN_PW"
    "$VENV/bin/pi-manage" config resolver create_internal benchres
    "$VENV/bin/pi-manage" config realm create bench benchres
    "$VENV/bin/pi-manage" config realm set_default bench
} >>"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log" >&2; exit 1; }
echo "   done in $(secs_since "$T0") s"

echo "== $USERS users (internal SQL resolver) and TOTP tokens (pi-tokenjanitor import)"
T0=$(now_ns)
"$PY" - "$WORK/pi.sqlite" "$USERS" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executemany("INSERT INTO users_benchres (username, email) VALUES (?, ?)",
               ((f"user{n}", f"user{n}@example.test") for n in range(int(sys.argv[2]))))
db.commit()
EOF
"$PY" bench/pi_tokens.py --db "$WORK/pi.sqlite" --resolver benchres --realm bench --users "$USERS" \
    --prefix user --bench-key "$KEY" --pin-hash-of "$PI_PIN" --out "$WORK/tokens.enc" --keyfile "$WORK/tokens.key"
# The import commits several times per token; on tmpfs that is CPU-bound instead of waiting
# for the disk. The database is copied back before privacyIDEA serves from it.
IMPORT_DB=$WORK/pi.sqlite
if [[ -d /dev/shm && -w /dev/shm ]]; then
    SHM=$(mktemp -d /dev/shm/pi-compare.XXXXXX)
    cp "$WORK/pi.sqlite" "$SHM/pi.sqlite"
    IMPORT_DB=$SHM/pi.sqlite
fi
write_cfg "$WORK/pi-import.cfg" "$IMPORT_DB"
PRIVACYIDEA_CONFIGFILE=$WORK/pi-import.cfg "$VENV/bin/pi-tokenjanitor" import privacyidea "$WORK/tokens.enc" \
    --keyfile "$WORK/tokens.key" --user >"$WORK/import.log" 2>&1 || { cat "$WORK/import.log" >&2; exit 1; }
if [[ -n "$SHM" ]]; then
    cp "$SHM/pi.sqlite" "$WORK/pi.sqlite"
    rm -rf "$SHM"
    SHM=""
fi
tail -n 3 "$WORK/import.log" | sed 's/^/   /'
IMPORT_S=$(secs_since "$T0")
echo "   users and tokens in $IMPORT_S s"

start_pi() {
    "$VENV/bin/gunicorn" --chdir "$WORK" --workers "$CPUS" --worker-class gthread --threads "$PI_THREADS" \
        --keep-alive 10 --timeout 300 --no-control-socket --bind "127.0.0.1:$PORT" \
        --error-logfile "$WORK/gunicorn.log" wsgi:application &
    MASTER=$!
    local i
    for ((i = 0; i < 600; i++)); do # at most ~60 s
        if curl -fs -o /dev/null --max-time 10 "$URL/healthz/" 2>/dev/null; then return 0; fi
        if ! kill -0 "$MASTER" 2>/dev/null; then
            echo "gunicorn exited; its log:" >&2
            cat "$WORK/gunicorn.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "privacyIDEA did not become ready" >&2
    exit 1
}

# The gunicorn master and its workers.
pi_pids() { echo "$MASTER" $(pgrep -P "$MASTER" || true); }
pi_ticks() {
    local p t=0
    for p in $(pi_pids); do
        t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$t"
}
pi_mem_kb() { # VmRSS or VmHWM, summed over the processes
    local p k=0
    for p in $(pi_pids); do
        k=$((k + $(awk -v k="$1:" '$1 == k { print $2 }' "/proc/$p/status")))
    done
    echo "$k"
}
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# The admin REST API sees every token: a check that the import did what it says.
check_tokens() {
    local auth count
    auth=$(curl -fsS --max-time 30 -X POST "$URL/auth" --data-urlencode username=admin \
        --data-urlencode "password=$ADMIN_PW" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["result"]["value"]["token"])')
    count=$(curl -fsS --max-time 30 -H "Authorization: $auth" "$URL/token/?realm=bench&pagesize=1" |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["result"]["value"]["count"])')
    echo "   admin REST API: $count tokens in realm bench"
    [[ "$count" == "$USERS" ]] || { echo "expected $USERS tokens" >&2; exit 1; }
}

ROWS=()
row() { printf '%-34s %8s %9s %9s %7s %8s %10s %8s %8s %7s' "$@"; }
wait_step() { # waits for the next 30-s TOTP step when fewer than $1 ms are left in this one
    local left=$((30000 - $(now_ns) / 1000000 % 30000))
    if ((left < $1)); then
        echo "   waiting $((left / 1000)) s for a fresh 30-s time step"
        sleep "$(awk -v ms="$((left + 50))" 'BEGIN { printf "%.3f", ms / 1000 }')"
    fi
}
measure_pi() { # label, PIN sent before each code
    local label=$1 pin=$2 warm=$((CPUS * PI_THREADS < USERS ? CPUS * PI_THREADS : USERS)) c0 c1 m0 m1 out summary cpu other auths secs
    # Warm-up: one check per gunicorn thread (first requests fill caches), in a step of its
    # own, so that the measured run, on the next step, finds every user's code unused.
    wait_step 15000
    out=$("$BENCH" privacyidea --pi-url "$URL" --pi-pin "$pin" --users "$USERS" --bench-key "$KEY" --no-step-wait \
        --requests "$warm" --concurrency "$warm" --timeout-ms 120000 --progress 0)
    echo "   warm-up: $(grep '^summary ' <<<"$out" | cut -d' ' -f3-6)"
    wait_step 30000
    c0=$(pi_ticks)
    m0=$(machine_ticks)
    out=$("$BENCH" privacyidea --pi-url "$URL" --pi-pin "$pin" --users "$USERS" --bench-key "$KEY" --no-step-wait \
        --duration "$DURATION" --concurrency "$CONCURRENCY" --timeout-ms 120000 --clk-tck "$CLK_TCK" --progress 0)
    c1=$(pi_ticks)
    m1=$(machine_ticks)
    echo "$out" | sed 's/^/   /'
    summary=$(grep '^summary ' <<<"$out")
    auths=$(field auths "$summary")
    secs=$(field seconds "$summary")
    cpu=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
    other=$(awk -v a="$m0" -v b="$m1" -v t="$CLK_TCK" -v s="$cpu" -v c="$(field client_cpu_s "$summary")" \
        'BEGIN { o = (b - a) / t - s - c; if (o < 0) o = 0; printf "%.1f", o }')
    echo "   server (gunicorn master + $CPUS workers): CPU $cpu s" \
        "($(awk -v c="$cpu" -v s="$secs" 'BEGIN { printf "%.0f", 100 * c / s }') % of one core)," \
        "RSS $(mb "$(pi_mem_kb VmRSS)") MB, sum of peaks (VmHWM) $(mb "$(pi_mem_kb VmHWM)") MB; other processes: $other CPU s"
    ROWS+=("$(row "$label" "$(field auth_per_s "$summary")" "$(field auth_p50_ms "$summary")" \
        "$(field auth_p99_ms "$summary")" "$(field errors "$summary")" "$cpu" \
        "$(awk -v c="$cpu" -v n="$auths" 'BEGIN { if (n > 0) printf "%.1f", 1000 * c / n; else print "-" }')" \
        "$(mb "$(pi_mem_kb VmRSS)")" "$(mb "$(pi_mem_kb VmHWM)")" "$other")")
    LAST_RATE=$(field auth_per_s "$summary")
    LAST_CPU_MS=$(awk -v c="$cpu" -v n="$auths" 'BEGIN { if (n > 0) printf "%.3f", 1000 * c / n; else print 0 }')
}

echo "== privacyIDEA, default configuration (PIN checked against its argon2 hash), $URL"
start_pi
check_tokens
measure_pi "privacyIDEA $PI_INSTALLED default" "$PI_PIN"
PI_DEFAULT_RATE=$LAST_RATE
PI_DEFAULT_CPU_MS=$LAST_CPU_MS
stop_pi

echo "== privacyIDEA, cheap PIN: policy otppin=none (no PIN checked, no hash verified), restarted"
"$VENV/bin/pi-manage" config policy create bench-cheap-pin authentication otppin=none >>"$WORK/setup.log" 2>&1 ||
    { cat "$WORK/setup.log" >&2; exit 1; }
start_pi
measure_pi "privacyIDEA $PI_INSTALLED otppin=none" ""
PI_CHEAP_RATE=$LAST_RATE
PI_CHEAP_CPU_MS=$LAST_CPU_MS
stop_pi

echo "== Twofold auth-totp through bench/run.sh"
USERS=$TWOFOLD_USERS DURATION=$DURATION CONCURRENCY=$CONCURRENCY SCENARIOS=auth-totp PACED_RATES="" KEEP=0 \
    bench/run.sh | tee "$WORK/twofold.log" | sed 's/^/   /'
TF_SUMMARY=$(grep '^summary scenario=auth-totp ' "$WORK/twofold.log")
TF_SERVER=$(grep '^  server: CPU ' "$WORK/twofold.log")
TF_CPU=$(sed -n 's/.*CPU \([0-9.]*\) s.*/\1/p' <<<"$TF_SERVER")
TF_RSS=$(sed -n 's/.*RSS \([0-9.]*\) MB.*/\1/p' <<<"$TF_SERVER")
TF_HWM=$(sed -n 's/.*(VmHWM) \([0-9.]*\) MB.*/\1/p' <<<"$TF_SERVER")
TF_OTHER=$(sed -n 's/.*other processes: \([0-9.]*\) CPU s.*/\1/p' <<<"$TF_SERVER")
TF_RATE=$(field auth_per_s "$TF_SUMMARY")
ROWS+=("$(row "Twofold auth-totp" "$TF_RATE" "$(field auth_p50_ms "$TF_SUMMARY")" \
    "$(field auth_p99_ms "$TF_SUMMARY")" "$(field errors "$TF_SUMMARY")" "$TF_CPU" \
    "$(awk -v c="$TF_CPU" -v n="$(field auths "$TF_SUMMARY")" 'BEGIN { if (n > 0) printf "%.1f", 1000 * c / n; else print "-" }')" \
    "$TF_RSS" "$TF_HWM" "$TF_OTHER")")
if grep -q 'NOTE: workers waited' "$WORK/twofold.log"; then
    echo "WARNING: Twofold's run was bounded by USERS (each user signs in once per 30-s step): raise TWOFOLD_USERS" >&2
fi

echo
echo "== side by side: $USERS users (Twofold: $TWOFOLD_USERS), $CONCURRENCY connections, $DURATION s each, $CPUS CPUs, one load generator"
echo "   (twofold-bench, 1 thread, keep-alive), loopback; privacyIDEA: gunicorn gthread, $CPUS workers x $PI_THREADS threads"
row server "auth/s" "p50 ms" "p99 ms" errors "CPU s" "CPU ms/au" "RSS MB" "peak MB" "other s"
echo
printf '%s\n' "${ROWS[@]}"
FASTEST=$(awk -v a="$PI_DEFAULT_RATE" -v b="$PI_CHEAP_RATE" 'BEGIN { print (a > b ? a : b) }')
RATIO=$(awk -v t="$TF_RATE" -v p="$FASTEST" 'BEGIN { if (p > 0) printf "%.0f", t / p; else print "inf" }')
echo "ratio Twofold / fastest privacyIDEA ($FASTEST auth/s): ${RATIO}x (issue 8 target: at least 500x)"
# Server CPU per authentication is less sensitive to other load on a shared machine than the rate.
TF_CPU_MS=$(awk -v c="$TF_CPU" -v n="$(field auths "$TF_SUMMARY")" 'BEGIN { if (n > 0) printf "%.3f", 1000 * c / n; else print 0 }')
echo "server CPU per authentication: privacyIDEA $PI_DEFAULT_CPU_MS ms (default), $PI_CHEAP_CPU_MS ms (otppin=none)," \
    "Twofold $TF_CPU_MS ms: $(awk -v a="$PI_DEFAULT_CPU_MS" -v b="$PI_CHEAP_CPU_MS" -v t="$TF_CPU_MS" \
        'BEGIN { m = (a > 0 && a < b) ? a : b; if (t > 0) printf "%.0f", m / t; else print "inf" }')x less for Twofold"
echo "(an authentication: Twofold startauthentication + authoffline, 2 requests; privacyIDEA one /validate/check."
echo " CPU s: the server's user+system seconds during the run (privacyIDEA: gunicorn master and workers);"
echo " peak MB: VmHWM, for privacyIDEA summed over its processes; other s: CPU seconds of other processes, i.e. noise)"
