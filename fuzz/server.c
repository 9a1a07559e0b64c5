/* Fuzz target: the whole request path in one process. The real server
 * (ei_server_start) runs on 127.0.0.1 with a kernel-chosen port, the
 * embedded log and the registry in a temporary folder, and authentication
 * off. The registry has a JSON Schema for events of type SCHEMA_TYPE, and
 * other types are accepted without one. Every input becomes one HTTP
 * request sent over a loopback connection.
 *
 * Input layout:
 *
 *   METHOD TARGET[ chunked]\n    the request line; " chunked" at its end
 *                                sends the body with chunked encoding
 *   name: value\n                headers, passed on as they are
 *   \n                           an empty line ends the headers
 *   body                         the rest of the input
 *
 * The harness adds Host, Content-Length (or Transfer-Encoding) and
 * Connection: close itself and drops those headers from the input, with
 * any continuation lines of theirs, so the request's framing is always
 * right; carriage returns in the input are dropped for the same reason.
 * Everything else reaches libmicrohttpd and then our handlers unchanged.
 *
 * Checked for every request: an HTTP/1.x response arrives within
 * RESPONSE_TIMEOUT_MS, its status is one this server or libmicrohttpd may
 * send (never 500, and never 401, 403 or 503 with authentication off and
 * a healthy log), and a JSON body parses. A problem document is an object
 * whose status member is the response's status. Four requests may get
 * no response instead:
 *   - a request line without a method or target;
 *   - a chunked body past twice its limit;
 *   - a head that leaves libmicrohttpd too little of the connection's
 *     memory for any response head (the server rejects such heads, so
 *     nothing is stored);
 *   - a head with a NUL byte, which HTTP forbids. After an
 *     "Expect: 100-continue", libmicrohttpd 0.9.75 cannot queue the
 *     response to such a head. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backbone/elog.h"
#include "config/config.h"
#include "fuzz.h"
#include "http/server.h"
#include "json/json.h"
#include "registry/registry.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define RESPONSE_TIMEOUT_MS 10000

/* The registered type and its schema; fuzz/build-corpus.mjs has seeds
 * with events of this type. */
#define SCHEMA_TYPE "fuzz.schema.v1"
#define SCHEMA_TEXT                                                                   \
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\"," \
    "\"required\":[\"n\"],\"properties\":{\"n\":{\"type\":\"integer\",\"maximum\":10},"  \
    "\"s\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":8},"             \
    "\"t\":{\"type\":\"string\",\"format\":\"date-time\"}},\"additionalProperties\":false}"

static ei_config config;
static ei_backbone *backbone;
static ei_registry *registry;
static ei_server *server;
static char data_dir[256];

/* Removes the log's files (the folder is flat) and the folder. */
static void remove_data_dir(void) {
    DIR *dir = opendir(data_dir);
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", data_dir, entry->d_name);
        unlink(path);
    }
    closedir(dir);
    rmdir(data_dir);
}

/* Stops the server as `event-issuer serve` does on SIGTERM, so that leak
 * checks at exit see everything freed. */
