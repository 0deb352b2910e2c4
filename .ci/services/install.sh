#!/usr/bin/env bash
# Install from Debian's packages whatever of services/packages this machine lacks.
source "$(dirname "$0")/lib.sh"

missing=()
installed() {  # removed packages keep a dpkg entry ("deinstall ok config-files")
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}
while read -r pkg; do
  [ -n "$pkg" ] && ! installed "$pkg" && missing+=("$pkg")
done < "$here/packages"
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || { say "missing ${missing[*]}, and there is no apt-get to install them"; exit 1; }

say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages must not start their daemons from /etc (there is no init system here, and the
# suite runs its own): a policy-rc.d that refuses, only for this install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$STATE/apt.log" 2>&1 \
  || { tail -n 30 "$STATE/apt.log" >&2; exit 1; }
