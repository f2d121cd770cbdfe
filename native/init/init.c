/*
 * init: PID 1 of a nearby microVM (static, runs from the initramfs). It loads the virtio modules,
 * mounts the machine's disk at /newroot, writes the machine's files, configures eth0 (IPv4 + IPv6)
 * from /nearby.conf, then runs the entrypoint chrooted into /newroot with the machine's env, user
 * and cwd. stdout/stderr go to the virtio-serial ports nearby.stdout/nearby.stderr (the host turns
 * them into the CRI log); the exit status is written to nearby.status; exec and signal requests
 * arrive on nearby.ctl. When the entrypoint exits, init kills the rest, syncs and powers off.
 *
 * /nearby.conf, one item a line, strings hex-encoded so any byte is safe:
 *   hostname NAME | ip4 ADDR PREFIX GW | ip6 ADDR PREFIX GW | uid N | gid N | group N | cwd HEX
 *   arg HEX | env HEX | file HEXPATH OCTALMODE HEXCONTENT
 * nearby.ctl requests (one a line): `K SIGNUM` (answers `k`), `P` (answers `P 1` while the entrypoint runs),
 *   `X REQID TIMEOUTMS HEXARG...` (answers `R REQID EXITCODE HEXSTDOUT HEXSTDERR`).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <net/route.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ITEMS 4096
#define EXEC_OUTPUT_MAX (1024 * 1024)

struct in6_ifreq_compat {
  struct in6_addr addr;
  unsigned int prefixlen;
  int ifindex;
};

static char *args[MAX_ITEMS], *envs[MAX_ITEMS];
static int nargs, nenvs;
static gid_t groups[256];
static int ngroups;
static uid_t uid;
static gid_t gid;
static char cwd[4096] = "/";
static char hostname[256];
static int out_fd = -1, err_fd = -1, status_fd = -1, ctl_fd = -1;

static void say(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  /* The kernel console is for whoever debugs a boot; the stderr port is what `nearby logs` shows. */
  if (write(2, buf, (size_t)n) < 0) {
  }
  if (err_fd >= 0 && write(err_fd, buf, (size_t)n) < 0) {
  }
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    buf += w;
    len -= (size_t)w;
  }
}

static void power_off(void) {
  sync();
  reboot(RB_POWER_OFF);
  reboot(RB_AUTOBOOT); /* QEMU runs with -no-reboot: a reset ends it too */
  for (;;) pause();
}

static void report_exit(int code, int sig) {
  char text[160];
  const char *abbrev = sig ? sigabbrev_np(sig) : NULL;
  if (sig)
    snprintf(text, sizeof text, "{\"exit_code\":%d,\"signal\":\"SIG%s\"}\n", code, abbrev ? abbrev : "UNKNOWN");
  else
    snprintf(text, sizeof text, "{\"exit_code\":%d,\"signal\":null}\n", code);
  if (status_fd >= 0) write_all(status_fd, text, strlen(text));
}

static void fatal(const char *fmt, ...) {
  char buf[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  say("nearby-init: %s", buf);
  report_exit(127, 0);
  power_off();
}

static int unhex(const char *hex, char *out, size_t max) {
  size_t len = strlen(hex);
  if (len % 2 || len / 2 > max) return -1;
  for (size_t i = 0; i < len / 2; i++) {
    unsigned int byte;
    if (sscanf(hex + 2 * i, "%2x", &byte) != 1) return -1;
    out[i] = (char)byte;
  }
  return (int)(len / 2);
}

static char *unhex_str(const char *hex) {
  size_t len = strlen(hex) / 2;
  char *out = calloc(1, len + 1);
  if (!out || unhex(hex, out, len) < 0) fatal("bad hex in the machine config");
  return out;
}

static char *read_file(const char *path, size_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = 0;
  if (size) *size = len;
  return buf;
}

static void mkdir_p(const char *path, mode_t mode) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(tmp, 0755);
    *p = '/';
  }
  mkdir(tmp, mode);
}

