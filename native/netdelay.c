/*
 * netdelay: a fixed delay per NFQUEUE queue, for the world's links between cities (this kernel
 * has no netem). Packets a netfilter rule sends to queue N are held for N's delay, then accepted,
 * in the order they came. One process serves every queue it is given, in the network namespace
 * it runs in.
 *
 *   netdelay QUEUE:DELAY_US [QUEUE:DELAY_US ...]
 *
 * e.g. `ip netns exec nb-syd netdelay 10:113000` with
 * `nft add rule inet nearby_world post ip daddr 10.90.1.0/24 queue num 10 bypass`
 * delays every packet from syd to that network by 113 ms (half the round trip: the other side
 * delays its packets back the same). Prints "ready" once every queue is bound; SIGTERM lets
 * every held packet go and exits.
 * Build: gcc -O2 -o native/build/netdelay native/netdelay.c -lnetfilter_queue -lnfnetlink
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_QUEUES 64
/* Packets held per queue: a ring; at a full ring the oldest goes early rather than being lost. */
#define RING 65536

struct held {
  uint32_t id;
  uint64_t due_ns;
};

struct queue {
  uint16_t num;
  uint64_t delay_ns;
  struct nfq_q_handle *handle;
  struct held ring[RING];
  size_t head, count;
};

static struct queue queues[MAX_QUEUES];
static size_t queue_count;
static volatile sig_atomic_t stopping;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void release(struct queue *q) {
  struct held *h = &q->ring[q->head];
  nfq_set_verdict(q->handle, h->id, NF_ACCEPT, 0, NULL);
  q->head = (q->head + 1) % RING;
  q->count--;
}

static int on_packet(struct nfq_q_handle *handle, struct nfgenmsg *msg, struct nfq_data *data, void *arg) {
  (void)handle;
  (void)msg;
  struct queue *q = arg;
  struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(data);
  if (header == NULL) return 0;
  if (q->count == RING) release(q);
  struct held *h = &q->ring[(q->head + q->count) % RING];
  h->id = ntohl(header->packet_id);
  h->due_ns = now_ns() + q->delay_ns;
  q->count++;
  return 0;
}

/* Lets every packet whose time has come go; returns when the next one is due (0: none held). */
static uint64_t release_due(uint64_t now) {
  uint64_t next = 0;
  for (size_t i = 0; i < queue_count; i++) {
    struct queue *q = &queues[i];
    while (q->count > 0 && q->ring[q->head].due_ns <= now) release(q);
    if (q->count > 0 && (next == 0 || q->ring[q->head].due_ns < next)) next = q->ring[q->head].due_ns;
  }
  return next;
}

static void arm(int timer, uint64_t due) {
  struct itimerspec spec = {0};
  if (due != 0) {
    spec.it_value.tv_sec = (time_t)(due / 1000000000ull);
    spec.it_value.tv_nsec = (long)(due % 1000000000ull);
  }
  timerfd_settime(timer, TFD_TIMER_ABSTIME, &spec, NULL);
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int usage(const char *why) {
  fprintf(stderr, "netdelay: %s\nusage: netdelay QUEUE:DELAY_US [QUEUE:DELAY_US ...]\n", why);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage("give at least one QUEUE:DELAY_US");
  if (argc - 1 > MAX_QUEUES) return usage("too many queues");
  struct nfq_handle *h = nfq_open();
  if (h == NULL) {
    perror("netdelay: nfq_open (needs CAP_NET_ADMIN)");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    unsigned num;
    unsigned long long delay_us;
    char extra;
    if (sscanf(argv[i], "%u:%llu%c", &num, &delay_us, &extra) != 2 || num > 65535)
      return usage("each argument is QUEUE:DELAY_US, e.g. 10:113000");
    struct queue *q = &queues[queue_count++];
    q->num = (uint16_t)num;
    q->delay_ns = delay_us * 1000ull;
    q->handle = nfq_create_queue(h, q->num, on_packet, q);
    if (q->handle == NULL) {
      fprintf(stderr, "netdelay: cannot bind queue %u (another program holds it?)\n", num);
      return 1;
    }
    /* The packet id is all it needs; GSO packets stay whole (no segmentation in the kernel). */
    nfq_set_mode(q->handle, NFQNL_COPY_META, 0);
    nfq_set_queue_maxlen(q->handle, RING);
    nfq_set_queue_flags(q->handle, NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN);
  }
  int fd = nfq_fd(h);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 16 * 1024 * 1024);
  int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  int poller = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(poller, EPOLL_CTL_ADD, fd, &event);
  event.data.fd = timer;
  epoll_ctl(poller, EPOLL_CTL_ADD, timer, &event);
  /* Held packets must leave on time while the host is busy: real-time priority when allowed. */
  struct sched_param priority = {.sched_priority = 20};
  if (sched_setscheduler(0, SCHED_FIFO, &priority) != 0) perror("netdelay: no real-time priority (delays may stretch under load)");
  struct sigaction action = {.sa_handler = on_signal};
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  printf("ready\n");
  fflush(stdout);

  char buf[65536] __attribute__((aligned));
  while (!stopping) {
    struct epoll_event ready[2];
    int n = epoll_wait(poller, ready, 2, -1);
    if (n < 0 && errno != EINTR) {
      perror("netdelay: epoll_wait");
      break;
    }
    for (int i = 0; i < n; i++) {
      if (ready[i].data.fd == timer) {
        uint64_t ticks;
        if (read(timer, &ticks, sizeof ticks) < 0 && errno != EAGAIN) perror("netdelay: timer");
        continue;
      }
      for (;;) {
        ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got < 0) {
          /* ENOBUFS: the kernel dropped messages it could not deliver; the queue goes on. */
          if (errno == ENOBUFS) continue;
          break;
        }
        nfq_handle_packet(h, buf, (int)got);
      }
    }
    arm(timer, release_due(now_ns()));
  }
  for (size_t i = 0; i < queue_count; i++) {
    while (queues[i].count > 0) release(&queues[i]);
    nfq_destroy_queue(queues[i].handle);
  }
  nfq_close(h);
  return 0;
}
