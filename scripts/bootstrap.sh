# Shared set-up for ./run.sh and ./test.sh: system packages and the virtualenv.
# Sourced, not executed.  Honours HMPBRIDGE_VENV (default: .venv in the checkout).

HMPBRIDGE_ROOT=$(cd "$(dirname "$0")" && pwd)
VENV=${HMPBRIDGE_VENV:-$HMPBRIDGE_ROOT/.venv}

say() { printf '%s\n' "$*" >&2; }

# ensure_commands "cmd:package" ...: install the Debian packages of missing commands.
ensure_commands() {
    missing=""
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ]; then
        as_root=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root="sudo"
    else
        say "hmpbridge: missing packages:$missing (run as root or with sudo to install them)"
        return 1
    fi
    say "hmpbridge: installing$missing"
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    # shellcheck disable=SC2086
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $missing >&2 || return 1
}

# ensure_venv [extras]: a virtualenv with hmpbridge (non-editable) installed.
ensure_venv() {
    extras=${1:+[$1]}
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV" 2>/dev/null || {
            rm -rf "$VENV"
            ensure_python_venv_package && python3 -m venv "$VENV"
        } || return 1
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$HMPBRIDGE_ROOT$extras" >&2 || return 1
}

# Debian's python3 needs its -venv package for ensurepip.
ensure_python_venv_package() {
    version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$(id -u)" = 0 ]; then as_root=""; else as_root="sudo"; fi
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "python$version-venv" >&2 || $as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends python3-venv >&2
}
