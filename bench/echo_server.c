/* A kernel TCP echo server (RFC 862) for the benchmarks: one thread, epoll, non-blocking
 * sockets, TCP_NODELAY. It is the kernel's side of the connection-rate comparison in
 * bench/compare.sh, written to cost as little as a server can in user space.
 * Usage: echo_server IP PORT SECONDS (it exits after SECONDS); IP may be IPv4 or IPv6. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: echo_server IP PORT SECONDS\n");
        return 2;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[2]))};
    int v6 = inet_pton(AF_INET6, argv[1], &a6.sin6_addr) == 1;
    int ls = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int bad = v6 ? bind(ls, (void *)&a6, sizeof a6)
                 : inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || bind(ls, (void *)&a, sizeof a);
    if (bad || listen(ls, 4096)) {
        perror("echo_server");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    time_t end = time(NULL) + atoi(argv[3]);
    static char buf[65536];
    struct epoll_event evs[256];
    while (time(NULL) < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            for (;;) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r > 0) {
                    /* Small requests: the reply fits the socket buffer; a short write
                     * would be a benchmark bug, so it ends the connection. */
                    if (write(fd, buf, r) != r) {
                        close(fd);
                        break;
                    }
                    continue;
                }
                if (r == 0 || errno != EAGAIN) {
                    close(fd);
                }
                break;
            }
        }
    }
    return 0;
}
