#!/bin/sh
# Unpack newer QEMU releases beside the system's, without touching the system:
#
#   .qemu/10.0.2/qemu-system-x86_64    Debian's bookworm-backports build
#   .qemu/11.1.3/qemu-system-x86_64    Debian sid's, with its own glibc and libraries
#
# Each is a small launcher that runs that release's binary from its own
# prefix (.qemu/VERSION/root) with its own firmware and modules.  The
# packages come from $HMPBRIDGE_QEMU_DEBS (default: ../shared/qemu-debs beside
# the checkout), checked against its SHA256SUMS.  A release whose packages are
# not there is skipped with a line saying so; the tests that need it say the
# same.  Run again: releases already unpacked are kept.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEBS=${HMPBRIDGE_QEMU_DEBS:-$ROOT/../shared/qemu-debs}
DEST=${HMPBRIDGE_QEMU_RELEASES:-$ROOT/.qemu}

say() { printf 'hmpbridge: %s\n' "$*" >&2; }

# unpack VERSION FOLDER: every .deb of FOLDER, checked, into DEST/VERSION/root
unpack() {
    version=$1 folder=$DEBS/$2 prefix=$DEST/$1/root
    if [ -x "$DEST/$version/qemu-system-x86_64" ]; then
        return 0
    fi
    if [ ! -f "$folder/SHA256SUMS" ]; then
        say "QEMU $version not installed: no packages in $folder"
        return 1
    fi
    (cd "$folder" && sha256sum --quiet -c SHA256SUMS) || {
        say "QEMU $version not installed: the packages in $folder do not match SHA256SUMS"
        return 1
    }
    rm -rf "${DEST:?}/$version"
    mkdir -p "$prefix"
    for deb in "$folder"/*.deb; do
        dpkg-deb -x "$deb" "$prefix"
    done
}

# launcher VERSION LINES...: DEST/VERSION/qemu-system-x86_64 running LINES
launcher() {
    version=$1
    shift
    file=$DEST/$version/qemu-system-x86_64
    {
        echo '#!/bin/sh'
        echo "# QEMU $version from $DEST/$version/root (made by scripts/qemu-releases.sh)"
        printf '%s\n' "$@"
    } > "$file.tmp"
    chmod 755 "$file.tmp"
    mv "$file.tmp" "$file"
}

if unpack 10.0.2 bookworm-backports-10.0.2; then
    P=$DEST/10.0.2/root
    # modules the prefix lacks would otherwise come from the system's 7.2
    ln -sfn "$P" "$P/usr/bin/qemu-bundle"
    # QEMU looks for its firmware inside that bundle; the NIC ROMs are the
    # system's (ipxe-qemu), so the binary also runs without -L options
    mkdir -p "$P/usr/lib/ipxe"
    ln -sfn /usr/lib/ipxe/qemu "$P/usr/lib/ipxe/qemu"
    launcher 10.0.2 "P='$P'" \
        'exec "$P/usr/bin/qemu-system-x86_64" -L "$P/usr/share/qemu" -L "$P/usr/share/seabios" -L /usr/lib/ipxe/qemu "$@"'
fi

if unpack 11.1.3 sid-11.1.3; then
    P=$DEST/11.1.3/root
    L=$P/usr/lib/x86_64-linux-gnu
    # run through the prefix's own loader (glibc 2.43); QEMU finds its bundle
    # beside the program the kernel ran, which is that loader
    ln -sfn "$P" "$L/qemu-bundle"
    launcher 11.1.3 "P='$P'" "L='$L'" \
        'exec "$L/ld-linux-x86-64.so.2" --library-path "$L:$P/lib/x86_64-linux-gnu" "$P/usr/bin/qemu-system-x86_64" -L "$P/usr/share/qemu" -L "$P/usr/share/seabios" "$@"'
fi

for version in 10.0.2 11.1.3; do
    if [ -x "$DEST/$version/qemu-system-x86_64" ]; then
        say "QEMU $version: $DEST/$version/qemu-system-x86_64"
    fi
done
