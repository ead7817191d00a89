# The container made by hand (dockercourse.scratch.run): run by `sh -c` inside the new namespaces,
# with LOWER, UPPER, WORK, MERGED and NAME in its environment and the command as its arguments.
set -e
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$MERGED"
mount -t proc proc "$MERGED/proc"
mount -t tmpfs -o size=1m,mode=755 tmpfs "$MERGED/dev"
for d in null zero random urandom; do : > "$MERGED/dev/$d"; mount --bind "/dev/$d" "$MERGED/dev/$d"; done
mount -t tmpfs -o size=16m tmpfs "$MERGED/tmp"
hostname "$NAME"
ENVV="PATH=/usr/local/bin:/usr/bin:/bin HOME=/root"
cd "$MERGED"
mkdir -p .oldroot
if pivot_root . .oldroot 2>/dev/null; then
    # like runc: the overlay becomes "/", the host's tree is detached and forgotten
    cd /
    umount -l /.oldroot
    rmdir /.oldroot
    exec /usr/bin/env -i $ENVV ROOT_SWITCH=pivot_root "$@"
fi
rmdir .oldroot
exec chroot "$MERGED" /usr/bin/env -i $ENVV ROOT_SWITCH=chroot "$@"
