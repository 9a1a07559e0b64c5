/* Holds many idle keep-alive connections open to a server on 127.0.0.1, for
 * the connections benchmark. Each connection sends one GET /healthz and
 * reads the response, so the server has served a request on it and keeps
 * it alive, and then stays silent.
 *
 * Usage: idle_conns PORT COUNT MAX_SECONDS
 *
 * Prints "ready OPEN FAILED MILLISECONDS" once every connection has its
 * response or has failed. Then it reads commands from standard input:
 * "check" prints "open N", the number of connections the server has not
 * closed, and end of input closes them all and exits. SIGALRM ends the
 * program after MAX_SECONDS whatever it is doing. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Connections being opened or waiting for their response at one time; the
 * server's listen backlog is 1024. */
#define IN_FLIGHT 512
#define RESPONSE_MAX 1024

static const char request[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

typedef enum conn_state { CONN_CONNECTING, CONN_READING, CONN_IDLE, CONN_FAILED } conn_state;

typedef struct conn {
    int fd;
    conn_state state;
    size_t received;
    char response[RESPONSE_MAX];
} conn;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts a non-blocking connect; returns 0 or -1 with errno set. */
static int start_connect(conn *c, const struct sockaddr_in *addr, int epoll_fd) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 &&
        errno != EINPROGRESS)
        return -1;
    c->state = CONN_CONNECTING;
    struct epoll_event event = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &event);
}

/* Returns 1 when the response in c is complete with status 200, 0 while it
 * is incomplete, -1 when it is not a 200 or does not fit. */
static int response_complete(const conn *c) {
    const char *end = memmem(c->response, c->received, "\r\n\r\n", 4);
    if (!end) return c->received == RESPONSE_MAX ? -1 : 0;
    if (c->received < 12 || memcmp(c->response + 9, "200", 3) != 0) return -1;

    size_t head_len = (size_t)(end - c->response) + 4;
    size_t body_len = 0;
    const char *length = memmem(c->response, head_len, "Content-Length:", 15);
    if (!length) length = memmem(c->response, head_len, "content-length:", 15);
    if (length) body_len = strtoul(length + 15, NULL, 10);
    return c->received >= head_len + body_len ? 1 : 0;
}

/* Advances one connection after epoll reported it; returns 1 when it left
 * the in-flight set (idle or failed). */
static int advance(conn *c, uint32_t events, int epoll_fd) {
    if (c->state == CONN_CONNECTING) {
        int error = 0;
        socklen_t len = sizeof(error);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0 || (events & (EPOLLERR | EPOLLHUP))) goto fail;
        if (send(c->fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(request) - 1)
            goto fail;
        c->state = CONN_READING;
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &event);
        return 0;
    }

    ssize_t n = recv(c->fd, c->response + c->received, RESPONSE_MAX - c->received, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) goto fail;
    c->received += (size_t)n;
    int complete = response_complete(c);
    if (complete == 0) return 0;
    if (complete < 0) goto fail;
    c->state = CONN_IDLE;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    return 1;

fail:
    c->state = CONN_FAILED;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    return 1;
}

/* Opens count connections, at most IN_FLIGHT at a time; returns how many
 * are idle. */
static size_t open_all(conn *conns, size_t count, const struct sockaddr_in *addr) {
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event events[256];
    size_t started = 0, finished = 0, idle = 0;

    while (finished < count) {
        while (started < count && started - finished < IN_FLIGHT) {
            conn *c = &conns[started++];
            if (start_connect(c, addr, epoll_fd) != 0) {
                if (c->fd >= 0) close(c->fd);
                c->fd = -1;
                c->state = CONN_FAILED;
                finished++;
            }
        }
        int ready = epoll_wait(epoll_fd, events, 256, 1000);
        for (int i = 0; i < ready; i++)
            finished += (size_t)advance(events[i].data.ptr, events[i].events, epoll_fd);
    }
    close(epoll_fd);

    for (size_t i = 0; i < count; i++)
        if (conns[i].state == CONN_IDLE) idle++;
    return idle;
}

/* Counts the idle connections that the server has not closed. */
static size_t count_open(const conn *conns, size_t count) {
    struct pollfd *fds = calloc(count, sizeof(*fds));
    size_t open_count = 0;
    if (!fds) return 0;
    for (size_t i = 0; i < count; i++) {
        fds[i].fd = conns[i].state == CONN_IDLE ? conns[i].fd : -1;
        fds[i].events = POLLIN | POLLRDHUP;
    }
    poll(fds, count, 0);
    for (size_t i = 0; i < count; i++) {
        if (fds[i].fd < 0) continue;
        if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) continue;
        char byte;
        if ((fds[i].revents & POLLIN) && recv(fds[i].fd, &byte, 1, MSG_PEEK) <= 0) continue;
        open_count++;
    }
    free(fds);
    return open_count;
}

/* Raises the soft limit of open files to the hard limit; returns the new
 * soft limit. */
static rlim_t raise_file_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "Usage: idle_conns PORT COUNT MAX_SECONDS\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long count = atol(argv[2]);
    int max_seconds = atoi(argv[3]);
    if (port <= 0 || port > 65535 || count <= 0 || max_seconds <= 0) {
        fprintf(stderr, "idle_conns: invalid PORT, COUNT or MAX_SECONDS\n");
        return 2;
    }
    alarm((unsigned)max_seconds);

    rlim_t limit = raise_file_limit();
    if (limit < (rlim_t)count + 16) {
        fprintf(stderr, "idle_conns: the open file limit is %llu, too low for %ld connections; "
                        "raise it with ulimit -n\n", (unsigned long long)limit, count);
        return 1;
    }

    conn *conns = calloc((size_t)count, sizeof(*conns));
    if (!conns) {
        fprintf(stderr, "idle_conns: out of memory\n");
        return 1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);

    int64_t start = now_ms();
    size_t idle = open_all(conns, (size_t)count, &addr);
    printf("ready %zu %zu %lld\n", idle, (size_t)count - idle, (long long)(now_ms() - start));
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "check", 5) == 0) {
            printf("open %zu\n", count_open(conns, (size_t)count));
            fflush(stdout);
        }
    }

    for (long i = 0; i < count; i++)
        if (conns[i].fd >= 0 && conns[i].state == CONN_IDLE) close(conns[i].fd);
    free(conns);
    return 0;
}