static void stop_server(void) {
    if (!server) return;
    ei_server_quiesce(server);
    ei_server_wait_idle(server, 5000);
    ei_backbone_close(backbone);
    ei_server_wait_idle(server, 1000);
    ei_server_stop(server);
    server = NULL;
    ei_registry_close(registry);
    ei_config_free(&config);
    remove_data_dir();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;

    /* /dev/shm keeps the log's syncs cheap, else TMPDIR. */
    const char *parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(data_dir, sizeof(data_dir), "%s/event-issuer-fuzz-XXXXXX", parent ? parent : "/tmp");
    FUZZ_CHECK(mkdtemp(data_dir) != NULL, "cannot create %s", data_dir);

    /* Small limits, so that inputs of a few kilobytes reach the 413 paths. */
    char *options[] = {
        "--listen", "127.0.0.1:0", "--data", data_dir, "--insecure-no-auth",
        "--log-level", "error", "--threads", "2", "--connection-timeout", "30",
        "--max-event-bytes", "4096", "--max-batch-bytes", "8192", "--max-batch-events", "16",
        "--require-registered-types=false",
    };
    bool help = false;
    int option_count = (int)(sizeof(options) / sizeof(options[0]));
    FUZZ_CHECK(ei_config_load(&config, option_count, options, &help, stderr) == 0,
               "the server options were rejected");
    ei_log_threshold = EI_LOG_ERROR;

    char err[512];
    ei_elog_options log_options = {.data_dir = data_dir};
    FUZZ_CHECK(ei_elog_open(&log_options, &backbone, err, sizeof(err)) == EI_OK,
               "cannot open the event log: %s", err);
    FUZZ_CHECK(ei_registry_open(data_dir, false, &registry, err, sizeof(err)) == EI_OK,
               "cannot open the registry: %s", err);
    int version = 0;
    bool added = false;
    FUZZ_CHECK(ei_registry_schema_add(registry, SCHEMA_TYPE, SCHEMA_TEXT, strlen(SCHEMA_TEXT), false,
                                      &version, &added, err, sizeof(err)) == EI_OK,
               "cannot register the schema: %s", err);
    FUZZ_CHECK(ei_registry_reload(registry) == EI_OK, "cannot reload the registry");
    server = ei_server_start(&config, backbone, registry, err, sizeof(err));
    FUZZ_CHECK(server != NULL, "cannot start the server: %s", err);
    atexit(stop_server);
    return 0;
}

/* ---- Building the request ------------------------------------------------ */

/* Appends len bytes of line without carriage returns. */
static void append_line(ei_buf *out, const char *line, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (line[i] != '\r') ei_buf_append_char(out, line[i]);
    ei_buf_append_str(out, "\r\n");
}

/* Returns true if the header line sets the request's framing, which the
 * harness sets itself. */
static bool framing_header(const char *line, size_t len) {
    static const char *const names[] = {"host", "content-length", "transfer-encoding",
                                        "connection"};
    const char *colon = memchr(line, ':', len);
    if (!colon) return false;
    size_t name_len = (size_t)(colon - line);
    while (name_len > 0 && (line[name_len - 1] == ' ' || line[name_len - 1] == '\t'))
        name_len--;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == name_len && strncasecmp(line, names[i], name_len) == 0)
            return true;
    return false;
}

/* Writes the body in chunks of 1, 2, 4 ... 64 bytes, then the last chunk. */
static void append_chunked(ei_buf *out, const char *body, size_t len) {
    size_t size = 1;
    for (size_t at = 0; at < len;) {
        size_t n = len - at < size ? len - at : size;
        ei_buf_printf(out, "%zx\r\n", n);
        ei_buf_append(out, body + at, n);
        ei_buf_append_str(out, "\r\n");
        at += n;
        size = size < 64 ? size * 2 : 1;
    }
    ei_buf_append_str(out, "0\r\n\r\n");
}

/* Returns true if the server closes the connection without a response
 * because a chunked body is past twice its route's limit (the options in
 * LLVMFuzzerInitialize: 4096 bytes, 8192 for batches). */
static bool cut_off_expected(const char *text, size_t line_len, size_t body_len) {
    bool batch = memmem(text, line_len, "/batch", 6) != NULL;
    return body_len > 2 * (batch ? 8192 : 4096);
}

/* Builds the request for the input text. Sets *cut_off if the server is
 * expected to close the connection without a response. */
