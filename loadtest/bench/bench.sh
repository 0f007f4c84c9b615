#!/usr/bin/env bash
# bench.sh: direct loopback vs through privlink vs (when installed) HAProxy vs a bare Go proxy,
# in one run with identical settings (see /docs/performance.md). Prints a Markdown table with the
# ratios to direct. Bounded: every load run has a fixed duration, every wait a limit.
#
#   BENCH_DURATION=6s   length of each load measurement
#   BENCH_ROUNDS=1      rounds of every load measurement; the table shows the median
#   BENCH_IDLE=3000     idle connections for the memory measurement
#   BENCH_HAPROXY=auto  auto | off
#   BENCH_BARE=on       on | off: a bare Go proxy (accept, dial, two io.Copy) as Go's reference
#   BENCH_EVL=off       on | off: an event-loop Go proxy without features (loadtest/bench/evlproxy)
#   BENCH_KEEP=0        1 keeps the work directory (logs, JSON results, flow logs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DUR=${BENCH_DURATION:-6s}
IDLE=${BENCH_IDLE:-3000}
ROUNDS=${BENCH_ROUNDS:-1}
HAPROXY_MODE=${BENCH_HAPROXY:-auto}
BARE_MODE=${BENCH_BARE:-on}
EVL_MODE=${BENCH_EVL:-off}
SOURCE=127.94.2.0/24  # client addresses: the config's client subnet
TARGET_IP=127.94.20.20
PRIVLINK_IP=127.94.1.10
HAPROXY_IP=127.94.3.10
BARE_IP=127.94.4.10
EVL_IP=127.94.5.10
WORK=$(mktemp -d /tmp/privlink-bench.XXXXXX)
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# wait_port HOST PORT PID: until something accepts there (at most 10 s) while PID lives.
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
		kill -0 "$3" 2>/dev/null || die "process $3 for $1:$2 exited (logs in $WORK): $(tail -3 "$WORK"/*.log)"
		sleep 0.1
	done
	die "nothing listens on $1:$2 after 10s (logs in $WORK)"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

build() {
	log "building privlink and the idle-connection client"
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/privlink" ./cmd/privlink &&
		go build -o "$WORK/idleconns" ./loadtest/bench/idleconns &&
		go build -o "$WORK/bareproxy" ./loadtest/bench/bareproxy &&
		go build -o "$WORK/evlproxy" ./loadtest/bench/evlproxy)
}

start_targets() {
	local mode port=9001
	for mode in echo sink source; do
		"$WORK/privlink" echo --listen "$TARGET_IP:$port" --mode "$mode" >"$WORK/target-$mode.log" 2>&1 &
		PIDS+=($!)
		wait_port "$TARGET_IP" "$port" $!
		port=$((port + 1))
	done
}

start_privlink() {
	cp "$ROOT/loadtest/bench/privlink-bench.yaml" "$WORK/"
	(cd "$WORK" && exec ./privlink run -c privlink-bench.yaml --log-level warn >"$WORK/privlink.log" 2>&1) &
	PRIVLINK_PID=$!
	PIDS+=("$PRIVLINK_PID")
	wait_port "$PRIVLINK_IP" 8001 "$PRIVLINK_PID"
}

start_haproxy() {
	HAPROXY_PID=""
	if [[ $HAPROXY_MODE == off ]] || ! command -v haproxy >/dev/null; then
		log "haproxy not installed (apt-get install -y haproxy) or BENCH_HAPROXY=off: skipped"
		return
	fi
	local i
	{
		printf 'global\n  maxconn 7000\n  ulimit-n 16000\n  nbthread 2\n\n'
		printf 'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 350s\n  timeout server 350s\n'
		printf '  option splice-request\n  option splice-response\n  option splice-auto\n'
		for i in 1 2 3; do
			printf '\nlisten l%s\n  bind %s:800%s\n  server t %s:900%s send-proxy-v2\n' "$i" "$HAPROXY_IP" "$i" "$TARGET_IP" "$i"
		done
	} >"$WORK/haproxy.cfg"
	haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	PIDS+=("$HAPROXY_PID")
	wait_port "$HAPROXY_IP" 8001 "$HAPROXY_PID"
	HAPROXY_VERSION=$(haproxy -v | awk 'NR == 1 {print $3}')
}

start_bare() {
	BARE_PID=""
	if [[ $BARE_MODE == off ]]; then return; fi
	"$WORK/bareproxy" "$BARE_IP:8001=$TARGET_IP:9001" "$BARE_IP:8002=$TARGET_IP:9002" \
		"$BARE_IP:8003=$TARGET_IP:9003" >"$WORK/bareproxy.log" 2>&1 &
	BARE_PID=$!
	PIDS+=("$BARE_PID")
	wait_port "$BARE_IP" 8001 "$BARE_PID"
}

