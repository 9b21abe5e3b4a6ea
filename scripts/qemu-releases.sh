#!/bin/sh
# Unpack newer QEMU releases beside the system's, without touching the system:
#
#   .qemu/10.0.2/qemu-system-x86_64     Debian's bookworm-backports build
#   .qemu/10.0.2/qemu-storage-daemon
#   .qemu/11.1.3/qemu-system-x86_64     Debian sid's, with its own glibc and libraries
#   .qemu/11.1.3/qemu-storage-daemon
#
# Each is a small launcher that runs that release's program from its own
# prefix (.qemu/VERSION/root) with its own firmware and modules.
#
# The exact packages are pinned: scripts/qemu-pins/VERSION.sha256 lists
# every .deb (name, version and checksum).  They are fetched from Debian's
# archive (the mirror this machine's apt uses, with a private apt
# configuration: the system's package lists and status are untouched) while
# it still has those versions; else taken from $HMPBRIDGE_QEMU_DEBS (default:
# ../shared/qemu-debs beside the checkout), which keeps them.  Either way
# each file must match its pinned checksum.  A release whose packages cannot
# be had is skipped with a line saying so; the tests that need it say the
# same.  Run again: a release already unpacked from the same pins is kept.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PINS=$ROOT/scripts/qemu-pins
DEBS=${HMPBRIDGE_QEMU_DEBS:-$ROOT/../shared/qemu-debs}
DEST=${HMPBRIDGE_QEMU_RELEASES:-$ROOT/.qemu}
# HMPBRIDGE_QEMU_ARCHIVE=0: use only $HMPBRIDGE_QEMU_DEBS
ARCHIVE=${HMPBRIDGE_QEMU_ARCHIVE:-1}

say() { printf 'hmpbridge: %s\n' "$*" >&2; }

# mirror: the Debian mirror the system's apt is set up with
mirror() {
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}'
      cat /etc/apt/sources.list 2>/dev/null | awk '$1 == "deb" {for (i = 2; i <= NF; i++)
          if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; break}}'
    } | grep -v -- '-security' | grep '/debian/*$' | head -n 1
}

# specs PINS: the "package=version" of every .deb a pin file names
specs() {
    awk '{ f = $2; sub(/\.deb$/, "", f); n = split(f, p, "_"); v = p[2];
           gsub("%3a", ":", v); print p[1] "=" v }' "$1"
}

# from_archive VERSION SUITE DIR: download VERSION's pinned packages into DIR
from_archive() {
    version=$1 suite=$2 out=$3
    [ "$ARCHIVE" = 1 ] || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    uri=$(mirror)
    [ -n "$uri" ] || return 1
    apt=$out/.apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc/apt.conf.d" \
        "$apt/etc/preferences.d" "$apt/etc/sources.list.d"
    : > "$apt/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" \
        > "$apt/etc/sources.list"
    set -- -qq -o "Dir::Etc=$apt/etc" -o "Dir::State::Lists=$apt/lists" \
        -o "Dir::Cache=$apt/cache" -o "Dir::State::status=$apt/status" \
        -o Debug::NoLocking=1 -o Acquire::Retries=1 -o Acquire::http::Timeout=20 \
        -o APT::Architecture=amd64 -o APT::Get::AllowUnauthenticated=0
    apt-get "$@" update >/dev/null 2>&1 || return 1
    # shellcheck disable=SC2046
    (cd "$out" && apt-get "$@" download $(specs "$PINS/$version.sha256")) >/dev/null 2>&1 \
        || return 1
    rm -rf "$apt"
    (cd "$out" && sha256sum --quiet -c "$PINS/$version.sha256") >/dev/null 2>&1
}

# from_shared VERSION FOLDER DIR: copy VERSION's pinned packages from FOLDER into DIR
from_shared() {
    version=$1 shared=$DEBS/$2 out=$3
    [ -d "$shared" ] || return 1
    awk '{print $2}' "$PINS/$version.sha256" | while read -r deb; do
        cp "$shared/$deb" "$out/" || exit 1
    done || return 1
    (cd "$out" && sha256sum --quiet -c "$PINS/$version.sha256") >/dev/null 2>&1
}

