/* The administration commands of the command line: `event-issuer tenant`,
 * `principal`, `key`, `policy`, `schema` and `apply` change and list the
 * registry in DIR/registry.db (see registry/registry.h, docs/access.md and
 * docs/schema.md). */
#ifndef EI_CLI_ADMIN_H
#define EI_CLI_ADMIN_H

/* Runs one administration command. argv[0] is its group ("tenant",
 * "principal", "key", "policy", "schema" or "apply"), the rest its arguments and
 * options. Returns the exit status: 0 on success, 1 when the command failed
 * (a tenant that is not found, a key that is already revoked), 2 on a usage
 * error. */
int ei_cli_admin(int argc, char **argv);

#endif