# start_evl: one evlproxy (2 loops) per service; EVL_PID is the echo service's, the one
# the CPU and memory rows read.
start_evl() {
	EVL_PID=""
	if [[ $EVL_MODE != on ]]; then return; fi
	local i pid
	for i in 3 2 1; do
		"$WORK/evlproxy" "$EVL_IP:800$i" "$TARGET_IP:900$i" 2 >"$WORK/evlproxy-$i.log" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		wait_port "$EVL_IP" "800$i" "$pid"
	done
	EVL_PID=$pid
}

# stop PID: stop one process and wait for it.
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# restart_proxies: every proxy stopped and started again (new PIDs in PID).
restart_proxies() {
	stop "$PRIVLINK_PID"
	start_privlink
	PID[privlink]=$PRIVLINK_PID
	if [[ -n ${PID[haproxy]:-} ]]; then
		stop "$HAPROXY_PID"
		start_haproxy
		PID[haproxy]=$HAPROXY_PID
	fi
	if [[ -n ${PID[bare]:-} ]]; then
		stop "$BARE_PID"
		start_bare
		PID[bare]=$BARE_PID
	fi
	if [[ -n ${PID[evl]:-} ]]; then
		stop "$EVL_PID" # the echo service's; the others keep running
		"$WORK/evlproxy" "$EVL_IP:8001" "$TARGET_IP:9001" 2 >"$WORK/evlproxy-1.log" 2>&1 &
		EVL_PID=$!
		PIDS+=("$EVL_PID")
		wait_port "$EVL_IP" 8001 "$EVL_PID"
		PID[evl]=$EVL_PID
	fi
}

# measure NAME IP ARGS...: one loadtest run, its JSON kept as $WORK/NAME.json, with two
# fields added: the proxy's CPU time per operation (proxy_cpu_us; null for direct) and the
# machine's idle time per operation (idle_us; both cores, from /proc/stat). In the stream
# modes an operation is a chunk written; the report shows them for connect and echo only.
measure() {
	local name=$1 ip=$2 pid="" c0=0 c1=0 i0 i1
	shift 2
	case $name in direct-*) ;; *) pid=${PID[${name%%-*}]} ;; esac
	if [[ -n $pid ]]; then c0=$(cpu_ticks "$pid"); fi
	i0=$(idle_ticks)
	"$WORK/privlink" loadtest --json --duration "$DUR" --source "$SOURCE" --target "$@" \
		>"$WORK/$name.raw.json" 2>"$WORK/$name.err" || true
	i1=$(idle_ticks)
	if [[ -n $pid ]]; then c1=$(cpu_ticks "$pid"); fi
	[[ -s $WORK/$name.raw.json ]] || die "$name: loadtest failed: $(cat "$WORK/$name.err")"
	jq --arg pid "$pid" --argjson c "$((c1 - c0))" --argjson i "$((i1 - i0))" --argjson hz "$CLK_TCK" \
		'. + {proxy_cpu_us: (if $pid == "" or .ops == 0 then null else $c / $hz * 1e6 / .ops end),
		      idle_us: (if .ops == 0 then null else $i / $hz * 1e6 / .ops end)}' \
		"$WORK/$name.raw.json" >"$WORK/$name.json"
	rm "$WORK/$name.raw.json"
	local errs
	errs=$(jq -r '.error_total' "$WORK/$name.json")
	if [[ $errs != 0 ]]; then log "$name ($ip): $errs errors: $(jq -c '.errors' "$WORK/$name.json")"; fi
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
idle_ticks() { awk '$1 == "cpu" {print $5 + $6}' /proc/stat; }

# measure_all METRIC SERVICE ARGS...: one metric on every path, back to back, so drift
# (TIME_WAIT sockets, page cache, thermal) hits them alike. SERVICE: 1 echo, 2 sink, 3 source.
measure_all() {
	local metric=$1 svc=$2 path
	shift 2
	log "round $ROUND/$ROUNDS, $metric: ${PATHS[*]} ($DUR each)"
	for path in "${PATHS[@]}"; do
		measure "$path-$metric-$ROUND" "${IPS[$path]}" "${IPS[$path]}:$(port "$path" "$svc")" "$@"
	done
}

# port PATH N: the port of service N (1 echo, 2 sink, 3 source) on a path.
port() { if [[ $1 == direct ]]; then echo "900$2"; else echo "800$2"; fi; }

# idle_kb PID IP: RSS growth of process PID per idle connection through IP:8001.
idle_kb() {
	local pid=$1 ip=$2 before after client i
	sleep 1
	before=$(rss_kb "$pid")
	"$WORK/idleconns" --target "$ip:8001" --source 127.94.2.250 --n "$IDLE" --hold 60s >"$WORK/idle-$pid.out" 2>&1 &
	client=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$WORK/idle-$pid.out" 2>/dev/null && break
		kill -0 "$client" 2>/dev/null || die "idle client failed: $(cat "$WORK/idle-$pid.out")"
		sleep 0.1
	done
	sleep 3 # let idle directions park (privlink parks after 1 s)
	after=$(rss_kb "$pid")
	kill "$client"
	wait "$client" 2>/dev/null || true
	awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {printf "%.1f", (a - b) / n}'
}