static void build_request(const char *text, size_t size, ei_buf *out, bool *cut_off) {
    const char *end = memchr(text, '\n', size);
    size_t line_len = end ? (size_t)(end - text) : size;
    size_t at = line_len + (end ? 1 : 0);

    bool chunked = line_len >= 8 && memcmp(text + line_len - 8, " chunked", 8) == 0;
    if (chunked) line_len -= 8;
    ei_buf_reserve(out, size + 256);
    for (size_t i = 0; i < line_len; i++)
        if (text[i] != '\r') ei_buf_append_char(out, text[i]);
    ei_buf_append_str(out, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");

    ei_buf headers = {0};
    bool dropping = false;
    while (at < size) {
        const char *line = text + at;
        end = memchr(line, '\n', size - at);
        size_t len = end ? (size_t)(end - line) : size - at;
        at += len + (end ? 1 : 0);
        if (len == 0 || (len == 1 && line[0] == '\r')) break;

        bool continuation = line[0] == ' ' || line[0] == '\t';
        if (!continuation) dropping = framing_header(line, len);
        /* A continuation line that opens the block would extend the
         * harness's own headers. */
        if (dropping || (continuation && headers.len == 0)) continue;
        append_line(&headers, line, len);
    }

    const char *body = text + at;
    size_t body_len = size - at;
    *cut_off = chunked && cut_off_expected(text, line_len, body_len);
    if (chunked)
        ei_buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    else
        ei_buf_printf(out, "Content-Length: %zu\r\n", body_len);
    ei_buf_append_str(out, "Connection: close\r\n");
    if (headers.len) ei_buf_append(out, headers.data, headers.len);
    ei_buf_append_str(out, "\r\n");
    if (chunked)
        append_chunked(out, body, body_len);
    else
        ei_buf_append(out, body, body_len);
    ei_buf_free(&headers);
}

/* ---- Reading and checking the response ------------------------------------ */

typedef struct response {
    int status;
    const char *content_type; /* points into the received bytes; NULL if absent */
    size_t content_type_len;
    const char *body;
    size_t body_len;
    bool bodiless; /* a response to HEAD, 204 or 304, which has no body */
} response;

/* Parses one response at the start of buf. Returns 1 when a complete
 * final (not 1xx) response was parsed, 0 while more bytes are needed.
 * Anything malformed fails a check. eof: the server closed; head_request:
 * the request was HEAD, so the response has no body. */
static int parse_response(const char *buf, size_t len, bool eof, bool head_request,
                          response *res) {
    size_t at = 0;
    if (len == 0) return 0;
    for (;;) {
        const char *head = buf + at;
        const char *head_end = memmem(head, len - at, "\r\n\r\n", 4);
        if (!head_end) return 0;
        size_t head_len = (size_t)(head_end - head);
        FUZZ_CHECK(head_len >= 12 && (memcmp(head, "HTTP/1.1 ", 9) == 0 ||
                                      memcmp(head, "HTTP/1.0 ", 9) == 0),
                   "malformed status line: %.*s", (int)(head_len < 80 ? head_len : 80), head);
        int status = 0;
        for (int i = 9; i < 12; i++) {
            FUZZ_CHECK(head[i] >= '0' && head[i] <= '9', "malformed status code");
            status = status * 10 + (head[i] - '0');
        }

        /* Headers: Content-Length, Transfer-Encoding, Content-Type. */
        long content_length = -1;
        bool chunked = false;
        res->content_type = NULL;
        const char *line = memmem(head, head_len, "\r\n", 2);
        while (line && line < head_end) {
            line += 2;
            const char *line_end = memmem(line, (size_t)(head_end + 2 - line), "\r\n", 2);
            size_t line_len = (size_t)(line_end - line);
            const char *colon = memchr(line, ':', line_len);
            FUZZ_CHECK(colon != NULL, "a response header without a colon: %.*s", (int)line_len,
                       line);
            const char *value = colon + 1;
            while (*value == ' ') value++;
            size_t value_len = (size_t)(line_end - value);
            size_t name_len = (size_t)(colon - line);
            if (name_len == 14 && strncasecmp(line, "content-length", 14) == 0)
                content_length = strtol(value, NULL, 10);
            else if (name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0)
                chunked = value_len >= 7 && strncasecmp(value, "chunked", 7) == 0;
            else if (name_len == 12 && strncasecmp(line, "content-type", 12) == 0) {
                res->content_type = value;
                res->content_type_len = value_len;
            }
            line = line_end;
        }

        size_t body_at = at + head_len + 4;
        if (status >= 100 && status < 200) {
            at = body_at;
            continue;
        }
        FUZZ_CHECK(!chunked, "a chunked response; this server sends fixed-size bodies");
        res->status = status;
        res->body = buf + body_at;
        /* A response to HEAD, 204 and 304 have no body after the head. */
        if (head_request || status == 204 || status == 304) {
            res->bodiless = true;
            res->body_len = 0;
            return 1;
        }
        if (content_length >= 0) {
            if (len - body_at < (size_t)content_length) return 0;
            res->body_len = (size_t)content_length;
            return 1;
        }
        /* No length: the body ends when the server closes. */
        if (!eof) return 0;
        res->body_len = len - body_at;
        return 1;
    }
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns true if the request line has no method or no target. For such a
 * line libmicrohttpd 0.9.75 closes the connection without a response. */
static bool request_line_incomplete(const ei_buf *request) {
    const char *line = request->data;
    const char *space = memchr(line, ' ', request->len);
    return space == line || strncmp(space + 1, "HTTP/1.1\r\n", 10) == 0;
}

/* Returns true if the request head takes so much of the connection's
 * memory that the server rejects it (see request_head_bytes in
 * src/http/server.c), with 256 bytes to spare for the difference between
 * the two estimates. Near libmicrohttpd's own limit not even a 431 head
 * fits, and the connection is closed without a response. */
static bool head_fills_connection_memory(const ei_buf *request) {
    const char *head_end = memmem(request->data, request->len, "\r\n\r\n", 4);
    size_t head_len = head_end ? (size_t)(head_end - request->data) : request->len;
    size_t lines = 0;
    for (const char *p = request->data; (p = memmem(p, (size_t)(request->data + head_len - p),
                                                    "\r\n", 2)) != NULL; p += 2)
        lines++;
    size_t estimate = head_len + lines * 64;
    return estimate + 2048 + 256 > config.connection_memory;
}

/* Returns true if the request head has a NUL byte. */
static bool head_has_nul(const ei_buf *request) {
    const char *head_end = memmem(request->data, request->len, "\r\n\r\n", 4);
    size_t head_len = head_end ? (size_t)(head_end - request->data) : request->len;
    return memchr(request->data, '\0', head_len) != NULL;
}

/* How long a head that fills the connection's memory may go unanswered
 * before the exchange counts as one without a response. For a long target
 * just past its own limit, libmicrohttpd 0.9.75 neither responds nor
 * closes until the connection times out. The wait is short because the
 * fuzzer, once it finds such a target, tries many more like it. */
#define SILENCE_MS 300

/* Sends request and reads the response into received. Returns false if
 * the server closed the connection without sending anything, or, with
 * may_stay_silent, sent nothing within SILENCE_MS. */
static bool exchange(const ei_buf *request, ei_buf *received, response *res,
                     bool may_stay_silent) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ei_server_port(server))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* libFuzzer's timers interrupt system calls now and then. An
     * interrupted connect goes on in the background, so its outcome is
     * read once the socket is writable. */
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    if (rc != 0 && errno == EINTR) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        while (poll(&pfd, 1, RESPONSE_TIMEOUT_MS) < 0 && errno == EINTR) {
        }
        int error = 0;
        socklen_t error_len = sizeof(error);
        rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) == 0 && error == 0 ? 0 : -1;
        if (error) errno = error;
    }
    FUZZ_CHECK(rc == 0, "connect: %s", strerror(errno));

    /* The server may respond (413) and close before the whole request is
     * written. The response is still read below. */
    size_t sent = 0;
    while (sent < request->len) {
        ssize_t n = send(fd, request->data + sent, request->len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        sent += (size_t)n;
    }

    int64_t deadline = now_ms() + RESPONSE_TIMEOUT_MS;
    bool eof = false;
    for (;;) {
        bool head_request = request->len >= 5 && memcmp(request->data, "HEAD ", 5) == 0;
        if (parse_response(received->data, received->len, eof, head_request, res)) break;
        /* A 100 Continue alone is no response to the request. */
        static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
        bool only_interim = received->len == sizeof(interim) - 1 &&
                            memcmp(received->data, interim, sizeof(interim) - 1) == 0;
        if (eof && (received->len == 0 || only_interim)) {
            close(fd);
            return false;
        }
        FUZZ_CHECK(!eof, "the server closed the connection without a complete response "
                   "(%zu bytes received)", received->len);
        int64_t left = deadline - now_ms();
        if (may_stay_silent && received->len == 0 &&
            RESPONSE_TIMEOUT_MS - left >= SILENCE_MS) {
            close(fd);
            return false;
        }
        FUZZ_CHECK(left > 0, "no complete response within %d ms (%zu bytes received)",
                   RESPONSE_TIMEOUT_MS, received->len);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int wait_ms = may_stay_silent && received->len == 0 ? 50 : (int)left;
        if (poll(&pfd, 1, wait_ms) <= 0) continue;

        char chunk[16384];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
            ei_buf_append(received, chunk, (size_t)n);
        } else {
            /* A reset after the response (the server closed with request
             * bytes unread) ends the stream like a close. */
            eof = true;
        }
    }
    close(fd);
    return true;
}

