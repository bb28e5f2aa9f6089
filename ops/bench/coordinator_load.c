/*
 * HTTPS load for the coordinator benchmark (ops/bench/coordinator.py builds and runs it).
 *
 * One thread, epoll, OpenSSL, HTTP/1.1 keep-alive connections to the coordinator's API.
 *
 *   coordinator_load assign --first A --count N --tenants T --conns C [--budget SECONDS]
 *       POST /v1/users for users A..A+N-1, closed loop: each connection sends the next user
 *       as soon as its previous answer is in. With --budget, no new user is started after
 *       that many seconds; every user below "next" in the result has been answered.
 *   coordinator_load route --users N --tenants T --conns C --duration S [--rate R] [--warmup W]
 *       GET /v1/users/{user}/route of uniformly random existing users. With --rate R (per
 *       second), open loop: request k is due at start + k/R whatever the answers do, waits
 *       for a free connection if none is, and its latency is counted from when it was due
 *       (so a stall shows in the percentiles instead of slowing the sender). Without --rate,
 *       closed loop (maximum throughput). Answers in the first W seconds are not counted.
 *
 * Common: --port P (on 127.0.0.1) --ca FILE --server-name NAME --token-file FILE.
 * User i is "u%07d@t%d.example.com" of tenant "t%d" with the tenant number i % T.
 * Prints one JSON object on standard output; exits 1 on a usage or connection error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { MODE_ASSIGN, MODE_ROUTE };

typedef struct {
    int fd;
    SSL *ssl;
    int busy;
    int64_t started_ns; /* when the answered request was due (open loop) or sent */
    char out[1024];
    int out_len, out_sent;
    char in[65536];
    int in_len;
} Conn;

static struct {
    int mode, port, conns, tenants;
    long first, count, users;
    double rate, duration, warmup, budget;
    const char *ca, *server_name;
    char token[512];
} opt = {.port = 0, .conns = 32, .tenants = 1, .duration = 30, .warmup = 0, .budget = 0};

static SSL_CTX *ctx;
static int64_t *lat; /* latencies in ns of counted answers */
static long lat_len, lat_cap;
static long status_2xx_new, status_2xx_ok, errors, other_status[6];
static char first_error[512];
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static void die(const char *what) {
    fprintf(stderr, "coordinator_load: %s: %s\n", what, errno ? strerror(errno) : "failed");
    ERR_print_errors_fp(stderr);
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void conn_open(Conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) die("socket");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(opt.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect to the coordinator");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = SSL_new(ctx);
    struct in_addr literal;
    if (inet_pton(AF_INET, opt.server_name, &literal) == 1) {
        /* An address is checked against the certificate's IP addresses, and sent no SNI. */
        if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), opt.server_name)) die("the server address");
    } else {
        SSL_set_tlsext_host_name(c->ssl, opt.server_name);
        if (!SSL_set1_host(c->ssl, opt.server_name)) die("SSL_set1_host");
    }
    SSL_set_fd(c->ssl, c->fd);
    /* The handshake blocks; the socket becomes non-blocking afterwards. */
    if (SSL_connect(c->ssl) != 1) die("TLS handshake with the coordinator");
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0) die("non-blocking");
    c->busy = 0;
    c->in_len = 0;
}

static void conn_close(Conn *c) {
    SSL_free(c->ssl);
    close(c->fd);
}

static void user_name(long i, char *out, size_t size, int *tenant) {
    *tenant = (int)(i % opt.tenants);
    snprintf(out, size, "u%07ld@t%d.example.com", i, *tenant);
}

static void build_request(Conn *c, long user) {
    char name[128];
    int tenant;
    user_name(user, name, sizeof name, &tenant);
    if (opt.mode == MODE_ASSIGN) {
        char body[256];
        int body_len = snprintf(body, sizeof body, "{\"name\":\"%s\",\"tenant\":\"t%d\"}", name, tenant);
        c->out_len = snprintf(c->out, sizeof c->out,
                              "POST /v1/users HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                              "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                              opt.server_name, opt.token, body_len, body);
    } else {
        c->out_len = snprintf(c->out, sizeof c->out,
                              "GET /v1/users/%s/route HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", name,
                              opt.server_name, opt.token);
    }
    c->out_sent = 0;
}