# field PATH-METRIC JQ-EXPR: the median over the rounds.
field() { jq -s "map($2) | sort | .[length / 2 | floor]" "$WORK/$1"-[0-9]*.json; }

# row LABEL JQ-EXPR FORMAT METRIC: one table row, ratios to direct.
row() {
	local label=$1 expr=$2 fmt=$3 d v p
	d=$(field direct-"$4" "$expr")
	printf '| %s | %s |' "$label" "$(printf "$fmt" "$d")"
	for p in "${PROXIES[@]}"; do
		v=$(field "$p-$4" "$expr")
		printf ' %s (%s) |' "$(printf "$fmt" "$v")" "$(ratio "$v" "$d")"
	done
	echo
}

# us_row LABEL JQ-EXPR METRIC: a row of absolute values in µs per operation (no ratios).
us_row() {
	local label=$1 expr=$2 p
	printf '| %s | %s |' "$label" "$(us "$(field direct-"$3" "$expr")")"
	for p in "${PROXIES[@]}"; do printf ' %s |' "$(us "$(field "$p-$3" "$expr")")"; done
	echo
}
us() { if [[ $1 == null ]]; then echo -; else printf '%.1f' "$1"; fi; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }'; }

report() {
	local head="| metric | direct |" rule="|---|---|" p
	for p in "${PROXIES[@]}"; do head+=" ${LABEL[$p]} |" rule+="---|"; done
	echo
	echo "privlink bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr), $DUR per measurement, median of $ROUNDS round(s), source $SOURCE"
	echo
	echo "$head"
	echo "$rule"
	row "upload MB/s (4 streams)" '.upload_mb_per_s' '%.0f' up
	row "download MB/s (4 streams)" '.download_mb_per_s' '%.0f' down
	row "connections/s (8 workers, 64 B echo)" '.ops_per_s' '%.0f' conn
	row "64 B echo msgs/s (4 conns)" '.ops_per_s' '%.0f' echo
	row "64 B echo p99 µs" '.latency_us.p99' '%.0f' echo
	us_row "proxy CPU µs per connection" '.proxy_cpu_us' conn
	us_row "proxy CPU µs per echo message" '.proxy_cpu_us' echo
	us_row "machine idle µs per connection" '.idle_us' conn
	us_row "machine idle µs per echo message" '.idle_us' echo
	local line="| KB RSS per idle conn ($IDLE) | - |"
	for p in "${PROXIES[@]}"; do line+=" ${IDLE_KB[$p]} |"; done
	echo "$line"
	echo
	echo "(p99: lower is better; its ratio above 1 means slower. CPU and idle: µs per operation over"
	echo "the same runs; idle is both cores' idle time, i.e. time the pipeline waited on wake-ups."
	echo "Errors, if any, were logged above.)"
}

command -v jq >/dev/null || die "jq is required (apt-get install -y jq)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
build
start_targets
start_privlink
start_haproxy
start_bare
start_evl
declare -A IPS=([direct]=$TARGET_IP [privlink]=$PRIVLINK_IP [haproxy]=$HAPROXY_IP [bare]=$BARE_IP [evl]=$EVL_IP)
declare -A PID=([privlink]=$PRIVLINK_PID)
declare -A LABEL=([privlink]=privlink)
PROXIES=(privlink)
if [[ -n $HAPROXY_PID ]]; then
	PROXIES+=(haproxy) PID[haproxy]=$HAPROXY_PID LABEL[haproxy]="HAProxy $HAPROXY_VERSION (splice)"
fi
if [[ -n $BARE_PID ]]; then
	PROXIES+=(bare) PID[bare]=$BARE_PID LABEL[bare]="bare Go proxy"
fi
if [[ -n $EVL_PID ]]; then
	PROXIES+=(evl) PID[evl]=$EVL_PID LABEL[evl]="Go event loop (no features)"
fi
PATHS=(direct "${PROXIES[@]}")
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	measure_all up 2 --mode stream --direction up --conns 4
	measure_all down 3 --mode stream --direction down --conns 4
	measure_all echo 1 --mode echo --conns 4 --size 64
	# Last: it leaves tens of thousands of TIME_WAIT sockets behind.
	measure_all conn 1 --mode connect --conns 8 --size 64
done
# A process that has run the load reuses heap, stacks and buffers it already holds, which
# flatters a garbage-collected proxy: measure idle memory on freshly started ones.
log "RSS per idle connection: $IDLE connections through each proxy, freshly restarted"
restart_proxies
declare -A IDLE_KB
for p in "${PROXIES[@]}"; do IDLE_KB[$p]=$(idle_kb "${PID[$p]}" "${IPS[$p]}"); done
report
