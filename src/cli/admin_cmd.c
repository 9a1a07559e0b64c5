/* The administration commands (see admin.h): argument parsing, help texts
 * and output. The work itself is done by the registry module. */
#include "cli/admin.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/registry.h"
#include "util/error.h"
#include "util/mem.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define MAX_POSITIONAL 6
/* An apply file larger than this is certainly a mistake. */
#define APPLY_FILE_MAX (64u << 20)

typedef struct admin_args {
    const char *group;
    const char *data_dir;
    bool help;
    bool dry_run;
    bool force;           /* schema add, apply: skip the compatibility check */
    const char *version;  /* schema show --version N */
    const char *positional[MAX_POSITIONAL];
    size_t count;
} admin_args;

/* ---- Help texts -------------------------------------------------------------- */

static const char data_option_help[] =
    "  --data DIR   data folder that holds registry.db (default ./data)\n"
    "  -h, --help   print this help\n";

static const char tenant_help[] =
    "Usage: event-issuer tenant COMMAND [--data DIR]\n"
    "\n"
    "Commands:\n"
    "  create TENANT    add a tenant (enabled)\n"
    "  disable TENANT   reject requests with the keys of every principal of the tenant\n"
    "  enable TENANT    accept them again\n"
    "  delete TENANT    delete the tenant with its principals, keys and policies\n"
    "  list             list the tenants\n"
    "  set TENANT require-registered-types true|false|default\n"
    "                   whether the tenant may produce only event types with a registered\n"
    "                   schema; default follows the server's --require-registered-types\n"
    "\n"
    "A tenant id is 1 to 128 characters of A-Z a-z 0-9 . _ ~ -.\n"
    "\n";

static const char principal_help[] =
    "Usage: event-issuer principal COMMAND [--data DIR]\n"
    "\n"
    "Commands:\n"
    "  create TENANT PRINCIPAL    add a principal (a service account, enabled) to a tenant\n"
    "  disable TENANT PRINCIPAL   reject requests with the principal's keys\n"
    "  enable TENANT PRINCIPAL    accept them again\n"
    "  delete TENANT PRINCIPAL    delete the principal with its keys and policies\n"
    "  list TENANT                list the principals of a tenant\n"
    "\n"
    "A principal name is 1 to 128 characters of A-Z a-z 0-9 . _ ~ -.\n"
    "\n";

static const char key_help[] =
    "Usage: event-issuer key COMMAND [--data DIR]\n"
    "\n"
    "Commands:\n"
    "  create TENANT PRINCIPAL          create an API key; the key is printed once, alone on\n"
    "                                   the last line, and only its SHA-256 is stored\n"
    "  list TENANT [PRINCIPAL]          list key ids, creation and revocation times and\n"
    "                                   SHA-256 hashes (never the keys)\n"
    "  revoke TENANT PRINCIPAL KEY-ID   revoke a key; a running server rejects it within a\n"
    "                                   second\n"
    "\n"
    "Keys have the form eik_KEYID_SECRET; KEY-ID is the 16 hex digits after \"eik_\".\n"
    "To rotate a key, create a new one, move the clients to it, then revoke the old one.\n"
    "\n";

static const char policy_help[] =
    "Usage: event-issuer policy COMMAND [--data DIR]\n"
    "\n"
    "Commands:\n"
    "  grant TENANT PRINCIPAL ACTION PATTERN    allow the principal ACTION on event types\n"
    "                                           matching PATTERN\n"
    "  revoke TENANT PRINCIPAL ACTION PATTERN   remove that grant\n"
    "  list TENANT [PRINCIPAL]                  list the grants\n"
    "\n"
    "ACTION is produce or tombstone. PATTERN is \"*\" (every type), an exact event type,\n"
    "or a prefix ending in \".*\": \"cloud.open.*\" matches cloud.open.a but neither\n"
    "cloud.open nor cloud.openx.a. Quote patterns with * so the shell keeps them.\n"
    "\n";

