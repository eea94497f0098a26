#!/usr/bin/env bash
# package suite, under tests/with-redis, as root (else skipped: exit 77): the
# Debian packages of debian/, as an operator meets them.
#   - dpkg-buildpackage -b builds libtally0, libtally-dev and tally from a copy
#     of the source tree (the tree itself is left as it was); the symbols file
#     lists exactly the library's exports; lintian finds no error or warning;
#   - apt-get installs the three .debs; what they install is where Debian puts
#     it; man, the completion and pkg-config find theirs with no extra setting;
#   - examples/relay.c builds with `cc relay.c $(pkg-config --cflags --libs
#     tally)` alone, loads /usr/lib/.../libtally.so.0 and tells its story
#     against the test server (tests/test_example_relay.sh checks it, with the
#     installed tool);
#   - the exporter unit passes systemd-analyze verify, its sandbox rates OK,
#     and its ExecStart, with /etc/default/tally-exporter's values (the URL and
#     the address swapped for the test's), run as an unprivileged user, serves
#     /metrics with tally_up 1;
#   - the packages, and whatever apt installed with them, are purged at the
#     end, also when a step fails (a trap), leaving the machine as it was.
# It skips (77) when any of the three packages is already installed: purging
# them afterwards would not leave the machine as it was.
#   test_package.sh SOURCE_DIR PROJECT_VERSION
set -u
src=$(cd "$1" && pwd) project_version=$2
: "${TALLY_TEST_URL:?run under tests/with-redis}"
packages=(libtally0 libtally-dev tally)
if [ "$(id -u)" -ne 0 ]; then echo "skipped: installing packages needs root"; exit 77; fi
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    echo "skipped: $p is already installed (purging it afterwards would change this machine)"; exit 77
  fi
done
for tool in dpkg-buildpackage dh lintian apt-get cc pkg-config; do
  command -v "$tool" >/dev/null || { echo "not ok: $tool is missing (tools/setup installs it)"; exit 1; }
done

