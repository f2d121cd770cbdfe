/*
 * pty-relay: runs `RUNTIME exec --detach --tty --console-socket SOCK --pid-file PID ...` for a
 * console session, takes the terminal's master end the runtime sends over SOCK (SCM_RIGHTS; Node
 * cannot receive fds), and relays: stdin -> terminal, terminal -> stdout. Window sizes arrive on
 * fd 3 as "ROWS COLS\n" lines. As a child subreaper it inherits the detached process and exits
 * with its status (128 + signal when killed), so the caller learns the command's exit code.
 *
 * Usage: pty-relay SOCK PIDFILE ROWS COLS -- runtime ... exec --detach --tty ...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "fd-passing.h"


static void set_size(int master, int rows, int cols) {
  if (rows <= 0 || cols <= 0) return;
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(master, TIOCSWINSZ, &ws);
}

static int write_all(int fd, const char *buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, (size_t)n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += w;
    n -= w;
  }
  return 0;
}

static int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 7 || strcmp(argv[5], "--") != 0) {
    fprintf(stderr, "usage: pty-relay SOCK PIDFILE ROWS COLS -- runtime ... exec --detach --tty ...\n");
    return 125;
  }
  const char *sock = argv[1], *pid_file = argv[2];
  int rows = atoi(argv[3]), cols = atoi(argv[4]);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock);
  unlink(sock);
  int listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listen_fd, 1) < 0) {
    fprintf(stderr, "pty-relay: console socket %s: %s\n", sock, strerror(errno));
    return 125;
  }
  pid_t runtime = fork();
  if (runtime == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    execvp(argv[6], argv + 6);
    fprintf(stderr, "pty-relay: %s: %s\n", argv[6], strerror(errno));
    _exit(127);
  }
  int master = receive_fd(listen_fd);
  close(listen_fd);
  unlink(sock);
  int status = 0;
  waitpid(runtime, &status, 0);
  if (master < 0 || status_code(status) != 0) {
    if (master < 0) fprintf(stderr, "pty-relay: the runtime did not hand over a terminal\n");
    return status_code(status) ? status_code(status) : 125;
  }
  pid_t child = -1;
  FILE *f = fopen(pid_file, "r");
  if (f) {
    if (fscanf(f, "%d", &child) != 1) child = -1;
    fclose(f);
  }
  set_size(master, rows, cols);

  char buf[16384], control[256];
  size_t control_len = 0;
  int stdin_open = 1, control_open = 1, exit_code = -1;
  for (;;) {
    struct pollfd fds[3] = {{.fd = master, .events = POLLIN},
                            {.fd = stdin_open ? 0 : -1, .events = POLLIN},
                            {.fd = control_open ? 3 : -1, .events = POLLIN}};
    int r = poll(fds, 3, exit_code >= 0 ? 100 : 500);
    if (r < 0 && errno != EINTR) break;
    if (fds[0].revents) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break; /* EIO: every process holding the terminal has gone */
      if (write_all(1, buf, n) < 0) break;
    }
    if (fds[1].revents) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) stdin_open = 0;
      else write_all(master, buf, n);
    }
    if (fds[2].revents) {
      ssize_t n = read(3, control + control_len, sizeof control - control_len - 1);
      if (n <= 0) control_open = 0;
      else {
        control_len += (size_t)n;
        control[control_len] = 0;
        char *nl;
        while ((nl = strchr(control, '\n'))) {
          int r2, c2;
          if (sscanf(control, "%d %d", &r2, &c2) == 2) set_size(master, r2, c2);
          memmove(control, nl + 1, control_len - (size_t)(nl + 1 - control) + 1);
          control_len -= (size_t)(nl + 1 - control);
        }
        if (control_len >= sizeof control - 1) control_len = 0;
      }
    }
    if (exit_code < 0 && child > 0) {
      int s;
      pid_t w = waitpid(-1, &s, WNOHANG);
      if (w == child) exit_code = status_code(s);
    } else if (exit_code >= 0 && r == 0) {
      break; /* the command is gone and its output is drained */
    }
  }
  if (exit_code < 0 && child > 0) {
    int s;
    while (waitpid(child, &s, 0) < 0 && errno == EINTR) {}
    exit_code = status_code(s);
  }
  return exit_code < 0 ? 1 : exit_code;
}
