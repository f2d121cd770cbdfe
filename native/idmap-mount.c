/*
 * idmap-mount HOST_ID COUNT SOURCE TARGET
 *
 * Mounts SOURCE at TARGET as an idmapped bind mount: a file owned by id N on disk shows as owned
 * by HOST_ID + N (for N < COUNT) through TARGET, for users and groups alike. A machine's root is an
 * overlay whose lower layer is such a mount of the shared image rootfs, so root in the machine
 * (host id HOST_ID) owns the image's files without a chowned copy of them (docs/isolation.md).
 *
 * Needs the new mount API (Linux 5.12+) and a filesystem that allows idmapped mounts (ext4, xfs,
 * btrfs, tmpfs 6.3+). Exits 0 on success; otherwise prints why on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what) {
  fprintf(stderr, "idmap-mount: %s: %s\n", what, strerror(errno));
  return 1;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: idmap-mount HOST_ID COUNT SOURCE TARGET\n");
    return 2;
  }
  unsigned long host = strtoul(argv[1], NULL, 10), count = strtoul(argv[2], NULL, 10);
  if (count == 0) {
    fprintf(stderr, "idmap-mount: COUNT must be positive\n");
    return 2;
  }

  /* A user namespace to describe the mapping: a child enters a new one and waits to be killed. */
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return fail("pipe");
  pid_t child = fork();
  if (child < 0) return fail("fork");
  if (child == 0) {
    char byte = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
    if (write(ready[1], &byte, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char byte = 'n';
  if (read(ready[0], &byte, 1) != 1 || byte != 'y') {
    errno = EPERM;
    kill(child, SIGKILL);
    return fail("unshare(CLONE_NEWUSER)");
  }

  char path[64], map[96];
  int status = 1;
  snprintf(map, sizeof map, "0 %lu %lu\n", host, count);
  snprintf(path, sizeof path, "/proc/%d/uid_map", child);
  if (write_file(path, map) < 0) {
    fail("writing uid_map");
    goto out;
  }
  snprintf(path, sizeof path, "/proc/%d/gid_map", child);
  if (write_file(path, map) < 0) {
    fail("writing gid_map");
    goto out;
  }
  snprintf(path, sizeof path, "/proc/%d/ns/user", child);
  int userns = open(path, O_RDONLY | O_CLOEXEC);
  if (userns < 0) {
    fail("opening the user namespace");
    goto out;
  }

  int tree = syscall(SYS_open_tree, AT_FDCWD, argv[3], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) {
    fail(argv[3]);
    goto out;
  }
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = userns};
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    fail("mount_setattr(MOUNT_ATTR_IDMAP)");
    goto out;
  }
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, argv[4], MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    fail(argv[4]);
    goto out;
  }
  status = 0;
out:
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  return status;
}
