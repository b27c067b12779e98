#!/usr/bin/python3
"""Compare two root filesystems entry by entry.

    treecmp.py A B [--ignore-owner] [--map-ids INNER:OUTER:COUNT,...]
                   [--allow-missing-devices] [--ignore-xattr NAME,...]

For each path: type, permission bits (with setuid/setgid/sticky), uid,
gid, size, a sha256 of the content, symlink target, device numbers, and
xattrs (overlay's own left out: they are how a layer is stored, not what
the tree holds). Prints every difference; exits 1 if there is one.

--map-ids reads B's owners through a user namespace's mapping (B as a
rootless unpack left it: host ids OUTER.. stand for image ids INNER..).
--allow-missing-devices lets B lack A's device nodes (a rootless unpack
does not make them); --ignore-xattr leaves xattrs out.
"""
import hashlib
import os
import stat
import sys


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in names:
        if n.startswith(("trusted.overlay.", "user.overlay.", "security.selinux")):
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            pass
    return out


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def translate(idmap, outer):
    for inner, start, count in idmap:
        if start <= outer < start + count:
            return inner + outer - start
    return ("unmapped", outer)


def describe(root, rel, opts, idmap=None):
    path = os.path.join(root, rel)
    st = os.lstat(path)
    x = {k: v for k, v in xattrs(path).items() if k not in opts["ignore_xattr"]}
    d = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)), "xattrs": x}
    if not opts["ignore_owner"]:
        d["uid"], d["gid"] = st.st_uid, st.st_gid
        if idmap:
            d["uid"], d["gid"] = translate(idmap, st.st_uid), translate(idmap, st.st_gid)
    if stat.S_ISREG(st.st_mode):
        d["size"] = st.st_size
        d["sha256"] = digest(path)
    elif stat.S_ISLNK(st.st_mode):
        d["target"] = os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return d


def walk(root):
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        # os.walk cannot descend into directories without x or r: we are
        # root or have CAP_DAC_OVERRIDE, so this only skips what errors.
        for n in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def option(name, default=""):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def main():
    a, b = sys.argv[1], sys.argv[2]
    opts = {"ignore_owner": "--ignore-owner" in sys.argv,
            "ignore_xattr": set(filter(None, option("--ignore-xattr").split(",")))}
    idmap = [tuple(int(v) for v in m.split(":")) for m in filter(None, option("--map-ids").split(","))]
    pa, pb = walk(a), walk(b)
    allowed = set()
    if "--allow-missing-devices" in sys.argv:
        for rel in pa - pb:
            mode = os.lstat(os.path.join(a, rel)).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                allowed.add(rel)
    diffs = []
    for rel in sorted(pa - pb - allowed):
        diffs.append("only in %s: %s" % (a, rel))
    for rel in sorted(pb - pa):
        diffs.append("only in %s: %s" % (b, rel))
    for rel in sorted(pa & pb):
        da, db = describe(a, rel, opts), describe(b, rel, opts, idmap)
        for k in sorted(set(da) | set(db)):
            if da.get(k) != db.get(k):
                diffs.append("%s: %s differs: %r vs %r" % (rel, k, da.get(k), db.get(k)))
    root_a, root_b = describe(a, ".", opts), describe(b, ".", opts, idmap)
    if root_a["mode"] != root_b["mode"]:
        diffs.append(".: mode differs: %s vs %s" % (root_a["mode"], root_b["mode"]))
    for d in diffs:
        print(d)
    print("%d entries compared, %d differences" % (len(pa | pb), len(diffs)))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
