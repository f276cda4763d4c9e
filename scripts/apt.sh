# Sourced by the install_*.sh scripts (after they define fail()): SUDO and apt_install for
# Debian's packages, safe with CI=true and no standard input; sudo only when not root.
# shellcheck shell=bash
export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    SUDO=(false)  # used only when something must be installed or started
  fi
fi

apt_updated=0
apt_update() {
  echo "==> apt-get update"
  "${SUDO[@]}" apt-get update </dev/null || fail "apt-get update failed"
  apt_updated=1
}

# apt_install PACKAGE...: apt-get install, with apt-get update first when a package has no
# install candidate yet (a fresh machine's empty lists), and once more before a retry when the
# install fails (stale lists name versions the mirror no longer has).
apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "apt-get not found; this script needs Debian or Ubuntu"
  [[ "${SUDO[*]}" != "false" ]] || fail "not root and no password-less sudo: cannot install $*"
  local candidate
  candidate="$(apt-cache policy "$@" 2>/dev/null | awk '/Candidate:/ {print $2}' | sort -u)"
  if [[ $apt_updated -eq 0 && ( -z "$candidate" || "$candidate" == *"(none)"* ) ]]; then
    apt_update
  fi
  echo "==> apt-get install $*"
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends "$@" </dev/null; then
    [[ $apt_updated -eq 0 ]] || fail "apt-get install $* failed"
    apt_update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends "$@" </dev/null || fail "apt-get install $* failed"
  fi
}