/* Returns the node index of the value of member name in the object at
 * node 0, or -1. */
static long member(const ei_json_doc *doc, const char *name) {
    return ei_json_object_get(doc, 0, name);
}

static void check_json_body(const response *res) {
    ei_json_doc doc;
    ei_json_error err;
    int rc = ei_json_parse(&doc, res->body, res->body_len, NULL, &err);
    FUZZ_CHECK(rc == EI_OK, "status %d: the JSON body does not parse (%s at byte %zu): %.*s",
               res->status, err.message, err.offset, (int)res->body_len, res->body);

    bool problem = res->content_type_len >= 24 &&
                   strncasecmp(res->content_type, "application/problem+json", 24) == 0;
    if (problem) {
        FUZZ_CHECK(doc.nodes[0].type == EI_JSON_OBJECT, "a problem document is not an object");
        long status = member(&doc, "status");
        FUZZ_CHECK(status >= 0, "a problem document without status");
        const ei_json_node *node = &doc.nodes[status];
        FUZZ_CHECK(strtol(res->body + node->start, NULL, 10) == res->status,
                   "the problem's status is not the response's %d", res->status);
        long type = member(&doc, "type");
        FUZZ_CHECK(type >= 0 && doc.nodes[type].type == EI_JSON_STRING &&
                       strncmp(res->body + doc.nodes[type].start + 1, "urn:event-issuer:problem:",
                               25) == 0,
                   "a problem document without a problem type");
        long detail = member(&doc, "detail");
        FUZZ_CHECK(detail >= 0 && doc.nodes[detail].type == EI_JSON_STRING,
                   "a problem document without a detail");
    }
    ei_json_free(&doc);
}