fails=0
fail() { echo "not ok: $*"; fails=$((fails+1)); }
ok() { echo "ok: $*"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tally-package.XXXXXX")
chmod 755 "$work" # apt reads the .debs as _apt
installed_before=$(dpkg-query -W -f='${binary:Package} ${Status}\n' | sed -n 's/ install ok installed$//p' | sort)
exporter=
cleanup() {
  [ -n "$exporter" ] && kill "$exporter" 2>/dev/null
  # every package apt installed: ours and any dependency it pulled in
  local new
  new=$(comm -13 <(echo "$installed_before") \
    <(dpkg-query -W -f='${binary:Package} ${Status}\n' | sed -n 's/ install ok installed$//p' | sort))
  if [ -n "$new" ]; then
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $new >"$work/purge.log" 2>&1 ||
      { echo "not ok: apt-get purge $new failed:"; cat "$work/purge.log"; }
    echo "purged:" "$(tr '\n' ' ' <<<"$new")"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Build, from a copy: the tree without .git and without meson build
#    directories (any directory holding a build.ninja), as upstream-version/.
version=$(cd "$src" && dpkg-parsechangelog -S Version)
[ "${version%-*}" = "$project_version" ] && ok "debian/changelog's $version packages meson.build's $project_version" ||
  fail "debian/changelog is at $version, meson.build at $project_version: add a changelog entry (dch -v $project_version-1)"
tree=$work/tally-${version%-*}
mkdir "$tree"
tar -C "$src" --exclude=./.git --exclude-tag-all=build.ninja -cf - . | tar -C "$tree" -xf -
start=$SECONDS
if (cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
  ok "dpkg-buildpackage -b built the packages in $((SECONDS-start)) s"
else
  tail -40 "$work/build.log"; echo "not ok: dpkg-buildpackage failed"; exit 1
fi
# dpkg-gensymbols warns of symbols the library exports that debian/libtally0.symbols
# does not list (and fails the build for listed ones it lost)
if grep -q "dpkg-gensymbols: warning" "$work/build.log"; then
  fail "debian/libtally0.symbols is not the library's exports; update it with the diff below (version: the first to export it)"
  sed -n '/dpkg-gensymbols: warning/,/^ *dh_/p' "$work/build.log" | grep -v '^ *dh_'
else
  ok "debian/libtally0.symbols lists the $(grep -c '^ [a-z_0-9]*@' "$src/debian/libtally0.symbols") exported symbols"
fi
changes=$(ls "$work"/*.changes)
if lint=$(lintian --fail-on error,warning --display-info --pedantic "$changes" 2>&1 |
          grep -v "running with root privileges is not recommended"; exit "${PIPESTATUS[0]}"); then
  ok "lintian: no error or warning${lint:+ (other tags:)}"
else
  fail "lintian:"
fi
[ -n "$lint" ] && sed 's/^/    /' <<<"$lint"

# 2. Install with apt, as an operator would.
debs=()
for p in "${packages[@]}"; do debs+=("$(ls "$work/${p}_"*.deb)"); done
if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" \
     >"$work/install.log" 2>&1; then
  ok "apt-get install ${debs[*]##*/}"
else
  cat "$work/install.log"; echo "not ok: apt-get install failed"; exit 1
fi
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for path in /usr/bin/tally /usr/include/tally.h /usr/include/tally_admission.h \
            "/usr/lib/$multiarch/"{libtally.so.0,libtally.so,libtally.a,pkgconfig/tally.pc} \
            /usr/share/man/man1/tally.1.gz /usr/share/man/man3/libtally.3.gz \
            /usr/share/bash-completion/completions/tally /lib/systemd/system/tally-exporter.service \
            /etc/default/tally-exporter; do
  [ -e "$path" ] && ok "installed $path ($(dpkg -S "$path" 2>/dev/null | cut -d: -f1))" || fail "nothing at $path"
done
version_out=$(/usr/bin/tally --version) && ok "/usr/bin/tally --version: $version_out" || fail "/usr/bin/tally does not run"
[ "$(env -u MANPATH man -w tally 2>/dev/null)" = /usr/share/man/man1/tally.1.gz ] &&
  [ "$(env -u MANPATH man -w 3 libtally 2>/dev/null)" = /usr/share/man/man3/libtally.3.gz ] &&
  ok "man finds tally(1) and libtally(3)" || fail "man does not find tally(1) and libtally(3)"
(source /usr/share/bash-completion/completions/tally && complete -p tally >/dev/null) &&
  ok "the completion registers for tally" || fail "the completion does not load"
[ "$(stat -c %a /etc/default/tally-exporter)" = 640 ] && ok "/etc/default/tally-exporter is 0640 (it may hold a password)" ||
  fail "/etc/default/tally-exporter is $(stat -c %a /etc/default/tally-exporter)"

# 3. examples/relay.c against the packages, with pkg-config alone.
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR C_INCLUDE_PATH CPATH LIBRARY_PATH LD_LIBRARY_PATH
flags=$(pkg-config --cflags --libs tally) && ok "pkg-config --cflags --libs tally: $flags" ||
  fail "pkg-config does not find tally"
# shellcheck disable=SC2086
if cc -H -o "$work/relay" "$src/examples/relay.c" $flags 2>"$work/cc.log"; then
  grep -q '^\. /usr/include/tally.h' "$work/cc.log" && ok "relay.c compiled against /usr/include/tally.h" ||
    fail "relay.c did not include /usr/include/tally.h: $(grep tally.h "$work/cc.log")"
  lib=$(ldd "$work/relay" | sed -n 's/.*libtally.so.0 => \([^ ]*\).*/\1/p')
  # (realpath: on a merged /usr, ldd may name it by /lib)
  [ -n "$lib" ] && [ "$(realpath "$lib")" = "$(realpath "/usr/lib/$multiarch/libtally.so.0")" ] &&
    ok "relay loads libtally0's $lib" || fail "relay loads libtally.so.0 from '$lib'"
  "$src/tests/test_example_relay.sh" "$work/relay" /usr/bin/tally | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" -eq 0 ] && ok "relay, built against the packages, tells its story twice" ||
    fail "relay, built against the packages, does not tell its story"
else
  fail "relay.c does not compile: $(cat "$work/cc.log")"
fi

# 4. The exporter unit.
unit=/lib/systemd/system/tally-exporter.service
if command -v systemd-analyze >/dev/null; then
  verify=$(systemd-analyze verify "$unit" 2>&1) && ok "systemd-analyze verify $unit" || fail "systemd-analyze verify: $verify"
  level=$(systemd-analyze security --offline=yes "$unit" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: //p')
  [[ $level == *" OK "* || $level == *" SAFE "* ]] && ok "systemd-analyze security: $level" ||
    fail "systemd-analyze security rates the sandbox '$level'"
else
  echo "# no systemd-analyze: the unit's syntax and sandbox are not checked"
fi
for setting in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes \
               CapabilityBoundingSet= 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
               EnvironmentFile=-/etc/default/tally-exporter; do
  grep -qx "$setting" "$unit" && ok "the unit sets $setting" || fail "the unit does not set $setting"
done
execstart=$(sed -n 's/^ExecStart=//p' "$unit")
# The environment file as installed, with the test server's URL and a free
# loopback port; sourced as systemd reads it, then ExecStart expanded as systemd
# does ($VAR split into words) and run as nobody, with no way to gain privileges.
sed -e "s|^TALLY_URL=.*|TALLY_URL=$TALLY_TEST_URL|" -e 's|^TALLY_EXPORTER_ARGS=.*|TALLY_EXPORTER_ARGS="--listen 127.0.0.1:0"|' \
  /etc/default/tally-exporter >"$work/env"
grep -q "^TALLY_URL=$TALLY_TEST_URL\$" "$work/env" && grep -q '^TALLY_EXPORTER_ARGS=' "$work/env" ||
  fail "/etc/default/tally-exporter sets no TALLY_URL or TALLY_EXPORTER_ARGS"
echo "    ExecStart=$execstart"
exec 4< <(set -a; . "$work/env"; set +a
          eval "exec setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs $execstart" 2>"$work/exporter.err")
exporter=$!
read -r -t 30 line <&4 # it prints where it listens once it does
port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/metrics|\1|p' <<<"${line:-}")
if [ -n "$port" ]; then
  ok "the unit's command line, as nobody: ${line}"
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  scrape=$(cat <&3 | tr -d '\r')
  exec 3<&-
  head -1 <<<"$scrape" | grep -q '^HTTP/1.1 200' && grep -qx 'tally_up 1' <<<"$scrape" &&
    ok "GET /metrics: 200, tally_up 1, $(grep -c '^tally_' <<<"$scrape") samples" ||
    fail "GET /metrics: $(head -1 <<<"$scrape"), $(grep '^tally_up' <<<"$scrape")"
else
  fail "the unit's command line did not listen: '${line:-}' $(cat "$work/exporter.err")"
fi
kill "$exporter" 2>/dev/null; exporter=

echo "$fails failed"
[ $fails -eq 0 ]
