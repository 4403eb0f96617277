# shellcheck shell=sh
# bench/blk/lib.sh: what run.sh, pgbench.sh and ab.sh share. Sourced; the
# caller sets PIDS (the servers it started) and defines bench_timeout MSG
# (how it gives up: make bench's scripts report and exit 0, ab.sh fails).

# wait_file PATH: waits up to 20 s for a socket, or a file with something
# in it, at PATH (a server's address file).
wait_file() {
	_wf_left=400
	while [ ! -S "$1" ] && [ ! -s "$1" ]; do
		_wf_left=$((_wf_left - 1))
		[ "$_wf_left" -gt 0 ] || bench_timeout "timed out waiting for $1"
		sleep 0.05
	done
}

# stop_pids: stops every process in PIDS and reaps it.
stop_pids() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
}