static const char schema_help[] =
    "Usage: event-issuer schema COMMAND [--data DIR]\n"
    "\n"
    "Commands:\n"
    "  add TYPE FILE [--force]      add the JSON Schema in FILE (\"-\" for standard input) as\n"
    "                               the next version of event type TYPE and print its version\n"
    "                               number; the first version registers the type\n"
    "  list                         list the registered event types with their latest version\n"
    "  show TYPE [--version N]      print the latest version's document, or version N\n"
    "\n"
    "Versions are numbered 1, 2, ... and never change or disappear. A new version must be\n"
    "compatible with the previous one (no new required property, no narrowed type, no\n"
    "tightened bound ...; docs/schema.md lists the checks); --force adds it anyway. A\n"
    "document equal to the latest version adds nothing and prints that version's number.\n"
    "A running server validates event data against the new version within a second.\n"
    "\n";

static const char apply_help[] =
    "Usage: event-issuer apply FILE [--dry-run] [--force] [--data DIR]\n"
    "\n"
    "Makes the registry match the JSON file exactly: tenants and principals with their\n"
    "enabled state, policies, and keys given by id and SHA-256. Whatever the file does\n"
    "not list is deleted (tenants, principals, policies) or revoked (keys). The file's\n"
    "\"schemas\" member adds the schema versions the registry lacks; schemas are never\n"
    "deleted. The whole file is checked first and the changes commit together, so a file\n"
    "with an error changes nothing. Prints each change; applying the same file again\n"
    "prints \"no changes\". FILE \"-\" reads standard input. The format is in\n"
    "docs/access.md and docs/schema.md.\n"
    "\n";

static const char *help_for(const char *group) {
    if (strcmp(group, "tenant") == 0) return tenant_help;
    if (strcmp(group, "principal") == 0) return principal_help;
    if (strcmp(group, "key") == 0) return key_help;
    if (strcmp(group, "policy") == 0) return policy_help;
    if (strcmp(group, "schema") == 0) return schema_help;
    return apply_help;
}

static void print_help(FILE *out, const char *group) {
    fputs(help_for(group), out);
    fputs("Options:\n", out);
    if (strcmp(group, "apply") == 0)
        fputs("  --dry-run    print the changes without making them\n", out);
    if (strcmp(group, "apply") == 0 || strcmp(group, "schema") == 0)
        fputs("  --force      add schema versions that fail the compatibility check\n", out);
    if (strcmp(group, "schema") == 0)
        fputs("  --version N  the version that show prints (default: the latest)\n", out);
    fputs(data_option_help, out);
}

static int usage_error(const char *group, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const char *group, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "event-issuer %s: ", group);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun `event-issuer %s --help` for usage.\n", group);
    return EXIT_USAGE;
}

/* Quotes a command-line value for a message (see ei_registry_quote). */
typedef struct quoted {
    char text[300];
} quoted;

static quoted quote(const char *value) {
    quoted q;
    ei_registry_quote(value, q.text, sizeof(q.text));
    return q;
}

static int failed(const char *group, const char *message) {
    fprintf(stderr, "event-issuer %s: %s\n", group, message);
    return EXIT_FAILED;
}

/* ---- Arguments --------------------------------------------------------------- */

/* Collects options (in any position) and positional arguments. "--" ends
 * the options, so a name that starts with '-' can still be given. */
static int parse_args(int argc, char **argv, admin_args *args) {
    bool options_done = false;

    memset(args, 0, sizeof(*args));
    args->group = argv[0];
    args->data_dir = "./data";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            if (strcmp(arg, "--") == 0) {
                options_done = true;
            } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
                args->help = true;
            } else if (strcmp(arg, "--data") == 0) {
                if (i + 1 == argc) return usage_error(args->group, "--data needs a folder");
                args->data_dir = argv[++i];
            } else if (strncmp(arg, "--data=", 7) == 0) {
                args->data_dir = arg + 7;
            } else if (strcmp(arg, "--dry-run") == 0 && strcmp(args->group, "apply") == 0) {
                args->dry_run = true;
            } else if (strcmp(arg, "--force") == 0 &&
                       (strcmp(args->group, "apply") == 0 || strcmp(args->group, "schema") == 0)) {
                args->force = true;
            } else if (strcmp(arg, "--version") == 0 && strcmp(args->group, "schema") == 0) {
                if (i + 1 == argc) return usage_error(args->group, "--version needs a number");
                args->version = argv[++i];
            } else if (strncmp(arg, "--version=", 10) == 0 && strcmp(args->group, "schema") == 0) {
                args->version = arg + 10;
            } else {
                return usage_error(args->group, "unknown option %s", quote(arg).text);
            }
            continue;
        }
        if (args->count == MAX_POSITIONAL)
            return usage_error(args->group, "too many arguments");
        args->positional[args->count++] = arg;
    }
    if (args->data_dir[0] == '\0') return usage_error(args->group, "--data needs a folder");
    return 0;
}

