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
# --define-prefix: the prefix is where the .pc file was found (the destdir), not /usr/local.
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-prefix --cflags --libs lwtpp)
libdir=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-prefix --variable=libdir lwtpp)
# shellcheck disable=SC2086
c++ -std=c++20 "$src" $flags -o "$dest/app"
LD_LIBRARY_PATH=$libdir "$dest/app"
