/*
 * hello: the static HTTP/1.1 test server every end-to-end test and benchmark runs inside machines.
 * One thread per connection, keep-alive, Content-Length responses; see the routes in handle().
 * Build: gcc -O2 -static -pthread -o native/build/hello native/hello.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static atomic_long counter;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void logf_line(const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&out_lock);
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&out_lock);
}

static const char *env_or(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return v && *v ? v : fallback;
}

/* A growable byte buffer for response bodies. */
struct buf {
  char *data;
  size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->data = realloc(b->data, b->cap);
    if (!b->data) abort();
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

static void buf_printf(struct buf *b, const char *fmt, ...) {
  char tmp[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
  buf_add(b, tmp, (size_t)n);
}

/* JSON string escaping for the few values /json reports. */
static void buf_json_str(struct buf *b, const char *s) {
  buf_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf_add(b, "\\", 1);
      buf_add(b, (const char *)&c, 1);
    } else if (c < 0x20) {
      buf_printf(b, "\\u%04x", c);
    } else {
      buf_add(b, (const char *)&c, 1);
    }
  }
  buf_add(b, "\"", 1);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int respond(int fd, int status, const char *ctype, const char *body, size_t len, int keep_alive) {
  const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request";
  char head[512];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n",
                   status, reason, ctype, len, keep_alive ? "keep-alive" : "close");
  if (write_all(fd, head, (size_t)n) < 0) return -1;
  return write_all(fd, body, len);
}

static long query_long(const char *query, const char *key, long fallback) {
  if (!query) return fallback;
  size_t klen = strlen(key);
  for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
    if (strncmp(p, key, klen) == 0 && p[klen] == '=') return strtol(p + klen + 1, NULL, 10);
  }
  return fallback;
}

/* Handles one parsed request; returns 0 to keep the connection, -1 to close it. */
static int handle(int fd, const char *method, char *target, const char *headers, size_t headers_len,
                  int keep_alive) {
  char *query = strchr(target, '?');
  if (query) *query++ = 0;
  long served = atomic_fetch_add(&counter, 1) + 1;
  struct buf body = {0};
  int status = 200, exit_code = -1;
  const char *ctype = "text/plain";

  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    status = 404;
    buf_printf(&body, "not found\n");
  } else if (strcmp(target, "/") == 0) {
    buf_printf(&body, "hello from %s in %s\n", env_or("FLY_MACHINE_ID", "unknown"),
               env_or("FLY_REGION", "unknown"));
  } else if (strcmp(target, "/json") == 0) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    ctype = "application/json";
    buf_add(&body, "{\"machine_id\":", 14);
    buf_json_str(&body, env_or("FLY_MACHINE_ID", ""));
    buf_add(&body, ",\"region\":", 10);
    buf_json_str(&body, env_or("FLY_REGION", ""));
    buf_add(&body, ",\"app\":", 7);
    buf_json_str(&body, env_or("FLY_APP_NAME", ""));
    buf_add(&body, ",\"private_ip\":", 14);
    buf_json_str(&body, env_or("FLY_PRIVATE_IP", ""));
    buf_add(&body, ",\"image_ref\":", 13);
    buf_json_str(&body, env_or("FLY_IMAGE_REF", ""));
    buf_printf(&body, ",\"uid\":%d,\"gid\":%d,\"hostname\":", (int)getuid(), (int)getgid());
    buf_json_str(&body, host);
    buf_printf(&body, ",\"pid\":%d,\"counter\":%ld}\n", (int)getpid(), served);
  } else if (strcmp(target, "/env") == 0) {
    for (char **e = environ; *e; e++) buf_printf(&body, "%s\n", *e);
  } else if (strcmp(target, "/headers") == 0) {
    buf_add(&body, headers, headers_len);
  } else if (strcmp(target, "/exit") == 0) {
    exit_code = (int)query_long(query, "code", 0);
    buf_printf(&body, "exiting with %d\n", exit_code);
  } else if (strcmp(target, "/sleep") == 0) {
    long ms = query_long(query, "ms", 0);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    buf_printf(&body, "slept %ld ms\n", ms);
  } else {
    status = 404;
    buf_printf(&body, "not found\n");
  }

  if (query) query[-1] = '?';
  logf_line("hello: %s %s %d", method, target, status);
  int rc = respond(fd, status, ctype, body.data ? body.data : "", strcmp(method, "HEAD") == 0 ? 0 : body.len,
                   keep_alive && exit_code < 0);
  free(body.data);
  if (exit_code >= 0) {
    logf_line("hello: exiting with %d", exit_code);
    exit(exit_code);
  }
  return rc < 0 || !keep_alive ? -1 : 0;
}