/* Checks that the command got between min and max arguments after its
 * name; usage names them for the message. */
static int expect_arguments(const admin_args *args, size_t min, size_t max, const char *usage) {
    size_t argument_count = args->count - 1;
    if (argument_count >= min && argument_count <= max) return 0;
    return usage_error(args->group, "%s %s expects %s", args->group, args->positional[0], usage);
}

static int check_name_argument(const admin_args *args, const char *label, const char *name) {
    char err[512];
    if (ei_registry_check_name(label, name, err, sizeof(err)) == EI_OK) return 0;
    return usage_error(args->group, "%s", err);
}

static ei_registry *open_registry(const admin_args *args) {
    ei_registry *registry = NULL;
    char err[512];
    if (ei_registry_open(args->data_dir, false, &registry, err, sizeof(err)) != EI_OK) {
        failed(args->group, err);
        return NULL;
    }
    return registry;
}

/* ---- Tables ---------------------------------------------------------------- */

/* Formats microseconds since the epoch as an RFC 3339 time in whole
 * seconds, or "-" for 0. */
static const char *format_time(int64_t time_us, char out[32]) {
    if (time_us == 0) return "-";
    time_t seconds = (time_t)(time_us / 1000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

/* A table printed with columns as wide as their widest cell. Cells are
 * borrowed and must outlive the print. */
typedef struct table {
    size_t columns;
    const char **cells; /* owned array, row after row, the header first */
    size_t rows;
} table;

static void table_add(table *t, const char *const *row) {
    t->cells = ei_xrealloc(t->cells, (t->rows + 1) * t->columns * sizeof(*t->cells));
    memcpy(&t->cells[t->rows * t->columns], row, t->columns * sizeof(*t->cells));
    t->rows++;
}

static void table_print(table *t) {
    size_t widths[8] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (size_t c = 0; c < t->columns; c++) {
            size_t len = strlen(t->cells[r * t->columns + c]);
            if (len > widths[c]) widths[c] = len;
        }
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < t->columns; c++) {
            const char *cell = t->cells[r * t->columns + c];
            if (c + 1 == t->columns)
                printf("%s\n", cell);
            else
                printf("%-*s  ", (int)widths[c], cell);
        }
    }
    free(t->cells);
    t->cells = NULL;
}

/* ---- tenant ------------------------------------------------------------------ */

static int list_tenants(const admin_args *args, ei_registry *registry) {
    ei_tenant_info *items = NULL;
    size_t count = 0;
    char err[512];
    if (ei_registry_tenant_list(registry, &items, &count, err, sizeof(err)) != EI_OK)
        return failed(args->group, err);

    static const char *const require_names[] = {"default", "no", "yes"};
    char (*times)[32] = ei_xcalloc(count ? count : 1, 32);
    table t = {.columns = 4};
    table_add(&t, (const char *[]){"TENANT", "ENABLED", "CREATED", "REQUIRE REGISTERED TYPES"});
    for (size_t i = 0; i < count; i++)
        table_add(&t, (const char *[]){items[i].id, items[i].enabled ? "yes" : "no",
                                       format_time(items[i].created_us, times[i]),
                                       require_names[items[i].require_registered_types + 1]});
    table_print(&t);
    free(times);
    free(items);
    return 0;
}

