#!/usr/bin/env bash
# Debian packages the tests and the simulator use. Installed only where
# apt-get exists and we are root; silent when everything is already there.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v mbpoll >/dev/null 2>&1 || need+=(mbpoll)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
command -v fiu-run >/dev/null 2>&1 || need+=(fiu-utils)
# libcrypto's headers: the native SHA-256 loop of the chain (setup.py) is built against them
[ -f /usr/include/openssl/sha.h ] || need+=(libssl-dev)
command -v pg_ctlcluster >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 \
  || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "note: missing ${need[*]}; tests that need them will skip (install them with apt-get)" >&2
fi