/* Writes what is left of the request; returns -1 when the connection failed. */
static int conn_flush(Conn *c) {
    while (c->out_sent < c->out_len) {
        int n = SSL_write(c->ssl, c->out + c->out_sent, c->out_len - c->out_sent);
        if (n > 0) {
            c->out_sent += n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 0;
        return -1;
    }
    return 0;
}

/* The length of a whole response at the start of the buffer, 0 if not all in yet, -1 if bad. */
static int response_length(Conn *c, int *status) {
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return c->in_len >= (int)sizeof c->in ? -1 : 0;
    int header_len = (int)(end - c->in) + 4;
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.1 ", 9) != 0) return -1;
    *status = atoi(c->in + 9);
    long body = -1;
    for (char *line = memmem(c->in, header_len, "\r\n", 2); line && line < end; line = memmem(line + 2, end - line, "\r\n", 2)) {
        if (strncasecmp(line + 2, "content-length:", 15) == 0) body = atol(line + 17);
    }
    if (body < 0 || header_len + body > (long)sizeof c->in) return -1;
    return c->in_len >= header_len + body ? header_len + (int)body : 0;
}

static void record(int status, const char *body, int body_len, int64_t latency, int counted) {
    if (status == 201) status_2xx_new++;
    else if (status >= 200 && status < 300) status_2xx_ok++;
    else {
        errors++;
        if (status / 100 < 6) other_status[status / 100]++;
        if (!first_error[0]) snprintf(first_error, sizeof first_error, "HTTP %d %.*s", status, body_len > 300 ? 300 : body_len, body);
    }
    if (counted) {
        if (lat_len == lat_cap) {
            lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
            lat = realloc(lat, lat_cap * sizeof *lat);
            if (!lat) die("memory");
        }
        lat[lat_len++] = latency;
    }
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p) {
    if (!lat_len) return 0;
    long i = (long)(p / 100.0 * lat_len);
    if (i >= lat_len) i = lat_len - 1;
    return lat[i] / 1e6;
}

static void usage(void) {
    fprintf(stderr, "usage: coordinator_load assign|route --port P --ca FILE --server-name NAME --token-file FILE "
                    "[--conns C] [--tenants T] [--first A --count N --budget S] [--users N --rate R --duration S --warmup W]\n");
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    if (strcmp(argv[1], "assign") == 0) opt.mode = MODE_ASSIGN;
    else if (strcmp(argv[1], "route") == 0) opt.mode = MODE_ROUTE;
    else usage();
    const char *token_file = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) opt.port = atoi(v);
        else if (!strcmp(k, "--ca")) opt.ca = v;
        else if (!strcmp(k, "--server-name")) opt.server_name = v;
        else if (!strcmp(k, "--token-file")) token_file = v;
        else if (!strcmp(k, "--conns")) opt.conns = atoi(v);
        else if (!strcmp(k, "--tenants")) opt.tenants = atoi(v);
        else if (!strcmp(k, "--first")) opt.first = atol(v);
        else if (!strcmp(k, "--count")) opt.count = atol(v);
        else if (!strcmp(k, "--users")) opt.users = atol(v);
        else if (!strcmp(k, "--rate")) opt.rate = atof(v);
        else if (!strcmp(k, "--duration")) opt.duration = atof(v);
        else if (!strcmp(k, "--warmup")) opt.warmup = atof(v);
        else if (!strcmp(k, "--budget")) opt.budget = atof(v);
        else if (!strcmp(k, "--seed")) rng ^= strtoull(v, NULL, 10) * 0x2545F4914F6CDD1DULL;
        else {
            fprintf(stderr, "coordinator_load: unknown option %s\n", k);
            usage();
        }
    }
    if (!opt.port || !opt.ca || !opt.server_name || !token_file || opt.conns < 1 || opt.tenants < 1) usage();
    if (opt.mode == MODE_ASSIGN && opt.count < 1) usage();
    if (opt.mode == MODE_ROUTE && opt.users < 1) usage();
    FILE *tf = fopen(token_file, "r");
    if (!tf || !fgets(opt.token, sizeof opt.token, tf)) die("reading the token file");
    fclose(tf);
    opt.token[strcspn(opt.token, "\r\n")] = 0;

    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_load_verify_locations(ctx, opt.ca, NULL) != 1) die("loading the CA file");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    int ep = epoll_create1(0);
    Conn *conns = calloc(opt.conns, sizeof *conns);
    for (int i = 0; i < opt.conns; i++) {
        conn_open(&conns[i]);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0) die("epoll_ctl");
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

    int64_t start = now_ns();
    int64_t end = start + (int64_t)((opt.warmup + opt.duration) * 1e9);
    int64_t count_from = start + (int64_t)(opt.warmup * 1e9);
    int64_t stop_assigning = opt.budget > 0 ? start + (int64_t)(opt.budget * 1e9) : INT64_MAX;
    int64_t interval = opt.rate > 0 ? (int64_t)(1e9 / opt.rate) : 0;
    long next_user = opt.first, last_user = opt.first + opt.count;
    long scheduled = 0, sent = 0, answered = 0;
    /* Requests due but not yet sent (open loop): their due times, oldest first. */
    long queue_cap = 1 << 22, queue_head = 0, queue_len = 0;
    int64_t *queue = opt.rate > 0 ? malloc(queue_cap * sizeof *queue) : NULL;
    long max_queued = 0, unsent = 0;
    int in_flight = 0;

    for (;;) {
        int64_t now = now_ns();
        int sending = opt.mode == MODE_ASSIGN ? (next_user < last_user && now < stop_assigning) : now < end;
        if (opt.mode == MODE_ROUTE && interval) {
            while (sending && start + scheduled * interval <= now) {
                if (queue_len == queue_cap) die("the open-loop queue overflowed (the coordinator fell far behind)");
                queue[(queue_head + queue_len++) % queue_cap] = start + scheduled * interval;
                scheduled++;
            }
            if (queue_len > max_queued) max_queued = queue_len;
        }
        for (int i = 0; i < opt.conns; i++) {
            Conn *c = &conns[i];
            if (c->busy) continue;
            int64_t due;
            long user;
            if (opt.mode == MODE_ASSIGN) {
                if (!(next_user < last_user && now < stop_assigning)) break;
                user = next_user++;
                due = now;
            } else if (interval) {
                if (!queue_len) break;
                due = queue[queue_head];
                queue_head = (queue_head + 1) % queue_cap;
                queue_len--;
                user = (long)(next_random() % (uint64_t)opt.users);
            } else {
                if (!sending) break;
                due = now;
                user = (long)(next_random() % (uint64_t)opt.users);
            }
            build_request(c, user);
            c->busy = 1;
            c->started_ns = due;
            in_flight++;
            sent++;
            if (conn_flush(c) < 0) die("sending a request");
        }
        if (opt.mode == MODE_ROUTE && now >= end && queue_len) {
            /* Lookups still waiting for a connection when the run ends were never sent: the
               coordinator did not keep up. They are counted, not waited for. */
            unsent += queue_len;
            queue_len = 0;
        }
        if (!in_flight && !(opt.mode == MODE_ASSIGN ? (next_user < last_user && now < stop_assigning) : now < end)) break;
        if (interval && sending) {
            struct itimerspec its = {0};
            int64_t due = start + scheduled * interval;
            its.it_value.tv_sec = due / 1000000000LL;
            its.it_value.tv_nsec = due % 1000000000LL;
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        struct epoll_event events[256];
        int n = epoll_wait(ep, events, 256, interval ? -1 : 100);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int e = 0; e < n; e++) {
            if (events[e].data.u32 == UINT32_MAX) {
                uint64_t expirations;
                ssize_t r = read(tfd, &expirations, sizeof expirations);
                (void)r;
                continue;
            }
            Conn *c = &conns[events[e].data.u32];
            if (c->busy && conn_flush(c) < 0) die("sending a request");
            for (;;) {
                int r = SSL_read(c->ssl, c->in + c->in_len, (int)sizeof c->in - c->in_len);
                if (r <= 0) {
                    int err = SSL_get_error(c->ssl, r);
                    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
                    errno = 0;
                    die("the coordinator closed a keep-alive connection");
                }
                c->in_len += r;
                int status = 0;
                int len;
                while ((len = response_length(c, &status)) > 0) {
                    if (!c->busy) die("an answer to no request");
                    int64_t done = now_ns();
                    char *body = memmem(c->in, len, "\r\n\r\n", 4) + 4;
                    record(status, body, (int)(c->in + len - body), done - c->started_ns, done >= count_from);
                    answered++;
                    c->busy = 0;
                    in_flight--;
                    memmove(c->in, c->in + len, c->in_len - len);
                    c->in_len -= len;
                }
                if (len < 0) {
                    errno = 0;
                    die("an answer that is not HTTP/1.1 with a Content-Length");
                }
            }
        }
    }
    int64_t finished = now_ns();
    /* The open-loop rate is what was answered within the run's window. */
    double counted_seconds = opt.mode == MODE_ROUTE ? ((interval ? end : finished) - count_from) / 1e9 : (finished - start) / 1e9;
    qsort(lat, lat_len, sizeof *lat, cmp64);
    double mean = 0;
    for (long i = 0; i < lat_len; i++) mean += lat[i] / 1e6;
    if (lat_len) mean /= lat_len;
    printf("{\"mode\":\"%s\",\"conns\":%d,\"rate\":%.0f,\"sent\":%ld,\"answered\":%ld,\"counted\":%ld,"
           "\"seconds\":%.3f,\"per_second\":%.1f,\"created\":%ld,\"ok\":%ld,\"errors\":%ld,"
           "\"status_4xx\":%ld,\"status_5xx\":%ld,\"next\":%ld,\"max_queued\":%ld,\"unsent\":%ld,"
           "\"ms\":{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
           "\"first_error\":\"",
           opt.mode == MODE_ASSIGN ? "assign" : "route", opt.conns, opt.rate, sent, answered, lat_len, counted_seconds,
           lat_len / counted_seconds, status_2xx_new, status_2xx_ok, errors, other_status[4], other_status[5], next_user,
           max_queued, unsent, mean, pct(50), pct(90), pct(99), pct(99.9), lat_len ? lat[lat_len - 1] / 1e6 : 0.0);
    for (const char *p = first_error; *p; p++) {
        if (*p == '"' || *p == '\\') putchar('\\');
        putchar((unsigned char)*p < 0x20 ? ' ' : *p);
    }
    printf("\"}\n");
    for (int i = 0; i < opt.conns; i++) conn_close(&conns[i]);
    return 0;
}