/* `tenant set TENANT require-registered-types true|false|default`. */
static int set_tenant(const admin_args *args, const char **setting_name, int *value) {
    const char *setting = args->positional[2];
    const char *text = args->positional[3];
    if (strcmp(setting, "require-registered-types") != 0)
        return usage_error(args->group, "unknown tenant setting %s; the setting is "
                           "require-registered-types", quote(setting).text);
    if (strcmp(text, "true") == 0)
        *value = 1;
    else if (strcmp(text, "false") == 0)
        *value = 0;
    else if (strcmp(text, "default") == 0)
        *value = -1;
    else
        return usage_error(args->group, "invalid value %s of require-registered-types; use "
                           "true, false or default", quote(text).text);
    *setting_name = setting;
    return 0;
}

static int run_tenant(const admin_args *args) {
    const char *command = args->positional[0];
    const char *tenant = args->positional[1];
    char err[512];
    int rc;

    const char *setting = NULL;
    int value = -1;

    if (strcmp(command, "list") == 0) {
        if ((rc = expect_arguments(args, 0, 0, "no arguments")) != 0) return rc;
    } else if (strcmp(command, "create") == 0 || strcmp(command, "disable") == 0 ||
               strcmp(command, "enable") == 0 || strcmp(command, "delete") == 0) {
        if ((rc = expect_arguments(args, 1, 1, "TENANT")) != 0) return rc;
        if ((rc = check_name_argument(args, "tenant id", tenant)) != 0) return rc;
    } else if (strcmp(command, "set") == 0) {
        rc = expect_arguments(args, 3, 3, "TENANT require-registered-types true|false|default");
        if (rc == 0) rc = check_name_argument(args, "tenant id", tenant);
        if (rc == 0) rc = set_tenant(args, &setting, &value);
        if (rc != 0) return rc;
    } else {
        return usage_error(args->group, "unknown command %s", quote(command).text);
    }

    ei_registry *registry = open_registry(args);
    if (!registry) return EXIT_FAILED;
    if (strcmp(command, "list") == 0) {
        rc = list_tenants(args, registry);
    } else if (setting) {
        rc = ei_registry_tenant_set_require_types(registry, tenant, value, err, sizeof(err));
        if (rc == EI_OK)
            printf("set %s of tenant %s to %s\n", setting, tenant, args->positional[3]);
        else
            rc = failed(args->group, err);
    } else {
        if (strcmp(command, "create") == 0)
            rc = ei_registry_tenant_create(registry, tenant, err, sizeof(err));
        else if (strcmp(command, "delete") == 0)
            rc = ei_registry_tenant_delete(registry, tenant, err, sizeof(err));
        else
            rc = ei_registry_tenant_set_enabled(registry, tenant, strcmp(command, "enable") == 0,
                                                err, sizeof(err));
        /* Each command plus "d" is its past tense: created, disabled, ... */
        if (rc == EI_OK)
            printf("%sd tenant %s\n", command, tenant);
        else
            rc = failed(args->group, err);
    }
    ei_registry_close(registry);
    return rc == EI_OK ? 0 : rc;
}

/* ---- principal --------------------------------------------------------------- */

static int list_principals(const admin_args *args, ei_registry *registry, const char *tenant) {
    ei_principal_info *items = NULL;
    size_t count = 0;
    char err[512];
    if (ei_registry_principal_list(registry, tenant, &items, &count, err, sizeof(err)) != EI_OK)
        return failed(args->group, err);

    char (*times)[32] = ei_xcalloc(count ? count : 1, 32);
    table t = {.columns = 3};
    table_add(&t, (const char *[]){"PRINCIPAL", "ENABLED", "CREATED"});
    for (size_t i = 0; i < count; i++)
        table_add(&t, (const char *[]){items[i].name, items[i].enabled ? "yes" : "no",
                                       format_time(items[i].created_us, times[i])});
    table_print(&t);
    free(times);
    free(items);
    return 0;
}

