/* SPDX-License-Identifier: MIT */
/* The runner's pid file: written at start (refused if it names another live process), removed
 * at exit if it still holds our pid. */

/*
 * Design. Two runners started together must not both believe they own the file, and a
 * reader must never see half a pid. So the pid is first written to a temporary file that only
 * this process names (path.PID.tmp, created with O_EXCL | O_NOFOLLOW: a symlink planted there
 * is never followed), then published:
 *   - link(2) to path: atomic, and refused (EEXIST) when path exists, so of two runners racing
 *     for a missing file exactly one wins;
 *   - if path exists, it is read: another live pid refuses; a stale one (a dead pid, or a file
 *     that names none) is replaced by rename(2), under an flock(2) on the directory, so of two
 *     runners replacing the same stale file the second sees the first's live pid. Nothing else
 *     changes an existing pid file: link never replaces one, and only its owner removes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/log.h>

#include "app-internal.h"

/* The pid written in path, or 0 if there is none or it cannot be read (a symlink at path is
 * not followed: it reads as no pid, and is replaced as a stale file). */
static long read_pid(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end = NULL;
    long pid = strtol(buf, &end, 10);
    return end != buf && pid > 0 ? pid : 0;
}

static bool alive(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Writes our pid to a new file tmp that no one else names. */
static int write_tmp(const char *tmp)
{
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(tmp, flags, 0644);
    if (fd < 0 && errno == EEXIST) {
        /* Left by a dead process that had our pid (or planted): ours by name, replaced. */
        if (unlink(tmp) != 0)
            return -errno;
        fd = open(tmp, flags, 0644);
    }
    if (fd < 0)
        return -errno;
    char line[32];
    int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    int rc = write(fd, line, (size_t)len) == len ? 0 : WEFT_EIO;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* Locks the directory holding path (flock, released by closing the returned fd), or returns
 * a negative code. */
static int lock_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int rc = -errno;
            close(fd);
            return rc;
        }
    }
    return fd;
}

/* Publishes tmp as path unless path names another live process. */
static int publish(const char *path, const char *tmp)
{
    if (link(tmp, path) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    int lock = lock_dir(path);
    if (lock < 0)
        return lock;
    int rc = 0;
    long old = read_pid(path);
    if (old > 0 && old != (long)getpid() && alive(old)) {
        weft_log(WEFT_LOG_ERROR, "app", "pid file %s names process %ld, which is running", path,
                 old);
        rc = WEFT_EEXIST;
    } else if (rename(tmp, path) != 0) {
        rc = -errno;
    }
    close(lock);
    return rc;
}

int weft__pid_file_write(const char *path)
{
    long old = read_pid(path);
    if (old > 0 && old != (long)getpid() && alive(old)) {
        weft_log(WEFT_LOG_ERROR, "app", "pid file %s names process %ld, which is running", path,
                 old);
        return WEFT_EEXIST;
    }
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return WEFT_EINVAL;
    int rc = write_tmp(tmp);
    if (rc == 0)
        rc = publish(path, tmp);
    unlink(tmp); /* after link: path keeps the pid; after rename: already gone */
    if (rc != 0 && rc != WEFT_EEXIST)
        weft_log(WEFT_LOG_ERROR, "app", "cannot write pid file %s: %s", path, weft_strerror(rc));
    return rc;
}

void weft__pid_file_remove(const char *path)
{
    if (read_pid(path) == (long)getpid())
        unlink(path);
}
