/*
 * shim: a tiny conmon-like supervisor, one per running sandbox. It detaches from nearby (double fork,
 * setsid) so sandboxes outlive a restart of nearby, runs the OCI runtime in the foreground, writes the
 * container's stdout/stderr to a log file in CRI format, and records the exit status in an exit file.
 *
 * The runtime is run with --detach: the shim is a child subreaper, so the container's init is
 * reparented to it and waitpid() gives its true status (signal included), and the container (with
 * its cgroup and OOM counter) stays until `crun delete`, where nearby can still inspect it.
 *
 * usage: shim --pid-file P --exit-file E --log L --container-pid-file C [--oom-file F]
 *             -- crun --root R run --detach --pid-file C --bundle B ID
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd-passing.h"

#define MAX_UNKNOWN 64
#define MAX_LINE (16 * 1024) /* longer lines are written as partial (P) records, like CRI-O */
/* A machine that writes without end must not fill the host's disk: past this the log file starts
 * over (the log shipper sees it shrink and reads from its start; lines it had not shipped yet are
 * lost, and the file says so). */
#define LOG_MAX_BYTES (64L * 1024 * 1024)

struct stream {
  int fd;
  const char *name;
  char buf[MAX_LINE];
  size_t len;
};

static int log_fd = -1;
static off_t log_size;
static const char *oom_file;
static long oom_kills_last = -1;

static void write_record(const char *stream, char tag, const char *text, size_t len) {
  struct timespec ts;
  struct tm tm;
  char head[80];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = (int)strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
  n += snprintf(head + n, sizeof head - (size_t)n, ".%09ldZ %s %c ", ts.tv_nsec, stream, tag);
  /* One writev-like buffer so that concurrent appends never interleave inside a record. */
  char *rec = malloc((size_t)n + len + 1);
  if (!rec) return;
  memcpy(rec, head, (size_t)n);
  memcpy(rec + n, text, len);
  rec[(size_t)n + len] = '\n';
  size_t total = (size_t)n + len + 1, off = 0;
  while (off < total) {
    ssize_t w = write(log_fd, rec + off, total - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  free(rec);
  log_size += (off_t)off;
  if (log_size > LOG_MAX_BYTES && ftruncate(log_fd, 0) == 0) {
    log_size = 0;
    static const char note[] = "nearby: the log file passed 64 MB and started over; lines not yet shipped were lost";
    write_record("stderr", 'F', note, sizeof note - 1);
  }
}

/* Emits every complete line in the buffer; a full buffer without a newline becomes a P record. */
static void flush_lines(struct stream *s, int at_eof) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] == '\n') {
      write_record(s->name, 'F', s->buf + start, i - start);
      start = i + 1;
    }
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
  if (s->len == sizeof s->buf) {
    write_record(s->name, 'P', s->buf, s->len);
    s->len = 0;
  } else if (at_eof && s->len > 0) {
    write_record(s->name, 'F', s->buf, s->len);
    s->len = 0;
  }
}

/* Reads the memory cgroup's oom_kill counter; the cgroup is made fresh for every run, so any kill
 * counted is this run's. It is read after the init exits, before nearby deletes the container. */
static long read_oom_kills(void) {
  if (!oom_file) return -1;
  FILE *f = fopen(oom_file, "r");
  if (!f) return -1;
  char line[128];
  long value = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "oom_kill ", 9) == 0) value = atol(line + 9);
  }
  fclose(f);
  return value;
}

static void sample_oom(void) {
  long v = read_oom_kills();
  if (v >= 0) oom_kills_last = v;
}

static void write_file_atomic(const char *path, const char *content) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  size_t len = strlen(content);
  if (write(fd, content, len) != (ssize_t)len) {
    close(fd);
    return;
  }
  fsync(fd);
  close(fd);
  rename(tmp, path);
}

static void shim_error(const char *what) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "shim: %s: %s", what, strerror(errno));
  if (log_fd >= 0) write_record("stderr", 'F', msg, (size_t)n);
}


