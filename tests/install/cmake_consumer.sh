#!/usr/bin/env bash
# Installs the build into a temporary directory, then builds and runs a program outside the
# project with CMake: find_package(lwtpp) and target_link_libraries(app lwtpp::lwtpp), with
# CMake's default dialect (gnu++20, where `unix` is a macro). Exit 77 without cmake.
#   cmake_consumer.sh BUILD_DIR PROGRAM.cpp
set -euo pipefail
build=$1
src=$2
command -v cmake >/dev/null 2>&1 || { echo "skipped: cmake is not installed"; exit 77; }
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
config=$(find "$dest" -name lwtppConfig.cmake | head -n 1)
[ -n "$config" ] || { echo "no lwtppConfig.cmake installed"; exit 1; }
mkdir "$dest/app"
cp "$src" "$dest/app/app.cpp"
cat >"$dest/app/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(lwtpp_consumer CXX)
find_package(lwtpp 0.1 REQUIRED)
add_executable(app app.cpp)
target_link_libraries(app PRIVATE lwtpp::lwtpp)
CMAKE
# (the package is found from its own directory: no prefix is written into it)
cmake -S "$dest/app" -B "$dest/app/build" -Dlwtpp_DIR="$(dirname "$config")" >/dev/null
cmake --build "$dest/app/build" >/dev/null
libdir=$(dirname "$(find "$dest" -name 'liblwtpp.so*' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$dest/app/build/app"
