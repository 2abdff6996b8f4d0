/* SPDX-License-Identifier: MIT */
/* The runner's pid file: written at start (refused if it names another live process), removed
 * at exit if it still holds our pid. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/error.h>
#include <weft/log.h>

#include "app-internal.h"

/* The pid written in path, or 0 if there is none or it cannot be read. */
static long read_pid(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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

int weft__pid_file_write(const char *path)
{
    long old = read_pid(path);
    if (old > 0 && old != (long)getpid() && (kill((pid_t)old, 0) == 0 || errno == EPERM)) {
        weft_log(WEFT_LOG_ERROR, "app", "pid file %s names process %ld, which is running", path,
                 old);
        return WEFT_EEXIST;
    }
    /* Written beside it and renamed: a reader never sees half a pid. */
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return WEFT_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
    } else {
        char line[32];
        int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
        if (write(fd, line, (size_t)len) != len)
            rc = WEFT_EIO;
        if (close(fd) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
        if (rc != 0)
            unlink(tmp);
    }
    if (rc != 0)
        weft_log(WEFT_LOG_ERROR, "app", "cannot write pid file %s: %s", path, weft_strerror(rc));
    return rc;
}

void weft__pid_file_remove(const char *path)
{
    if (read_pid(path) == (long)getpid())
        unlink(path);
}