int main(int argc, char **argv) {
  const char *pid_file = NULL, *exit_file = NULL, *log_path = NULL, *container_pid_file = NULL;
  const char *console_socket = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (i + 1 >= argc) break;
    if (strcmp(argv[i], "--pid-file") == 0) pid_file = argv[++i];
    else if (strcmp(argv[i], "--exit-file") == 0) exit_file = argv[++i];
    else if (strcmp(argv[i], "--log") == 0) log_path = argv[++i];
    else if (strcmp(argv[i], "--oom-file") == 0) oom_file = argv[++i];
    else if (strcmp(argv[i], "--container-pid-file") == 0) container_pid_file = argv[++i];
    else if (strcmp(argv[i], "--console-socket") == 0) console_socket = argv[++i];
  }
  if (!pid_file || !exit_file || !log_path || !container_pid_file || i >= argc) {
    fprintf(stderr, "usage: shim --pid-file P --exit-file E --log L --container-pid-file C [--oom-file F] "
                    "[--console-socket S] -- runtime run --detach --pid-file C ...\n");
    return 2;
  }
  char **runtime_argv = argv + i;

  log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) {
    perror("shim: cannot open the log file");
    return 1;
  }
  struct stat log_stat;
  if (fstat(log_fd, &log_stat) == 0) log_size = log_stat.st_size;

  /* Double fork + setsid: the supervisor is reparented to init and has no controlling terminal,
   * so neither nearby's exit nor a signal to its process group reaches the sandbox.
   * The first process stays until the runtime has started the container (or failed to), told by
   * one byte on the ready pipe, so that nearby need not poll the runtime to know. */
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return 1;
  pid_t first = fork();
  if (first < 0) return 1;
  if (first > 0) {
    close(ready[1]);
    int status;
    waitpid(first, &status, 0);
    char byte;
    ssize_t n;
    while ((n = read(ready[0], &byte, 1)) < 0 && errno == EINTR) {
    }
    return n == 1 && byte == '1' ? 0 : n == 1 ? 2 : 1; /* 2: the runtime failed, see the log */
  }
  close(ready[0]);
  setsid();
  pid_t second = fork();
  if (second < 0) _exit(1);
  if (second > 0) _exit(0);

  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  if (devnull > 2) close(devnull);

  char pid_text[32];
  snprintf(pid_text, sizeof pid_text, "%d\n", (int)getpid());
  write_file_atomic(pid_file, pid_text);

  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* SIGCHLD through a signalfd wakes the loop the moment the runtime or the container exits. */
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old_mask);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
    shim_error("pipe");
    write_file_atomic(exit_file, "{\"exit_code\":127,\"signal\":null}\n");
    return 1;
  }
  /* init.tty: the runtime hands us the terminal's master end over this socket (SCM_RIGHTS), and
   * what the machine writes to its terminal is logged as stdout. */
  int console_listen = -1;
  if (console_socket) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", console_socket);
    unlink(console_socket);
    console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (console_listen < 0 || bind(console_listen, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(console_listen, 1) < 0) {
      shim_error("console socket");
      write_file_atomic(exit_file, "{\"exit_code\":127,\"signal\":null}\n");
      return 1;
    }
  }
  pid_t child = fork();
  if (child == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL); /* the sandbox must not inherit a blocked SIGCHLD */
    execvp(runtime_argv[0], runtime_argv);
    dprintf(2, "shim: cannot run %s: %s\n", runtime_argv[0], strerror(errno));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (child < 0) {
    shim_error("fork");
    write_file_atomic(exit_file, "{\"exit_code\":127,\"signal\":null}\n");
    return 1;
  }

  static struct stream out = {.name = "stdout"}, err = {.name = "stderr"}, tty = {.name = "stdout"};
  out.fd = out_pipe[0];
  err.fd = err_pipe[0];
  tty.fd = -1;
  /* First the runtime exits (having started the container), then the container's init exits. */
  pid_t container = -1;
  struct {
    pid_t pid;
    int status;
  } unknown[MAX_UNKNOWN];
  int unknown_count = 0;
  int status = 0, runtime_done = 0, container_done = 0, runtime_status = 0;
  while (out.fd >= 0 || err.fd >= 0 || tty.fd >= 0 || !container_done) {
    struct pollfd fds[5] = {{.fd = out.fd, .events = POLLIN},
                            {.fd = err.fd, .events = POLLIN},
                            {.fd = tty.fd, .events = POLLIN},
                            {.fd = sfd, .events = POLLIN},
                            {.fd = console_listen, .events = POLLIN}};
    int r = poll(fds, 5, 1000);
    if (r > 0 && console_listen >= 0 && (fds[4].revents & POLLIN)) {
      tty.fd = receive_fd(console_listen);
      close(console_listen);
      console_listen = -1;
      unlink(console_socket);
    }
    if (r > 0 && (fds[3].revents & POLLIN)) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) > 0) {
      }
    }
    for (;;) {
      int st;
      pid_t reaped = waitpid(-1, &st, WNOHANG);
      if (reaped <= 0) break;
      if (reaped == child) {
        runtime_done = 1;
        runtime_status = st;
        /* On failure nothing runs, even if the runtime wrote a pid before it gave up. */
        FILE *f = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? fopen(container_pid_file, "r") : NULL;
        if (f) {
          if (fscanf(f, "%d", &container) != 1) container = -1;
          fclose(f);
        }
        if (container <= 0) container_done = 1;
        if (ready[1] >= 0) {
          if (write(ready[1], WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "1" : "0", 1) < 0) {
          }
          close(ready[1]);
          ready[1] = -1;
        }
      } else if (reaped == container) {
        container_done = 1;
        status = st;
      } else if (unknown_count < MAX_UNKNOWN) {
        /* Possibly the init, reaped before the runtime's exit told us its pid: remember it. */
        unknown[unknown_count].pid = reaped;
        unknown[unknown_count++].status = st;
      }
    }
    for (int k = 0; container > 0 && !container_done && k < unknown_count; k++) {
      if (unknown[k].pid == container) {
        container_done = 1;
        status = unknown[k].status;
      }
    }
    /* The init may have exited before its pid was known: check it is still ours. */
    if (runtime_done && !container_done && container > 0 && kill(container, 0) < 0 && errno == ESRCH)
      container_done = 1;
    if (r < 0 && errno == EINTR) continue;
    if (container_done && (r == 0 || (out.fd < 0 && err.fd < 0 && tty.fd < 0)))
      break; /* escaped writers do not hold us */
    struct stream *streams[3] = {&out, &err, &tty};
    for (int k = 0; k < 3; k++) {
      if (r <= 0 || streams[k]->fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(streams[k]->fd, streams[k]->buf + streams[k]->len,
                       sizeof streams[k]->buf - streams[k]->len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) { /* EOF, or EIO from a terminal whose last writer is gone */
        flush_lines(streams[k], 1);
        close(streams[k]->fd);
        streams[k]->fd = -1;
        continue;
      }
      streams[k]->len += (size_t)n;
      flush_lines(streams[k], 0);
    }
  }
  flush_lines(&out, 1);
  flush_lines(&err, 1);
  flush_lines(&tty, 1);
  if (console_listen >= 0) {
    close(console_listen);
    unlink(console_socket);
  }
  if (!runtime_done) waitpid(child, &runtime_status, 0);
  if (container <= 0) status = runtime_status; /* the runtime failed: report its status */
  sample_oom();

  int code = 0, sig = 0;
  if (WIFSIGNALED(status)) {
    sig = WTERMSIG(status);
    code = 128 + sig;
  } else {
    code = WEXITSTATUS(status);
  }
  int oom = oom_kills_last > 0;
  char exit_text[160];
  if (sig) {
    const char *abbrev = sigabbrev_np(sig);
    snprintf(exit_text, sizeof exit_text, "{\"exit_code\":%d,\"signal\":\"SIG%s\",\"oom_killed\":%s}\n", code,
             abbrev ? abbrev : "UNKNOWN", oom ? "true" : "false");
  } else {
    snprintf(exit_text, sizeof exit_text, "{\"exit_code\":%d,\"signal\":null,\"oom_killed\":%s}\n", code,
             oom ? "true" : "false");
  }
  write_file_atomic(exit_file, exit_text);
  return 0;
}
