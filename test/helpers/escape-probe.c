/*
 * escape-probe ATTEMPT [ARG]: one escape attempt from inside a machine (test/escape.test.ts), built
 * static so it runs in a busybox image. Prints `ATTEMPT: refused (ERRNO)` or `ATTEMPT: ALLOWED`
 * for each thing it tries, and `sniffed N` / `touched N MB` for the contained ones.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void report(const char *what, long result) {
  if (result < 0) printf("%s: refused (%s)\n", what, strerrorname_np(errno));
  else printf("%s: ALLOWED\n", what);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *attempt = argc > 1 ? argv[1] : "";
  if (strcmp(attempt, "syscalls") == 0) {
    report("add_key", syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "probe"));
    report("mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    report("mount_proc", mount("proc", "/tmp", "proc", 0, NULL));
    report("umount_proc", umount2("/proc", MNT_DETACH));
    report("unshare_user", unshare(CLONE_NEWUSER));
    report("unshare_mount", unshare(CLONE_NEWNS));
    report("unshare_net", unshare(CLONE_NEWNET));
    report("mknod_block", mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)));
    report("mknod_mem", mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)));
    report("chroot_escape", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    report("sethostname", sethostname("evil", 4));
    report("settimeofday", settimeofday(&(struct timeval){0}, NULL));
    report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
    report("init_module", syscall(SYS_init_module, "", 0, ""));
    report("open_by_handle", syscall(SYS_open_by_handle_at, -100, "", 0));
    return 0;
  }
  if (strcmp(attempt, "ptrace") == 0 && argc > 2) {
    report("ptrace_attach", ptrace(PTRACE_ATTACH, atoi(argv[2]), NULL, NULL));
    return 0;
  }
  if (strcmp(attempt, "sniff") == 0 && argc > 3) {
    /* A raw socket on every packet of the machine's network: count those to or from ARG. */
    struct in_addr target;
    if (inet_pton(AF_INET, argv[2], &target) != 1) return 2;
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    report("packet_socket", fd);
    if (fd < 0) return 0;
    struct timeval timeout = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int seen = 0, total = 0;
    time_t end = time(NULL) + atoi(argv[3]);
    unsigned char frame[2048];
    while (time(NULL) < end) {
      ssize_t n = recv(fd, frame, sizeof frame, 0);
      if (n < 34) continue;
      total++;
      if (memcmp(frame + 26, &target, 4) == 0 || memcmp(frame + 30, &target, 4) == 0) seen++;
    }
    printf("sniffed %d of %d\n", seen, total);
    return 0;
  }
  if (strcmp(attempt, "ping") == 0 && argc > 2) {
    /* An ICMP echo over a datagram socket (what iputils' ping does when raw sockets are refused). */
    struct sockaddr_in to = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) return 2;
    int fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    report("icmp_socket", fd);
    if (fd < 0) return 0;
    unsigned char echo[8] = {8, 0, 0, 0, 0, 0, 0, 1}, reply[64];
    struct timeval timeout = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (sendto(fd, echo, sizeof echo, 0, (struct sockaddr *)&to, sizeof to) < 0) return 1;
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    printf(n > 0 && reply[0] == 0 ? "echo reply\n" : "no reply\n");
    return 0;
  }
  if (strcmp(attempt, "memory") == 0) {
    /* Touches memory 16 MB at a time until the kernel stops it. */
    for (long mb = 16;; mb += 16) {
      char *chunk = malloc(16 << 20);
      if (!chunk) {
        printf("malloc failed at %ld MB\n", mb);
        pause();
      }
      memset(chunk, 1, 16 << 20);
      printf("touched %ld MB\n", mb);
    }
  }
  fprintf(stderr, "usage: escape-probe syscalls | ptrace PID | sniff IPV4 SECONDS | ping IPV4 | memory\n");
  return 2;
}