static int run_principal(const admin_args *args) {
    const char *command = args->positional[0];
    const char *tenant = args->positional[1];
    const char *principal = args->positional[2];
    char err[512];
    int rc;

    if (strcmp(command, "list") == 0) {
        if ((rc = expect_arguments(args, 1, 1, "TENANT")) != 0) return rc;
    } else if (strcmp(command, "create") == 0 || strcmp(command, "disable") == 0 ||
               strcmp(command, "enable") == 0 || strcmp(command, "delete") == 0) {
        if ((rc = expect_arguments(args, 2, 2, "TENANT PRINCIPAL")) != 0) return rc;
        if ((rc = check_name_argument(args, "principal name", principal)) != 0) return rc;
    } else {
        return usage_error(args->group, "unknown command %s", quote(command).text);
    }
    if ((rc = check_name_argument(args, "tenant id", tenant)) != 0) return rc;

    ei_registry *registry = open_registry(args);
    if (!registry) return EXIT_FAILED;
    if (strcmp(command, "list") == 0) {
        rc = list_principals(args, registry, tenant);
    } else {
        if (strcmp(command, "create") == 0)
            rc = ei_registry_principal_create(registry, tenant, principal, err, sizeof(err));
        else if (strcmp(command, "delete") == 0)
            rc = ei_registry_principal_delete(registry, tenant, principal, err, sizeof(err));
        else
            rc = ei_registry_principal_set_enabled(registry, tenant, principal,
                                                   strcmp(command, "enable") == 0, err,
                                                   sizeof(err));
        if (rc == EI_OK)
            printf("%sd principal %s in tenant %s\n", command, principal, tenant);
        else
            rc = failed(args->group, err);
    }
    ei_registry_close(registry);
    return rc == EI_OK ? 0 : rc;
}

/* ---- key ----------------------------------------------------------------------- */

static int create_key(const admin_args *args, ei_registry *registry, const char *tenant,
                      const char *principal) {
    char key[EI_KEY_MAX];
    char key_id[EI_KEY_ID_LEN + 1];
    char err[512];
    ei_key_info *items = NULL;
    size_t count = 0;

    if (ei_registry_key_create(registry, tenant, principal, key, key_id, err, sizeof(err)) !=
        EI_OK)
        return failed(args->group, err);

    /* The hash is read back from the database, which is what `key list`
     * and an apply file show. */
    const char *sha256 = "(unavailable)";
    if (ei_registry_key_list(registry, tenant, principal, &items, &count, err, sizeof(err)) ==
        EI_OK)
        for (size_t i = 0; i < count; i++)
            if (strcmp(items[i].key_id, key_id) == 0) sha256 = items[i].sha256_hex;

    printf("created key for principal %s in tenant %s\n", principal, tenant);
    printf("key id: %s\n", key_id);
    printf("sha256: %s\n", sha256);
    printf("The key below is shown once and cannot be retrieved later; store it now.\n");
    printf("%s\n", key);
    fflush(stdout);
    memset(key, 0, sizeof(key));
    free(items);
    return 0;
}

static int list_keys(const admin_args *args, ei_registry *registry, const char *tenant,
                     const char *principal) {
    ei_key_info *items = NULL;
    size_t count = 0;
    char err[512];
    if (ei_registry_key_list(registry, tenant, principal, &items, &count, err, sizeof(err)) !=
        EI_OK)
        return failed(args->group, err);

    char (*times)[2][32] = ei_xcalloc(count ? count : 1, sizeof(*times));
    table t = {.columns = 5};
    table_add(&t, (const char *[]){"KEY ID", "PRINCIPAL", "CREATED", "REVOKED", "SHA256"});
    for (size_t i = 0; i < count; i++)
        table_add(&t, (const char *[]){items[i].key_id, items[i].principal,
                                       format_time(items[i].created_us, times[i][0]),
                                       format_time(items[i].revoked_us, times[i][1]),
                                       items[i].sha256_hex});
    table_print(&t);
    free(times);
    free(items);
    return 0;
}

