#!/bin/sh
# deps.sh GROUP...: install the Debian packages a make target needs, and only
# those that are missing. Asks dpkg first, so a machine that has everything
# runs no apt-get at all. Groups: build, test, bench, fuzz.
set -eu

build="cmake ninja-build pkg-config gcc make libssl-dev libuv1-dev
  libjansson-dev libzstd-dev libfuse3-dev fuse3 libseccomp-dev libcmocka-dev
  libmicrohttpd-dev libcurl4-openssl-dev"
test="wabt clang lld wasi-libc libclang-rt-14-dev-wasm32 nbdkit libnbd-bin
  qemu-utils fio skopeo umoci attr curl zstd openssl python3"
bench="libzmq3-dev libnng-dev squashfs-tools erofs-utils nodejs hyperfine time
  postgresql"
fuzz="clang libclang-rt-14-dev"

want=""
for g in "${@:-build}"; do
	case "$g" in
	build) want="$want $build" ;;
	test) want="$want $build $test" ;;
	bench) want="$want $build $test $bench" ;;
	fuzz) want="$want $build $fuzz" ;;
	*) echo "deps.sh: unknown group '$g' (build, test, bench, fuzz)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	# node comes with the machine image on some kinds; do not fight it
	if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then
		continue
	fi
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
	fi
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps.sh: need root to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