static void *serve_connection(void *arg) {
  int fd = (int)(long)arg;
  size_t cap = 65536, len = 0;
  char *req = malloc(cap);
  if (!req) abort();
  for (;;) {
    char *end = len ? memmem(req, len, "\r\n\r\n", 4) : NULL;
    if (!end) {
      if (len == cap) break; /* headers too large: give up on this connection */
      ssize_t r = recv(fd, req + len, cap - len, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      len += (size_t)r;
      continue;
    }
    size_t head_len = (size_t)(end - req) + 4;
    char *line_end = memmem(req, head_len, "\r\n", 2);
    *line_end = 0;
    char method[16] = "", target[2048] = "", version[16] = "";
    if (sscanf(req, "%15s %2047s %15s", method, target, version) != 3) break;
    const char *headers = line_end + 2;
    size_t headers_len = head_len - (size_t)(headers - req) - 2;
    int keep_alive = strcmp(version, "HTTP/1.1") == 0;
    size_t body_len = 0;
    char *h = strndup(headers, headers_len), *save = NULL;
    for (char *line = strtok_r(h, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
      if (strncasecmp(line, "connection:", 11) == 0) {
        if (strcasestr(line + 11, "close")) keep_alive = 0;
        if (strcasestr(line + 11, "keep-alive")) keep_alive = 1;
      } else if (strncasecmp(line, "content-length:", 15) == 0) {
        body_len = (size_t)strtoull(line + 15, NULL, 10);
      } else if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
        keep_alive = 0; /* chunked bodies are not parsed: answer, then close */
      }
    }
    free(h);
    int rc = handle(fd, method, target, headers, headers_len, keep_alive);
    memmove(req, req + head_len, len - head_len);
    len -= head_len;
    /* No route reads a body, but it must be skipped to find the next request on the connection. */
    while (rc == 0 && body_len > 0) {
      if (len > 0) {
        size_t take = body_len < len ? body_len : len;
        memmove(req, req + take, len - take);
        len -= take;
        body_len -= take;
        continue;
      }
      ssize_t r = recv(fd, req, cap, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) rc = -1;
      else len = (size_t)r;
    }
    if (rc < 0) break;
  }
  free(req);
  close(fd);
  return NULL;
}

static void on_sigterm(int sig) {
  (void)sig;
  static const char msg[] = "hello: SIGTERM, bye\n";
  fflush(stdout);
  if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) {
  }
  _exit(0);
}

/* Looks NAME up in /etc/passwd itself (static glibc cannot load NSS modules reliably). */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid) {
  FILE *f = fopen("/etc/passwd", "r");
  if (!f) return -1;
  char line[1024];
  int found = -1;
  while (fgets(line, sizeof line, f)) {
    char *save, *user = strtok_r(line, ":", &save);
    strtok_r(NULL, ":", &save);
    char *u = strtok_r(NULL, ":", &save), *g = strtok_r(NULL, ":", &save);
    if (user && u && g && strcmp(user, name) == 0) {
      *uid = (uid_t)atoi(u);
      *gid = (gid_t)atoi(g);
      found = 0;
      break;
    }
  }
  fclose(f);
  return found;
}

int main(int argc, char **argv) {
  const char *user = NULL;
  int no_listen = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
      user = argv[++i];
    } else if (strcmp(argv[i], "--fail") == 0) {
      fprintf(stderr, "hello: failing on purpose (--fail)\n");
      return 3;
    } else if (strcmp(argv[i], "--no-listen") == 0) {
      no_listen = 1;
    }
  }
  signal(SIGTERM, on_sigterm);
  signal(SIGPIPE, SIG_IGN);
  int port = atoi(env_or("PORT", "8080"));
  const char *machine = env_or("FLY_MACHINE_ID", "unknown");

  if (no_listen) {
    logf_line("hello: not listening (--no-listen) uid=%d machine=%s", (int)getuid(), machine);
    for (;;) pause();
  }

  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) {
    perror("hello: socket");
    return 1;
  }
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  struct sockaddr_in6 addr = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                              .sin6_addr = in6addr_any};
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1024) < 0) {
    fprintf(stderr, "hello: cannot listen on :%d: %s\n", port, strerror(errno));
    return 1;
  }

  if (user) {
    uid_t uid;
    gid_t gid;
    if (lookup_user(user, &uid, &gid) < 0) {
      fprintf(stderr, "hello: user '%s' is not in /etc/passwd\n", user);
      return 1;
    }
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
      fprintf(stderr, "hello: cannot switch to user '%s': %s\n", user, strerror(errno));
      return 1;
    }
  }
  logf_line("hello: listening on :%d uid=%d machine=%s", port, (int)getuid(), machine);

  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      perror("hello: accept");
      return 1;
    }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&t, &attr, serve_connection, (void *)(long)c) != 0) close(c);
    pthread_attr_destroy(&attr);
  }
}