static int run_key(const admin_args *args) {
    const char *command = args->positional[0];
    const char *tenant = args->positional[1];
    const char *principal = args->positional[2];
    char err[512];
    int rc;

    if (strcmp(command, "create") == 0) {
        rc = expect_arguments(args, 2, 2, "TENANT PRINCIPAL");
    } else if (strcmp(command, "list") == 0) {
        rc = expect_arguments(args, 1, 2, "TENANT [PRINCIPAL]");
    } else if (strcmp(command, "revoke") == 0) {
        rc = expect_arguments(args, 3, 3, "TENANT PRINCIPAL KEY-ID");
        if (rc == 0 && ei_registry_check_key_id(args->positional[3], err, sizeof(err)) != EI_OK)
            rc = usage_error(args->group, "%s", err);
    } else {
        return usage_error(args->group, "unknown command %s", quote(command).text);
    }
    if (rc == 0) rc = check_name_argument(args, "tenant id", tenant);
    if (rc == 0 && principal) rc = check_name_argument(args, "principal name", principal);
    if (rc != 0) return rc;

    ei_registry *registry = open_registry(args);
    if (!registry) return EXIT_FAILED;
    if (strcmp(command, "create") == 0) {
        rc = create_key(args, registry, tenant, principal);
    } else if (strcmp(command, "list") == 0) {
        rc = list_keys(args, registry, tenant, principal);
    } else if (ei_registry_key_revoke(registry, tenant, principal, args->positional[3], err,
                                      sizeof(err)) == EI_OK) {
        printf("revoked key %s of principal %s in tenant %s\n", args->positional[3], principal,
               tenant);
        rc = 0;
    } else {
        rc = failed(args->group, err);
    }
    ei_registry_close(registry);
    return rc;
}

/* ---- policy -------------------------------------------------------------------- */

static int list_policies(const admin_args *args, ei_registry *registry, const char *tenant,
                         const char *principal) {
    ei_policy_info *items = NULL;
    size_t count = 0;
    char err[512];
    if (ei_registry_policy_list(registry, tenant, principal, &items, &count, err, sizeof(err)) !=
        EI_OK)
        return failed(args->group, err);

    table t = {.columns = 3};
    table_add(&t, (const char *[]){"PRINCIPAL", "ACTION", "PATTERN"});
    for (size_t i = 0; i < count; i++)
        table_add(&t, (const char *[]){items[i].principal, ei_action_name(items[i].action),
                                       items[i].pattern});
    table_print(&t);
    free(items);
    return 0;
}

static int run_policy(const admin_args *args) {
    const char *command = args->positional[0];
    const char *tenant = args->positional[1];
    const char *principal = args->positional[2];
    ei_action action = EI_ACTION_PRODUCE;
    char err[512];
    int rc;

    bool change = strcmp(command, "grant") == 0 || strcmp(command, "revoke") == 0;
    if (change) {
        rc = expect_arguments(args, 4, 4, "TENANT PRINCIPAL ACTION PATTERN");
        if (rc == 0 && ei_action_parse(args->positional[3], &action) != 0)
            rc = usage_error(args->group, "unknown action %s; use produce or tombstone",
                             quote(args->positional[3]).text);
        if (rc == 0 && ei_registry_check_pattern(args->positional[4], err, sizeof(err)) != EI_OK)
            rc = usage_error(args->group, "%s", err);
    } else if (strcmp(command, "list") == 0) {
        rc = expect_arguments(args, 1, 2, "TENANT [PRINCIPAL]");
    } else {
        return usage_error(args->group, "unknown command %s", quote(command).text);
    }
    if (rc == 0) rc = check_name_argument(args, "tenant id", tenant);
    if (rc == 0 && principal) rc = check_name_argument(args, "principal name", principal);
    if (rc != 0) return rc;

    ei_registry *registry = open_registry(args);
    if (!registry) return EXIT_FAILED;
    if (!change) {
        rc = list_policies(args, registry, tenant, principal);
    } else {
        const char *pattern = args->positional[4];
        bool grant = strcmp(command, "grant") == 0;
        rc = grant ? ei_registry_policy_grant(registry, tenant, principal, action, pattern, err,
                                              sizeof(err))
                   : ei_registry_policy_revoke(registry, tenant, principal, action, pattern, err,
                                               sizeof(err));
        if (rc == EI_OK)
            printf("%s %s on %s %s principal %s in tenant %s\n", grant ? "granted" : "revoked",
                   ei_action_name(action), pattern, grant ? "to" : "from", principal, tenant);
        else
            rc = failed(args->group, err);
    }
    ei_registry_close(registry);
    return rc == EI_OK ? 0 : rc;
}

