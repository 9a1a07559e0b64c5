/* The HTTP server: libmicrohttpd with an epoll thread pool, serving the
 * produce routes, the batch route, the schema routes, the health check and
 * the metrics, and optionally a second small listener for the metrics
 * alone.
 *
 * A request whose events go to the backbone suspends its connection, so no
 * server thread waits for a disk sync or a broker; the backbone's callback
 * resumes it, and the answer is built from the deliveries. */
#ifndef EI_HTTP_SERVER_H
#define EI_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "backbone/backbone.h"
#include "config/config.h"
#include "registry/registry.h"

typedef struct ei_server ei_server;

/* Starts listening. The backbone and the registry are borrowed and must
 * outlive the server; config->insecure_no_auth turns authentication off.
 * Returns NULL with a message in err when the address cannot be used. */
ei_server *ei_server_start(const ei_config *config, ei_backbone *backbone, ei_registry *registry,
                           char *err, size_t err_len);

/* Returns the port actually bound (useful with port 0). */
unsigned ei_server_port(const ei_server *server);

/* Returns the port of the separate metrics listener, 0 if there is none. */
unsigned ei_server_metrics_port(const ei_server *server);

/* Takes the reloadable request limits of config (body sizes, batch
 * events); requests that start from now on use them. */
void ei_server_update_limits(ei_server *server, const ei_config *config);

/* Stops accepting connections; requests under way go on. */
void ei_server_quiesce(ei_server *server);

/* Waits until no request is being handled, or timeout_ms passed.
 * Returns true if the server became idle. */
bool ei_server_wait_idle(ei_server *server, unsigned timeout_ms);

/* Closes every connection and frees the server. */
void ei_server_stop(ei_server *server);

#endif