static void load_modules(void) {
  char *order = read_file("/modules.order", NULL);
  if (!order) return;
  for (char *line = strtok(order, "\n"); line; line = strtok(NULL, "\n")) {
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST))
      say("nearby-init: cannot load %s: %s", line, strerror(errno));
    if (fd >= 0) close(fd);
  }
  free(order);
}

static int wait_for(const char *path, int ms) {
  for (int waited = 0; waited < ms; waited += 5) {
    if (access(path, F_OK) == 0) return 0;
    usleep(5000);
  }
  return access(path, F_OK);
}

/* virtio-serial ports are /dev/vportNpM; their names are in sysfs (no udev for the symlinks). */
static int open_port(const char *name, int flags) {
  char want[64];
  snprintf(want, sizeof want, "%s\n", name);
  for (int waited = 0; waited < 5000; waited += 5) {
    DIR *dir = opendir("/sys/class/virtio-ports");
    struct dirent *entry;
    while (dir && (entry = readdir(dir))) {
      if (entry->d_name[0] == '.') continue;
      char path[512];
      snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", entry->d_name);
      char *text = read_file(path, NULL);
      int match = text && strcmp(text, want) == 0;
      free(text);
      if (!match) continue;
      snprintf(path, sizeof path, "/dev/%s", entry->d_name);
      closedir(dir);
      if (wait_for(path, 2000) < 0) return -1;
      return open(path, flags | O_CLOEXEC);
    }
    if (dir) closedir(dir);
    usleep(5000);
  }
  return -1;
}

static void write_guest_file(const char *path, mode_t mode, const char *hex) {
  char full[4096];
  snprintf(full, sizeof full, "/newroot%s", path);
  char *slash = strrchr(full, '/');
  *slash = 0;
  mkdir_p(full, 0755);
  *slash = '/';
  size_t len = strlen(hex) / 2;
  char *content = malloc(len + 1);
  if (unhex(hex, content, len) < 0) fatal("bad content for %s", path);
  unlink(full); /* an image's symlink (e.g. /etc/resolv.conf) is replaced, not followed */
  int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) fatal("cannot write %s: %s", path, strerror(errno));
  write_all(fd, content, len);
  fchmod(fd, mode);
  close(fd);
  free(content);
}

static void set_flags_up(int sock, const char *dev) {
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) return;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) say("nearby-init: cannot bring %s up: %s", dev, strerror(errno));
}

static void sysctl_write(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    write_all(fd, value, strlen(value));
    close(fd);
  }
}

static void net_ip4(const char *addr, int prefix, const char *gw) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, IFNAMSIZ, "eth0");
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  inet_pton(AF_INET, addr, &sin->sin_addr);
  if (ioctl(sock, SIOCSIFADDR, &ifr) < 0) fatal("cannot set IPv4 %s: %s", addr, strerror(errno));
  sin->sin_addr.s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0;
  if (ioctl(sock, SIOCSIFNETMASK, &ifr) < 0) fatal("cannot set the IPv4 netmask: %s", strerror(errno));
  set_flags_up(sock, "eth0");
  struct rtentry route = {0};
  struct sockaddr_in *dst = (struct sockaddr_in *)&route.rt_dst, *mask = (struct sockaddr_in *)&route.rt_genmask,
                     *via = (struct sockaddr_in *)&route.rt_gateway;
  dst->sin_family = mask->sin_family = via->sin_family = AF_INET;
  inet_pton(AF_INET, gw, &via->sin_addr);
  route.rt_flags = RTF_UP | RTF_GATEWAY;
  route.rt_dev = "eth0";
  if (ioctl(sock, SIOCADDRT, &route) < 0 && errno != EEXIST)
    say("nearby-init: cannot add the IPv4 default route: %s", strerror(errno));
  close(sock);
}