/* ---- Files --------------------------------------------------------------------- */

/* Reads path ("-" for standard input) into *text. */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t err_len) {
    FILE *file = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    ei_buf buf = {0};
    char chunk[65536];
    int rc = 0;

    if (!file) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) {
        if (buf.len + n > APPLY_FILE_MAX) {
            snprintf(err, err_len, "%s is larger than %u MiB", path, APPLY_FILE_MAX >> 20);
            rc = -1;
            break;
        }
        ei_buf_append(&buf, chunk, n);
    }
    if (rc == 0 && ferror(file)) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (file != stdin) fclose(file);
    if (rc != 0) {
        ei_buf_free(&buf);
        return rc;
    }
    *len = buf.len;
    *text = buf.data ? ei_buf_detach(&buf, len) : ei_xstrdup("");
    return 0;
}

/* ---- schema -------------------------------------------------------------------- */

static const char *display_path(const char *path) {
    return strcmp(path, "-") == 0 ? "stdin" : path;
}

static int add_schema(const admin_args *args, const char *type, const char *path) {
    char *text = NULL;
    size_t len = 0;
    int version = 0;
    bool added = false;
    /* Large enough for the list of incompatibilities. */
    char err[8192];

    if (read_file(path, &text, &len, err, sizeof(err)) != 0) return failed(args->group, err);
    ei_registry *registry = open_registry(args);
    if (!registry) {
        free(text);
        return EXIT_FAILED;
    }
    int rc = ei_registry_schema_add(registry, type, text, len, args->force, &version, &added, err,
                                    sizeof(err));
    ei_registry_close(registry);
    free(text);
    if (rc != EI_OK) {
        fprintf(stderr, "event-issuer schema: %s: %s\n", display_path(path), err);
        fprintf(stderr, "event-issuer schema: nothing was added\n");
        return EXIT_FAILED;
    }
    if (!added)
        fprintf(stderr, "event-issuer schema: %s is the same schema as version %d of %s; no "
                "version was added\n", display_path(path), version, type);
    printf("%d\n", version);
    return 0;
}

static int list_schemas(const admin_args *args, ei_registry *registry) {
    ei_schema_type_info *items = NULL;
    size_t count = 0;
    char err[512];
    if (ei_registry_schema_list(registry, &items, &count, err, sizeof(err)) != EI_OK)
        return failed(args->group, err);

    char (*cells)[3][32] = ei_xcalloc(count ? count : 1, sizeof(*cells));
    table t = {.columns = 4};
    table_add(&t, (const char *[]){"TYPE", "LATEST VERSION", "REGISTERED", "LATEST ADDED"});
    for (size_t i = 0; i < count; i++) {
        snprintf(cells[i][0], sizeof(cells[i][0]), "%d", items[i].latest);
        table_add(&t, (const char *[]){items[i].type, cells[i][0],
                                       format_time(items[i].created_us, cells[i][1]),
                                       format_time(items[i].latest_created_us, cells[i][2])});
    }
    table_print(&t);
    free(cells);
    free(items);
    return 0;
}

static int show_schema(const admin_args *args, ei_registry *registry, const char *type,
                       int version) {
    char *document = NULL;
    size_t len = 0;
    int found = 0;
    char err[512];
    if (ei_registry_schema_get(registry, type, version, &document, &len, &found, err,
                               sizeof(err)) != EI_OK)
        return failed(args->group, err);
    fwrite(document, 1, len, stdout);
    fputc('\n', stdout);
    free(document);
    return 0;
}

/* Parses the value of --version: a version number from 1. */
static int parse_version(const admin_args *args, int *version) {
    char *end = NULL;
    errno = 0;
    long value = strtol(args->version, &end, 10);
    if (errno != 0 || end == args->version || *end != '\0' || value < 1 || value > INT32_MAX)
        return usage_error(args->group, "invalid --version %s; use a version number from 1",
                           quote(args->version).text);
    *version = (int)value;
    return 0;
}

