"""Small file helpers shared by the persistent pieces (sequence numbers, queue).

Atomic replace = write a temporary file, then rename over the target: POSIX
and littlefs both make the rename atomic, so a kill leaves the old or the
new content, never a mix. (The unix port has no os.fsync: a process kill is
survived because the kernel keeps written pages; a board's littlefs commits
on close.)
"""

import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def makedirs(path):
    cur = ""
    for part in path.split("/"):
        cur = part if not cur else cur + "/" + part
        if cur and not exists(cur):
            os.mkdir(cur)


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def read_or(path, default):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return default


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0