static void net_ip6(const char *addr, int prefix, const char *gw) {
  int sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return;
  struct in6_ifreq_compat req = {0};
  inet_pton(AF_INET6, addr, &req.addr);
  req.prefixlen = (unsigned)prefix;
  req.ifindex = (int)if_nametoindex("eth0");
  if (ioctl(sock, SIOCSIFADDR, &req) < 0) fatal("cannot set IPv6 %s: %s", addr, strerror(errno));
  struct in6_rtmsg route = {0};
  inet_pton(AF_INET6, gw, &route.rtmsg_gateway);
  route.rtmsg_flags = RTF_UP | RTF_GATEWAY;
  route.rtmsg_metric = 1;
  route.rtmsg_ifindex = req.ifindex;
  if (ioctl(sock, SIOCADDRT, &route) < 0 && errno != EEXIST)
    say("nearby-init: cannot add the IPv6 default route: %s", strerror(errno));
  close(sock);
}

static void configure(void) {
  char *conf = read_file("/nearby.conf", NULL);
  if (!conf) fatal("no /nearby.conf in the initramfs");
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  set_flags_up(sock, "lo");
  close(sock);
  char *save = NULL;
  for (char *line = strtok_r(conf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char key[16], a[4096], b[4096];
    int prefix;
    if (sscanf(line, "%15s", key) != 1) continue;
    char *rest = line + strlen(key) + (line[strlen(key)] ? 1 : 0);
    if (!strcmp(key, "hostname")) snprintf(hostname, sizeof hostname, "%s", rest);
    else if (!strcmp(key, "uid")) uid = (uid_t)strtoul(rest, NULL, 10);
    else if (!strcmp(key, "gid")) gid = (gid_t)strtoul(rest, NULL, 10);
    else if (!strcmp(key, "group") && ngroups < 256) groups[ngroups++] = (gid_t)strtoul(rest, NULL, 10);
    else if (!strcmp(key, "cwd")) snprintf(cwd, sizeof cwd, "%s", unhex_str(rest));
    else if (!strcmp(key, "arg") && nargs < MAX_ITEMS - 1) args[nargs++] = unhex_str(rest);
    else if (!strcmp(key, "env") && nenvs < MAX_ITEMS - 1) envs[nenvs++] = unhex_str(rest);
    else if (!strcmp(key, "ip4") || !strcmp(key, "ip6")) {
      if (sscanf(rest, "%4095s %d %4095s", a, &prefix, b) != 3) fatal("bad %s line", key);
      if (wait_for("/sys/class/net/eth0", 5000) < 0) fatal("no eth0: the virtio_net module did not load");
      if (key[2] == '4') net_ip4(a, prefix, b);
      else {
        /* The address is ours alone: skip duplicate detection, which would hold it for a second. */
        sysctl_write("/proc/sys/net/ipv6/conf/eth0/accept_dad", "0");
        sysctl_write("/proc/sys/net/ipv6/conf/eth0/accept_ra", "0");
        net_ip6(a, prefix, b);
      }
    } else if (!strcmp(key, "file")) {
      char *path_hex = strtok(rest, " "), *mode = strtok(NULL, " "), *content = strtok(NULL, " ");
      if (!path_hex || !mode) fatal("bad file line");
      char *path = unhex_str(path_hex);
      write_guest_file(path, (mode_t)strtoul(mode, NULL, 8), content ? content : "");
      free(path);
    }
  }
  args[nargs] = NULL;
  envs[nenvs] = NULL;
  if (nargs == 0) fatal("the machine has no command: set init.cmd or use an image with an entrypoint");
  if (hostname[0]) sethostname(hostname, strlen(hostname));
  free(conf);
}

static void mount_guest_fs(void) {
  const struct {
    const char *src, *dst, *type, *data;
    unsigned long flags;
  } mounts[] = {
      {"proc", "/newroot/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
      {"sysfs", "/newroot/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
      {"devtmpfs", "/newroot/dev", "devtmpfs", "mode=755", MS_NOSUID},
      {"devpts", "/newroot/dev/pts", "devpts", "ptmxmode=0666,mode=0620,gid=5", MS_NOSUID | MS_NOEXEC},
      {"shm", "/newroot/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV},
      {"tmpfs", "/newroot/run", "tmpfs", "mode=755", MS_NOSUID | MS_NODEV},
      {"tmpfs", "/newroot/tmp", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV},
  };
  for (size_t i = 0; i < sizeof mounts / sizeof mounts[0]; i++) {
    mkdir_p(mounts[i].dst, 0755);
    if (mount(mounts[i].src, mounts[i].dst, mounts[i].type, mounts[i].flags, mounts[i].data) < 0)
      say("nearby-init: cannot mount %s: %s", mounts[i].dst, strerror(errno));
  }
}

/* In a child: become the machine's process (root, cwd, user, env), with the given stdio. */
static void enter_machine(int in, int out, int err) {
  setsid();
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (chroot("/newroot") < 0 || chdir("/") < 0) {
    dprintf(2, "nearby-init: chroot: %s\n", strerror(errno));
    _exit(127);
  }
  mkdir_p(cwd, 0755);
  if (chdir(cwd) < 0) dprintf(2, "nearby-init: cannot enter %s: %s\n", cwd, strerror(errno));
  if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
    dprintf(2, "nearby-init: cannot become uid %u gid %u: %s\n", uid, gid, strerror(errno));
    _exit(127);
  }
}

static pid_t start_app(void) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int null = open("/dev/null", O_RDWR);
  enter_machine(null, out_fd >= 0 ? out_fd : 1, err_fd >= 0 ? err_fd : 2);
  environ = envs; /* execvp looks the command up in the machine's PATH */
  execvp(args[0], args);
  dprintf(2, "nearby-init: cannot run %s: %s\n", args[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

static void append_hex(char **buf, size_t *len, const char *data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    (*buf)[(*len)++] = digits[(unsigned char)data[i] >> 4];
    (*buf)[(*len)++] = digits[(unsigned char)data[i] & 15];
  }
}

/* Runs in a forked helper: the command, its output collected, one `R` line back on the ctl port. */
static void run_exec(char *request) {
  strtok(request, " ");
  char *reqid = strtok(NULL, " "), *timeout_text = strtok(NULL, " ");
  char *argv[256];
  int argc = 0;
  for (char *hex; argc < 255 && (hex = strtok(NULL, " "));) argv[argc++] = unhex_str(hex);
  argv[argc] = NULL;
  long timeout_ms = timeout_text ? atol(timeout_text) : 0;
  int po[2], pe[2];
  if (!reqid || argc == 0 || pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) _exit(1);
  pid_t child = fork();
  if (child == 0) {
    int null = open("/dev/null", O_RDWR);
    enter_machine(null, po[1], pe[1]);
    environ = envs;
    execvp(argv[0], argv);
    dprintf(2, "exec: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  close(po[1]);
  close(pe[1]);
  static char out[EXEC_OUTPUT_MAX], err[EXEC_OUTPUT_MAX];
  size_t out_len = 0, err_len = 0;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int open_fds = 2, killed = 0;
  while (open_fds > 0) {
    struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    poll(fds, 2, 100);
    for (int k = 0; k < 2; k++) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char *buf = k ? err : out;
      size_t *len = k ? &err_len : &out_len;
      char scratch[4096];
      ssize_t n = read(fds[k].fd, *len < EXEC_OUTPUT_MAX ? buf + *len : scratch,
                       *len < EXEC_OUTPUT_MAX ? EXEC_OUTPUT_MAX - *len : sizeof scratch);
      if (n <= 0) {
        close(fds[k].fd);
        if (k) pe[0] = -1;
        else po[0] = -1;
        open_fds--;
      } else if (*len < EXEC_OUTPUT_MAX) *len += (size_t)n;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (timeout_ms > 0 && elapsed > timeout_ms && !killed) {
      kill(-child, SIGKILL);
      killed = 1;
    }
  }
  int st = 0;
  waitpid(child, &st, 0);
  int code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
  char *reply = malloc(64 + 2 * (out_len + err_len) + 4);
  size_t len = (size_t)sprintf(reply, "R %s %d ", reqid, code);
  append_hex(&reply, &len, out, out_len);
  reply[len++] = ' ';
  append_hex(&reply, &len, err, err_len);
  reply[len++] = '\n';
  write_all(ctl_fd, reply, len);
  _exit(0);
}

static void handle_request(char *line, pid_t app) {
  if (line[0] == 'K') {
    int sig = atoi(line + 1);
    if (app > 0 && sig > 0) kill(app, sig);
    write_all(ctl_fd, "k\n", 2);
  } else if (line[0] == 'P') {
    char reply[16];
    int n = snprintf(reply, sizeof reply, "P %d\n", app > 0 ? 1 : 0);
    write_all(ctl_fd, reply, (size_t)n);
  } else if (line[0] == 'X') {
    if (fork() == 0) run_exec(line);
  }
}

int main(void) {
  mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=755");
  mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  load_modules();
  out_fd = open_port("nearby.stdout", O_WRONLY);
  err_fd = open_port("nearby.stderr", O_WRONLY);
  status_fd = open_port("nearby.status", O_WRONLY);
  ctl_fd = open_port("nearby.ctl", O_RDWR | O_NONBLOCK);
  if (wait_for("/dev/vda", 10000) < 0) fatal("no disk /dev/vda: the virtio_blk module did not load");
  mkdir("/newroot", 0755);
  if (mount("/dev/vda", "/newroot", "ext4", 0, NULL) < 0) fatal("cannot mount the root disk: %s", strerror(errno));
  configure();
  mount_guest_fs();

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGIO);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  /* The port raises SIGIO when the host connects: no polling while nobody is there. */
  if (ctl_fd >= 0) {
    fcntl(ctl_fd, F_SETOWN, getpid());
    fcntl(ctl_fd, F_SETFL, fcntl(ctl_fd, F_GETFL) | O_ASYNC);
  }
  pid_t app = start_app();
  char line[1 << 16];
  size_t line_len = 0;
  int ctl_idle = 0;
  for (;;) {
    /* A port whose host end is not connected polls as hung up: wait for SIGIO (or, in case it
     * never comes, look again each second). */
    struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = ctl_idle ? -1 : ctl_fd, .events = POLLIN}};
    if (poll(fds, 2, ctl_idle ? 1000 : -1) == 0) ctl_idle = 0;
    if (ctl_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
      ssize_t n = read(ctl_fd, line + line_len, sizeof line - 1 - line_len);
      if (n <= 0) ctl_idle = 1;
      else {
        line_len += (size_t)n;
        char *nl;
        while ((nl = memchr(line, '\n', line_len))) {
          *nl = 0;
          handle_request(line, app);
          line_len -= (size_t)(nl + 1 - line);
          memmove(line, nl + 1, line_len);
        }
        if (line_len == sizeof line - 1) line_len = 0; /* an overlong request is dropped */
      }
    }
    struct signalfd_siginfo info;
    while (read(sfd, &info, sizeof info) > 0) {
      if (info.ssi_signo == SIGIO) ctl_idle = 0;
    }
    int st;
    pid_t reaped;
    while ((reaped = waitpid(-1, &st, WNOHANG)) > 0) {
      if (reaped != app) continue;
      /* The entrypoint ended: so does the machine, as a container's does with its init. */
      kill(-1, SIGKILL);
      while (waitpid(-1, NULL, 0) > 0) {
      }
      if (WIFSIGNALED(st)) report_exit(128 + WTERMSIG(st), WTERMSIG(st));
      else report_exit(WEXITSTATUS(st), 0);
      umount2("/newroot", MNT_DETACH);
      power_off();
    }
  }
}