static int run_schema(const admin_args *args) {
    const char *command = args->positional[0];
    const char *type = args->positional[1];
    char err[512];
    int version = 0;
    int rc;

    if (strcmp(command, "add") == 0) {
        rc = expect_arguments(args, 2, 2, "TYPE FILE");
    } else if (strcmp(command, "list") == 0) {
        rc = expect_arguments(args, 0, 0, "no arguments");
    } else if (strcmp(command, "show") == 0) {
        rc = expect_arguments(args, 1, 1, "TYPE");
        if (rc == 0 && args->version) rc = parse_version(args, &version);
    } else {
        return usage_error(args->group, "unknown command %s", quote(command).text);
    }
    if (rc == 0 && args->version && strcmp(command, "show") != 0)
        rc = usage_error(args->group, "--version applies to schema show only");
    if (rc == 0 && args->force && strcmp(command, "add") != 0)
        rc = usage_error(args->group, "--force applies to schema add only");
    if (rc == 0 && type && ei_registry_check_event_type(type, err, sizeof(err)) != EI_OK)
        rc = usage_error(args->group, "%s", err);
    if (rc != 0) return rc;

    if (strcmp(command, "add") == 0) return add_schema(args, type, args->positional[2]);
    ei_registry *registry = open_registry(args);
    if (!registry) return EXIT_FAILED;
    if (strcmp(command, "list") == 0)
        rc = list_schemas(args, registry);
    else
        rc = show_schema(args, registry, type, version);
    ei_registry_close(registry);
    return rc;
}

/* ---- apply --------------------------------------------------------------------- */

static int run_apply(const admin_args *args) {
    const char *path = args->positional[0];
    char *text = NULL;
    size_t len = 0, change_count = 0;
    ei_buf changes = {0};
    /* Large enough for a list of schema incompatibilities. */
    char err[8192];
    int rc;

    if (args->count != 1) return usage_error(args->group, "apply expects FILE");
    if (read_file(path, &text, &len, err, sizeof(err)) != 0) return failed(args->group, err);

    ei_registry *registry = open_registry(args);
    if (!registry) {
        free(text);
        return EXIT_FAILED;
    }
    ei_apply_options options = {.dry_run = args->dry_run, .force = args->force};
    if (ei_registry_apply_with_options(registry, text, len, &options, &changes, &change_count,
                                       err, sizeof(err)) != EI_OK) {
        fprintf(stderr, "event-issuer apply: %s: %s\n", strcmp(path, "-") == 0 ? "stdin" : path,
                err);
        fprintf(stderr, "event-issuer apply: nothing was changed\n");
        rc = EXIT_FAILED;
        goto out;
    }
    if (changes.len) fputs(changes.data, stdout);
    if (change_count == 0)
        printf("no changes\n");
    else if (args->dry_run)
        printf("dry run: %zu change%s not applied\n", change_count, change_count == 1 ? "" : "s");
    else
        printf("applied %zu change%s\n", change_count, change_count == 1 ? "" : "s");
    rc = 0;

out:
    ei_registry_close(registry);
    ei_buf_free(&changes);
    free(text);
    return rc;
}

/* ---- Entry point --------------------------------------------------------------- */

int ei_cli_admin(int argc, char **argv) {
    admin_args args;
    static const char *const groups[] = {"tenant", "principal", "key", "policy", "schema",
                                         "apply"};
    bool known = false;

    if (argc < 1) return EXIT_USAGE;
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        known = known || strcmp(argv[0], groups[i]) == 0;
    if (!known) {
        fprintf(stderr, "event-issuer: unknown command %s\n", quote(argv[0]).text);
        return EXIT_USAGE;
    }

    int rc = parse_args(argc, argv, &args);
    if (rc != 0) return rc;
    if (args.help) {
        print_help(stdout, args.group);
        return 0;
    }
    if (args.count == 0) {
        print_help(stderr, args.group);
        return EXIT_USAGE;
    }

    if (strcmp(args.group, "tenant") == 0) return run_tenant(&args);
    if (strcmp(args.group, "principal") == 0) return run_principal(&args);
    if (strcmp(args.group, "key") == 0) return run_key(&args);
    if (strcmp(args.group, "policy") == 0) return run_policy(&args);
    if (strcmp(args.group, "schema") == 0) return run_schema(&args);
    return run_apply(&args);
}
