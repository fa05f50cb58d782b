# Shared by scripts/setup_venv.sh and scripts/setup_venv_onnx2tf.sh (sourced, not run): make a
# venv from Debian's Python 3.11 and install a pinned requirements file into it, once.
#
# The caller sets: venv (folder), req (requirements file), name (for messages); then calls
#   venv_check_base_python
#   venv_open [--system-site-packages]   create or reuse the venv, holding a lock on it
#   venv_is_current && exit 0            the stamp matches req + interpreter
#   venv_install                         pip install -r req
#   ... its own smoke test ...
#   venv_stamp
base_python=/usr/bin/python3
stamp_name=.tflayout-requirements.sha256

say() { printf '%s: %s\n' "$name" "$*" >&2; }
die() { say "error: $*"; exit 1; }

venv_check_base_python() {
  [[ -f $req ]] || die "missing $req"
  [[ -x $base_python ]] || die "$base_python not found (apt-get install python3)"
  "$base_python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$base_python is not Python 3.11 (expected Debian 12); requirements are pinned for 3.11"
  "$base_python" -c 'import ensurepip, venv' 2>/dev/null \
    || die "Python venv support missing (apt-get install python3-venv)"
}

# Creates the venv (or checks that an existing one was made the same way) and locks it for the
# rest of the script, so concurrent runs on one venv serialize (the lock is on the folder
# itself: no stray lock file in the work tree).
venv_open() {
  local site=${1:-}
  [[ -e $venv && ! -d $venv ]] && die "$venv exists and is not a directory"
  mkdir -p "$venv"
  venv=$(cd "$venv" && pwd)
  exec 9<"$venv"
  flock 9
  if [[ ! -x $venv/bin/python && -n $(ls -A "$venv") ]]; then
    die "$venv exists, is not empty and is not a venv; remove it first"
  fi
  if [[ -x $venv/bin/python ]]; then
    local cfg="$venv/pyvenv.cfg" sees_system=0
    grep -Eq '^include-system-site-packages *= *true' "$cfg" 2>/dev/null && sees_system=1
    grep -Eq '^home *= */usr/bin$' "$cfg" 2>/dev/null \
      || die "$venv was not made from $base_python; remove it and rerun"
    if [[ -n $site && $sees_system == 0 ]]; then
      die "$venv was not made with --system-site-packages; remove it and rerun"
    elif [[ -z $site && $sees_system == 1 ]]; then
      die "$venv sees the system site packages (Debian's numpy/torch would leak in); remove it"
    fi
  else
    say "creating $venv from $base_python ${site}"
    "$base_python" -m venv $site "$venv"
  fi
}

venv_want_stamp() {
  { sha256sum "$req" | cut -d' ' -f1; "$venv/bin/python" -VV; } | sha256sum | cut -d' ' -f1
}

venv_is_current() {
  [[ ${TFLAYOUT_VENV_FORCE:-0} != 1 && $(venv_want_stamp) == "$(cat "$venv/$stamp_name" 2>/dev/null)" ]] \
    || return 1
  say "$venv is up to date"
}

venv_install() {
  rm -f "$venv/$stamp_name"
  say "installing $req"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$venv/bin/python" -m pip install --progress-bar off -r "$req"
}

venv_stamp() {
  venv_want_stamp > "$venv/$stamp_name"
  say "done: $venv"
}