# unpack VERSION SUITE FOLDER: the pinned .debs, checked, into DEST/VERSION/root
unpack() {
    version=$1 suite=$2 folder=$3 prefix=$DEST/$1/root
    stamp=$DEST/$version/pins.sha256
    if [ -x "$DEST/$version/qemu-system-x86_64" ]; then
        # unpacked by an earlier run: kept if from the same pins (one without
        # a record of its pins is from before they were recorded: the same)
        [ -f "$stamp" ] || cp "$PINS/$version.sha256" "$stamp"
        cmp -s "$stamp" "$PINS/$version.sha256" && return 0
    fi
    rm -rf "${DEST:?}/$version"
    mkdir -p "$DEST/$version/debs"
    debs=$DEST/$version/debs
    if from_archive "$version" "$suite" "$debs"; then
        say "QEMU $version: pinned packages from Debian's archive ($suite)"
    else
        rm -rf "$debs" && mkdir -p "$debs"
        if from_shared "$version" "$folder" "$debs"; then
            say "QEMU $version: pinned packages from $DEBS/$folder"
        else
            rm -rf "${DEST:?}/$version"
            say "QEMU $version not installed: its pinned packages are neither in Debian's" \
                "archive ($suite) nor in $DEBS/$folder"
            return 1
        fi
    fi
    mkdir -p "$prefix"
    for deb in "$debs"/*.deb; do
        dpkg-deb -x "$deb" "$prefix"
    done
    rm -rf "$debs"
    cp "$PINS/$version.sha256" "$stamp"
}

# launcher VERSION PROGRAM LINES...: DEST/VERSION/PROGRAM running LINES
launcher() {
    version=$1 program=$2
    shift 2
    file=$DEST/$version/$program
    {
        echo '#!/bin/sh'
        echo "# $program of QEMU $version from $DEST/$version/root (made by scripts/qemu-releases.sh)"
        printf '%s\n' "$@"
    } > "$file.tmp"
    chmod 755 "$file.tmp"
    mv "$file.tmp" "$file"
}

if unpack 10.0.2 bookworm-backports bookworm-backports-10.0.2; then
    P=$DEST/10.0.2/root
    # modules the prefix lacks would otherwise come from the system's 7.2
    ln -sfn "$P" "$P/usr/bin/qemu-bundle"
    # QEMU looks for its firmware inside that bundle; the NIC ROMs are the
    # system's (ipxe-qemu), so the binary also runs without -L options
    mkdir -p "$P/usr/lib/ipxe"
    ln -sfn /usr/lib/ipxe/qemu "$P/usr/lib/ipxe/qemu"
    launcher 10.0.2 qemu-system-x86_64 "P='$P'" \
        'exec "$P/usr/bin/qemu-system-x86_64" -L "$P/usr/share/qemu" -L "$P/usr/share/seabios" -L /usr/lib/ipxe/qemu "$@"'
    # qemu-storage-daemon is in qemu-utils (Debian 12's 7.2: qemu-system-common)
    launcher 10.0.2 qemu-storage-daemon "P='$P'" \
        'exec "$P/usr/bin/qemu-storage-daemon" "$@"'
fi

if unpack 11.1.3 sid sid-11.1.3; then
    P=$DEST/11.1.3/root
    L=$P/usr/lib/x86_64-linux-gnu
    # run through the prefix's own loader (glibc 2.43); QEMU finds its bundle
    # beside the program the kernel ran, which is that loader
    ln -sfn "$P" "$L/qemu-bundle"
    launcher 11.1.3 qemu-system-x86_64 "P='$P'" "L='$L'" \
        'exec "$L/ld-linux-x86-64.so.2" --library-path "$L:$P/lib/x86_64-linux-gnu" "$P/usr/bin/qemu-system-x86_64" -L "$P/usr/share/qemu" -L "$P/usr/share/seabios" "$@"'
    launcher 11.1.3 qemu-storage-daemon "P='$P'" "L='$L'" \
        'exec "$L/ld-linux-x86-64.so.2" --library-path "$L:$P/lib/x86_64-linux-gnu" "$P/usr/bin/qemu-storage-daemon" "$@"'
fi

for version in 10.0.2 11.1.3; do
    if [ -x "$DEST/$version/qemu-system-x86_64" ]; then
        say "QEMU $version: $DEST/$version/qemu-system-x86_64, $DEST/$version/qemu-storage-daemon"
    fi
done
