#!/usr/bin/env bash
# Installs the build into a temporary directory, then builds and runs a program outside the
# project with nothing but `c++ -std=c++20 app.cpp $(pkg-config --cflags --libs lwtpp)`.
#   consumer.sh BUILD_DIR PROGRAM.cpp
set -euo pipefail
build=$1
src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
pc=$(find "$dest" -name lwtpp.pc | head -n 1)
[ -n "$pc" ] || { echo "no lwtpp.pc installed"; exit 1; }
# The .pc file names the real prefix; the files are under the destdir.
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
prefix=$(pkg-config --variable=prefix lwtpp)
flags=$(pkg-config --define-variable=prefix="$dest$prefix" --cflags --libs lwtpp)
libdir=$(pkg-config --define-variable=prefix="$dest$prefix" --variable=libdir lwtpp)
# shellcheck disable=SC2086
c++ -std=c++20 "$src" $flags -o "$dest/app"
LD_LIBRARY_PATH=$libdir "$dest/app"
