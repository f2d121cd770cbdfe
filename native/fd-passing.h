/*
 * Receiving a file descriptor over a unix socket (SCM_RIGHTS): how an OCI runtime hands over the
 * master end of a terminal it made (`--console-socket`). Shared by the shim and pty-relay.
 */
#ifndef NEARBY_FD_PASSING_H
#define NEARBY_FD_PASSING_H
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Accepts the runtime's connection on the console socket and takes the fd it sends. */
static int receive_fd(int listen_fd) {
  int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  char data[256];
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  int fd = -1;
  if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) >= 0) {
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  }
  close(conn);
  return fd;
}

#endif