static bool allowed_status(int status) {
    /* Ours: 200, 204, 400, 404, 405, 413, 415. libmicrohttpd's own
     * responses to requests it cannot parse: 400, 413, 414, 431, 501, 505. */
    static const int allowed[] = {200, 204, 400, 404, 405, 413, 414, 415, 431, 501, 505};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (allowed[i] == status) return true;
    return false;
}

/* Waits until the server has completed the request, so the next input
 * starts on an idle server. */
static void wait_until_idle(void) {
    int64_t deadline = now_ms() + RESPONSE_TIMEOUT_MS;
    while (!ei_server_wait_idle(server, 0)) {
        FUZZ_CHECK(now_ms() < deadline, "the request was not completed within %d ms",
                   RESPONSE_TIMEOUT_MS);
        usleep(50);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ei_buf request = {0};
    bool cut_off = false;
    build_request((const char *)data, size, &request, &cut_off);

    ei_buf received = {0};
    response res;
    memset(&res, 0, sizeof(res));
    bool fills_memory = head_fills_connection_memory(&request);
    if (exchange(&request, &received, &res, fills_memory)) {
        FUZZ_CHECK(allowed_status(res.status), "status %d for %.*s", res.status,
                   (int)(request.len < 2000 ? request.len : 2000), request.data);
        bool json = res.content_type &&
                    memmem(res.content_type, res.content_type_len, "json", 4) != NULL;
        if (json && !res.bodiless) check_json_body(&res);
    } else {
        FUZZ_CHECK(request_line_incomplete(&request) || cut_off || fills_memory ||
                       head_has_nul(&request),
                   "the server closed the connection without a response to %.*s",
                   (int)(request.len < 2000 ? request.len : 2000), request.data);
    }

    wait_until_idle();
    ei_buf_free(&received);
    ei_buf_free(&request);
    return 0;
}
