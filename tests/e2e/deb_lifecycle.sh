#!/bin/sh
# deb_lifecycle.sh DEB OUT: the life of the kvstore package on a machine
# without systemd, played in a throwaway copy of this one. test_deb_lifecycle.cc
# runs it as root under
#   unshare --mount --pid --fork --mount-proc --propagation private
# so that it is process 1 of a private pid namespace (every process it starts
# dies with it) with private mounts: /etc, /usr and /var become overlays whose
# changes go to OUT/overlay (dpkg's database, the accounts, the installed
# files), and /run an empty tmpfs (no /run/systemd/system: the maintainer
# scripts take their paths without systemd; no /run/xinetd.pid: no xinetd is
# reloaded). Nothing it does reaches the real system.
#
# It does what an administrator does, and leaves what it saw in OUT for the
# test to check (it checks nothing itself):
#   STEP.out, STEP.rc   output and exit status of each dpkg run
#   daemonN.pid          pid of the Nth kvstored started by hand
#   daemonN.command      the command that started it, when not the recipe
#   daemonN.greeting     what the key the first one stored reads in the Nth
#   after-STEP           "running"/"gone" for each daemon, and the leftovers
set -u

deb=$1
out=$2

# A kvstored that exited is gone even while it waits, a zombie, for this
# shell (its parent) to reap it.
alive() {
    state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

mount_overlays() {
    for dir in etc usr var; do
        mkdir -p "$out/overlay/$dir/upper" "$out/overlay/$dir/work" || exit 1
        mount -t overlay overlay \
            -o "lowerdir=/$dir,upperdir=$out/overlay/$dir/upper,workdir=$out/overlay/$dir/work" "/$dir" || exit 1
    done
    mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
}

# step NAME COMMAND...: runs it, output to NAME.out, exit status to NAME.rc.
step() {
    name=$1
    shift
    start=$(date +%s.%N)
    "$@" >"$out/$name.out" 2>&1
    echo $? >"$out/$name.rc"
    echo "$name $start $(date +%s.%N)" >>"$out/times"
}

# start_daemon N [COMMAND]: kvstored as docs/operations.md ("Without
# systemd") starts it, or with COMMAND (the one a maintainer script printed,
# pasted into a root shell); waits until it answers on its admin socket (at
# most 10 s).
start_daemon() {
    install -d -m 0755 -o kvstore -g kvstore /run/kvstored
    if [ $# -gt 1 ]; then
        echo "$2" >"$out/daemon$1.command"
        sh -c "$2"
    else
        setpriv --reuid=kvstore --regid=kvstore --groups=kvsvc,kvstore-admin -- \
            sh -c 'umask 077; exec kvstored run --socket /run/kvstored/kvstored.sock --db /var/lib/kvstore/store.db --service-group kvsvc --admin-group kvstore-admin' \
            2>>/var/log/kvstored.log &
        echo $! >"$out/daemon$1.pid"
    fi
    tries=0
    until kvstored status >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ $tries -gt 100 ]; then
            echo "kvstored did not start:" >"$out/daemon$1.failed"
            cat /var/log/kvstored.log >>"$out/daemon$1.failed"
            return
        fi
        sleep 0.1
    done
    kvstored status --json | sed -n 's/.*"pid":\([0-9]*\).*/\1/p' >"$out/daemon$1.pid"
    # The first one stores a key; the later ones find it if their
    # predecessor was stopped cleanly (batch sync: committed at shutdown).
    if [ "$1" = 1 ]; then
        kvstored set greeting hello >/dev/null
    else
        kvstored get greeting >"$out/daemon$1.greeting" 2>&1
    fi
}

# record NAME: after a step, which daemons run and what is left.
record() {
    {
        for f in "$out"/daemon*.pid; do
            [ -f "$f" ] || continue
            n=$(basename "$f" .pid)
            if alive "$(cat "$f")"; then echo "$n running"; else echo "$n gone"; fi
        done
        for path in /var/lib/kvstore /run/kvstored /etc/kvstore /usr/bin/kvstored; do
            if [ -e "$path" ]; then echo "exists $path"; fi
        done
        # The users file holds password hashes: root:kvstore 0640 (postinst).
        if [ -f /etc/kvstore/users ]; then echo "users-file $(stat -c %U:%G:%a /etc/kvstore/users)"; fi
        for user in kvstore kvsvc; do
            if getent passwd "$user" >/dev/null; then echo "user $user"; fi
        done
        for group in kvstore kvsvc kvstore-admin; do
            if getent group "$group" >/dev/null; then echo "group $group"; fi
        done
        dpkg-query -W -f='package ${db:Status-Abbrev}\n' kvstore 2>/dev/null
        # Whatever the scripts left in /run besides what this script made
        # and adduser's lock directory (there on any system that ran adduser).
        find /run -mindepth 1 -maxdepth 1 ! -name kvstored ! -name adduser | sed 's/^/in-run /'
    } >"$out/after-$1"
}

mount_overlays
# man-db's trigger (mandb, seconds per dpkg run) is not what is tested here.
rm -f /var/lib/man-db/auto-update

# 1. Install; start kvstored by hand.
step install dpkg -i "$deb"
start_daemon 1
record install

# 2. Reinstall (apt install --reinstall, or an upgrade): the old kvstored
# must not keep running the replaced program.
step reinstall dpkg -i "$deb"
record reinstall

# 3. An upgrade from a package whose prerm left kvstored running (those before
# issue 19): the new postinst stops the kvstored that runs the program it
# replaced. The kvstored it stops was started with the command that the
# reinstall printed.
start_daemon 2 "$(sed -n 's/^kvstore:   //p' "$out/reinstall.out")"
printf '#!/bin/sh\nexit 0\n' >/var/lib/dpkg/info/kvstore.prerm
step upgrade-old-prerm dpkg -i "$deb"
record upgrade-old-prerm

# 4. Purge with kvstored running.
start_daemon 3
step purge dpkg --purge kvstore
record purge

# 5. Again, with a prerm that left kvstored running (as before issue 19):
# postrm stops it before it deletes its database.
step install-again dpkg -i "$deb"
start_daemon 4
printf '#!/bin/sh\nexit 0\n' >/var/lib/dpkg/info/kvstore.prerm
step purge-old-prerm dpkg --purge kvstore
record purge-old-prerm
