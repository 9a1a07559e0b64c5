/* Tests of the registry: administration, authentication, authorization,
 * the watcher thread, declarative apply and the administration commands.
 * Every test works in a fresh data folder made with mkdtemp and removed
 * afterwards. */
#include <ftw.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/admin.h"
#include "registry/registry.h"
#include "util/error.h"
#include "util/mem.h"

typedef struct fixture {
    char dir[64];
    ei_registry *registry;
    char err[512];
} fixture;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int setup(void **state) {
    fixture *f = ei_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ei-registry-test-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    if (ei_registry_open(f->dir, false, &f->registry, f->err, sizeof(f->err)) != EI_OK) {
        fprintf(stderr, "cannot open the registry: %s\n", f->err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    ei_registry_close(f->registry);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- Helpers ------------------------------------------------------------- */

#define OK(call)                                                          \
    do {                                                                  \
        int ok_rc_ = (call);                                              \
        if (ok_rc_ != EI_OK) fail_msg("%s failed: %s", #call, f->err);    \
    } while (0)

static void create_principal(fixture *f, const char *tenant, const char *principal) {
    char tenant_err[512];
    /* The tenant may exist already. */
    ei_registry_tenant_create(f->registry, tenant, tenant_err, sizeof(tenant_err));
    OK(ei_registry_principal_create(f->registry, tenant, principal, f->err, sizeof(f->err)));
}

static void create_key(fixture *f, const char *tenant, const char *principal,
                       char key[EI_KEY_MAX], char key_id[17]) {
    OK(ei_registry_key_create(f->registry, tenant, principal, key, key_id, f->err,
                              sizeof(f->err)));
}

static ei_auth_status authenticate(fixture *f, const char *tenant, const char *key) {
    ei_principal_ref who;
    return ei_registry_authenticate(f->registry, tenant, key, &who);
}

static bool may(fixture *f, const char *tenant, const char *principal, ei_action action,
                const char *type) {
    ei_principal_ref who = {0};
    snprintf(who.tenant, sizeof(who.tenant), "%s", tenant);
    snprintf(who.principal, sizeof(who.principal), "%s", principal);
    return ei_registry_authorize(f->registry, &who, action, type);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void sha256_hex(const char *text, char out[65]) {
    unsigned char digest[32];
    unsigned int len = 0;
    assert_int_equal(EVP_Digest(text, strlen(text), digest, &len, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static int apply(fixture *f, const char *json, bool dry_run, ei_buf *changes, size_t *count) {
    ei_buf_reset(changes);
    return ei_registry_apply(f->registry, json, strlen(json), dry_run, changes, count, f->err,
                             sizeof(f->err));
}

/* Reads the database and its write-ahead log into one buffer. */
static void read_database_bytes(fixture *f, ei_buf *out) {
    const char *suffixes[] = {"", "-wal"};
    char path[128], chunk[4096];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/registry.db%s", f->dir, suffixes[i]);
        FILE *file = fopen(path, "rb");
        if (!file) continue;
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) ei_buf_append(out, chunk, n);
        fclose(file);
    }
}

/* Runs an administration command with stdout captured into out. */
static int run_cli(fixture *f, ei_buf *out, const char *first, ...) {
    char *argv[16];
    int argc = 0;
    va_list ap;

    argv[argc++] = (char *)first;
    va_start(ap, first);
    for (char *arg; (arg = va_arg(ap, char *)) != NULL;) argv[argc++] = arg;
    va_end(ap);
    argv[argc++] = "--data";
    argv[argc++] = f->dir;
    argv[argc] = NULL;

    char capture[128];
    snprintf(capture, sizeof(capture), "%s/stdout.txt", f->dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *file = fopen(capture, "w+");
    dup2(fileno(file), STDOUT_FILENO);
    int status = ei_cli_admin(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);

    char chunk[4096];
    size_t n;
    ei_buf_reset(out);
    rewind(file);
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) ei_buf_append(out, chunk, n);
    if (!out->data) ei_buf_append(out, "", 0);
    fclose(file);
    remove(capture);
    return status;
}

/* ---- Authentication -------------------------------------------------------- */

static void created_key_authenticates(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];
    ei_principal_ref who;

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);

    assert_int_equal(strlen(key), 64);
    assert_memory_equal(key, "eik_", 4);
    assert_memory_equal(key + 4, key_id, 16);
    assert_int_equal(ei_registry_authenticate(f->registry, "acme", key, &who), EI_AUTH_OK);
    assert_string_equal(who.tenant, "acme");
    assert_string_equal(who.principal, "billing");
    assert_string_equal(who.key_id, key_id);
    assert_true(who.snapshot_version > 0);
}

static void wrong_secret_is_invalid_key(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    key[40] = key[40] == 'A' ? 'B' : 'A';
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_INVALID_KEY);
}

static void malformed_keys_are_invalid_key(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17], variant[EI_KEY_MAX + 8];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    const char *fixed[] = {"", "eik_", "eik_0123456789abcdef_", "Bearer x", key_id};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        assert_int_equal(authenticate(f, "acme", fixed[i]), EI_AUTH_INVALID_KEY);

    /* Variants of the valid key: each breaks one rule of the form. */
    snprintf(variant, sizeof(variant), "EIK_%s", key + 4);
    assert_int_equal(authenticate(f, "acme", variant), EI_AUTH_INVALID_KEY);
    snprintf(variant, sizeof(variant), "%sx", key);
    assert_int_equal(authenticate(f, "acme", variant), EI_AUTH_INVALID_KEY);
    snprintf(variant, sizeof(variant), "%.*s", 63, key);
    assert_int_equal(authenticate(f, "acme", variant), EI_AUTH_INVALID_KEY);
    snprintf(variant, sizeof(variant), "%s", key);
    variant[20] = '-';
    assert_int_equal(authenticate(f, "acme", variant), EI_AUTH_INVALID_KEY);
    snprintf(variant, sizeof(variant), "%s", key);
    variant[5] = (char)(variant[5] >= 'a' ? variant[5] - 32 : 'A'); /* uppercase hex */
    assert_int_equal(authenticate(f, "acme", variant), EI_AUTH_INVALID_KEY);
    snprintf(variant, sizeof(variant), "%s", key);
    variant[30] = '+';
    assert_int_equal(authenticate(f, "acme", variant), EI_AUTH_INVALID_KEY);

    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_OK);
}

static void absent_key_is_missing_key(void **state) {
    fixture *f = *state;
    assert_int_equal(authenticate(f, "acme", NULL), EI_AUTH_MISSING_KEY);
}

static void unknown_key_id_is_invalid_key(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    /* The same secret under another id. */
    key[4] = key[4] == '0' ? '1' : '0';
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_INVALID_KEY);
}

static void revoked_key_is_invalid_key(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    OK(ei_registry_key_revoke(f->registry, "acme", "billing", key_id, f->err, sizeof(f->err)));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_INVALID_KEY);

    assert_int_not_equal(
        ei_registry_key_revoke(f->registry, "acme", "billing", key_id, f->err, sizeof(f->err)),
        EI_OK);
    assert_non_null(strstr(f->err, "already revoked"));
}

static void key_of_other_tenant_is_wrong_tenant(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];
    ei_principal_ref who;

    create_principal(f, "tenant-a", "svc");
    create_principal(f, "tenant-b", "svc");
    create_key(f, "tenant-a", "svc", key, key_id);

    assert_int_equal(ei_registry_authenticate(f->registry, "tenant-b", key, &who),
                     EI_AUTH_WRONG_TENANT);
    assert_string_equal(who.tenant, "tenant-a");
    assert_int_equal(authenticate(f, "no-such-tenant", key), EI_AUTH_WRONG_TENANT);
    assert_int_equal(authenticate(f, NULL, key), EI_AUTH_WRONG_TENANT);
}

static void invalid_key_reveals_nothing_about_tenants(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    key[63] = key[63] == 'A' ? 'B' : 'A';
    /* Whether the tenant exists, is disabled or does not match, a wrong
     * secret gets the same status. */
    assert_int_equal(authenticate(f, "no-such-tenant", key), EI_AUTH_INVALID_KEY);
    OK(ei_registry_tenant_set_enabled(f->registry, "acme", false, f->err, sizeof(f->err)));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_INVALID_KEY);
}

static void disabled_tenant_is_disabled_until_enabled(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    OK(ei_registry_tenant_set_enabled(f->registry, "acme", false, f->err, sizeof(f->err)));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_DISABLED);
    OK(ei_registry_tenant_set_enabled(f->registry, "acme", true, f->err, sizeof(f->err)));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_OK);
}

static void disabled_principal_is_disabled_until_enabled(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];

    create_principal(f, "acme", "billing");
    create_principal(f, "acme", "other");
    create_key(f, "acme", "billing", key, key_id);
    OK(ei_registry_principal_set_enabled(f->registry, "acme", "billing", false, f->err,
                                         sizeof(f->err)));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_DISABLED);
    OK(ei_registry_principal_set_enabled(f->registry, "acme", "billing", true, f->err,
                                         sizeof(f->err)));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_OK);
}

static void rotation_keeps_second_key_valid(void **state) {
    fixture *f = *state;
    char old_key[EI_KEY_MAX], old_id[17], new_key[EI_KEY_MAX], new_id[17];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", old_key, old_id);
    create_key(f, "acme", "billing", new_key, new_id);
    assert_string_not_equal(old_id, new_id);
    assert_int_equal(authenticate(f, "acme", old_key), EI_AUTH_OK);
    assert_int_equal(authenticate(f, "acme", new_key), EI_AUTH_OK);

    OK(ei_registry_key_revoke(f->registry, "acme", "billing", old_id, f->err, sizeof(f->err)));
    assert_int_equal(authenticate(f, "acme", old_key), EI_AUTH_INVALID_KEY);
    assert_int_equal(authenticate(f, "acme", new_key), EI_AUTH_OK);
}

static void deleted_tenant_takes_keys_and_policies(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];
    ei_principal_info *principals = NULL;
    size_t count = 99;

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    OK(ei_registry_policy_grant(f->registry, "acme", "billing", EI_ACTION_PRODUCE, "*", f->err,
                                sizeof(f->err)));
    OK(ei_registry_tenant_delete(f->registry, "acme", f->err, sizeof(f->err)));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_INVALID_KEY);

    /* A tenant created again under the same id starts empty. */
    OK(ei_registry_tenant_create(f->registry, "acme", f->err, sizeof(f->err)));
    OK(ei_registry_principal_list(f->registry, "acme", &principals, &count, f->err,
                                  sizeof(f->err)));
    assert_int_equal(count, 0);
    free(principals);
    create_principal(f, "acme", "billing");
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "x"));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_INVALID_KEY);
}

/* ---- Administration errors --------------------------------------------------- */

static void duplicates_and_missing_names_fail(void **state) {
    fixture *f = *state;

    create_principal(f, "acme", "billing");
    assert_int_not_equal(ei_registry_tenant_create(f->registry, "acme", f->err, sizeof(f->err)),
                         EI_OK);
    assert_string_equal(f->err, "tenant \"acme\" already exists");
    assert_int_not_equal(
        ei_registry_principal_create(f->registry, "acme", "billing", f->err, sizeof(f->err)),
        EI_OK);
    assert_non_null(strstr(f->err, "already exists"));
    assert_int_equal(
        ei_registry_principal_create(f->registry, "nobody", "billing", f->err, sizeof(f->err)),
        EI_ERR_NOT_FOUND);
    assert_string_equal(f->err, "tenant \"nobody\" not found");
    assert_int_equal(ei_registry_tenant_set_enabled(f->registry, "nobody", false, f->err,
                                                    sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
    assert_int_equal(ei_registry_principal_delete(f->registry, "acme", "ghost", f->err,
                                                  sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
    assert_string_equal(f->err, "principal \"ghost\" not found in tenant \"acme\"");
    assert_int_equal(ei_registry_policy_revoke(f->registry, "acme", "billing", EI_ACTION_PRODUCE,
                                               "*", f->err, sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
    OK(ei_registry_policy_grant(f->registry, "acme", "billing", EI_ACTION_PRODUCE, "*", f->err,
                                sizeof(f->err)));
    assert_int_not_equal(ei_registry_policy_grant(f->registry, "acme", "billing",
                                                  EI_ACTION_PRODUCE, "*", f->err, sizeof(f->err)),
                         EI_OK);
}

static void key_given_as_name_stays_hidden(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    const char *secret = key + 21;

    /* A key has the characters of a valid tenant id, so this is "not found". */
    assert_int_equal(ei_registry_tenant_set_enabled(f->registry, key, false, f->err,
                                                    sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
    assert_non_null(strstr(f->err, key_id));
    assert_null(strstr(f->err, secret));
    assert_int_equal(ei_registry_check_pattern(key, f->err, sizeof(f->err)), EI_OK);
    assert_int_equal(ei_registry_policy_revoke(f->registry, "acme", "billing", EI_ACTION_PRODUCE,
                                               key, f->err, sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
    assert_null(strstr(f->err, secret));
}

static void names_and_patterns_are_checked(void **state) {
    fixture *f = *state;
    char name[200];

    memset(name, 'a', 128);
    name[128] = '\0';
    assert_int_equal(ei_registry_check_name("tenant id", name, f->err, sizeof(f->err)), EI_OK);
    name[128] = 'a';
    name[129] = '\0';
    assert_int_equal(ei_registry_check_name("tenant id", name, f->err, sizeof(f->err)),
                     EI_ERR_INVALID);

    const char *bad_names[] = {"", "a b", "a/b", "ä", "a:b", ".", ".."};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        assert_int_equal(ei_registry_check_name("tenant id", bad_names[i], f->err, sizeof(f->err)),
                         EI_ERR_INVALID);
    assert_int_equal(ei_registry_tenant_create(f->registry, "a b", f->err, sizeof(f->err)),
                     EI_ERR_INVALID);
    assert_non_null(strstr(f->err, "\"a b\""));
    assert_int_equal(ei_registry_check_name("tenant id", "A.z_0~9-", f->err, sizeof(f->err)),
                     EI_OK);

    const char *good_patterns[] = {"*", "cloud.open.*", "a.*", "cloud.open.v1", "x"};
    for (size_t i = 0; i < sizeof(good_patterns) / sizeof(good_patterns[0]); i++)
        assert_int_equal(ei_registry_check_pattern(good_patterns[i], f->err, sizeof(f->err)),
                         EI_OK);
    const char *bad_patterns[] = {"", "a b", "a*b", ".*", "*x", "cloud.*.v1", "a*", "**", "a\tb"};
    for (size_t i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++)
        assert_int_equal(ei_registry_check_pattern(bad_patterns[i], f->err, sizeof(f->err)),
                         EI_ERR_INVALID);
    create_principal(f, "acme", "billing");
    assert_int_equal(ei_registry_policy_grant(f->registry, "acme", "billing", EI_ACTION_PRODUCE,
                                              "a*b", f->err, sizeof(f->err)),
                     EI_ERR_INVALID);
    assert_non_null(strstr(f->err, "\"a*b\""));
}

/* ---- Authorization ----------------------------------------------------------- */

static void grant(fixture *f, ei_action action, const char *pattern) {
    OK(ei_registry_policy_grant(f->registry, "acme", "billing", action, pattern, f->err,
                                sizeof(f->err)));
}

static void exact_pattern_matches_only_that_type(void **state) {
    fixture *f = *state;
    create_principal(f, "acme", "billing");
    grant(f, EI_ACTION_PRODUCE, "cloud.open.a");

    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.a"));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.ab"));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open"));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.a.b"));
}

static void prefix_pattern_needs_a_further_segment(void **state) {
    fixture *f = *state;
    create_principal(f, "acme", "billing");
    grant(f, EI_ACTION_PRODUCE, "cloud.open.*");

    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.a"));
    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.x.v1"));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open"));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open."));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.openx.a"));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "other.cloud.open.a"));
}

static void star_pattern_matches_every_type(void **state) {
    fixture *f = *state;
    create_principal(f, "acme", "billing");
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "anything"));
    grant(f, EI_ACTION_PRODUCE, "*");

    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "anything"));
    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.a"));
    assert_false(may(f, "acme", "other", EI_ACTION_PRODUCE, "anything"));
    assert_false(may(f, "other", "billing", EI_ACTION_PRODUCE, "anything"));
}

static void produce_grant_does_not_allow_tombstone(void **state) {
    fixture *f = *state;
    create_principal(f, "acme", "billing");
    grant(f, EI_ACTION_PRODUCE, "*");

    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.a"));
    assert_false(may(f, "acme", "billing", EI_ACTION_TOMBSTONE, "cloud.open.a"));
    grant(f, EI_ACTION_TOMBSTONE, "cloud.open.a");
    assert_true(may(f, "acme", "billing", EI_ACTION_TOMBSTONE, "cloud.open.a"));
    assert_false(may(f, "acme", "billing", EI_ACTION_TOMBSTONE, "cloud.open.b"));
}

static void revoked_grant_and_disabled_principal_deny(void **state) {
    fixture *f = *state;
    create_principal(f, "acme", "billing");
    grant(f, EI_ACTION_PRODUCE, "cloud.*");
    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.a"));

    OK(ei_registry_principal_set_enabled(f->registry, "acme", "billing", false, f->err,
                                         sizeof(f->err)));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.a"));
    OK(ei_registry_principal_set_enabled(f->registry, "acme", "billing", true, f->err,
                                         sizeof(f->err)));
    OK(ei_registry_policy_revoke(f->registry, "acme", "billing", EI_ACTION_PRODUCE, "cloud.*",
                                 f->err, sizeof(f->err)));
    assert_false(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.a"));
}

/* ---- Watcher ------------------------------------------------------------------ */

static ei_auth_status wait_for_status(ei_registry *registry, const char *tenant, const char *key,
                                      ei_auth_status wanted, double timeout_seconds) {
    double deadline = now_seconds() + timeout_seconds;
    ei_principal_ref who;
    ei_auth_status status;
    while ((status = ei_registry_authenticate(registry, tenant, key, &who)) != wanted &&
           now_seconds() < deadline)
        sleep_ms(10);
    return status;
}

static void watcher_sees_change_of_other_handle(void **state) {
    fixture *f = *state;
    ei_registry *server = NULL;
    char key[EI_KEY_MAX], key_id[17];

    OK(ei_registry_open(f->dir, true, &server, f->err, sizeof(f->err)));
    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    assert_int_equal(wait_for_status(server, "acme", key, EI_AUTH_OK, 1.0), EI_AUTH_OK);

    OK(ei_registry_key_revoke(f->registry, "acme", "billing", key_id, f->err, sizeof(f->err)));
    assert_int_equal(wait_for_status(server, "acme", key, EI_AUTH_INVALID_KEY, 1.0),
                     EI_AUTH_INVALID_KEY);
    ei_registry_close(server);
}

static void reload_picks_up_change_at_once(void **state) {
    fixture *f = *state;
    ei_registry *server = NULL;
    char key[EI_KEY_MAX], key_id[17];

    OK(ei_registry_open(f->dir, false, &server, f->err, sizeof(f->err)));
    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    ei_principal_ref who;
    assert_int_equal(ei_registry_authenticate(server, "acme", key, &who), EI_AUTH_INVALID_KEY);
    assert_int_equal(ei_registry_reload(server), EI_OK);
    assert_int_equal(ei_registry_authenticate(server, "acme", key, &who), EI_AUTH_OK);
    ei_registry_close(server);
}

/* ---- Storage ---------------------------------------------------------------- */

static void database_holds_hash_not_secret(void **state) {
    fixture *f = *state;
    char key[EI_KEY_MAX], key_id[17], expected_hex[65];
    ei_key_info *keys = NULL;
    size_t count = 0;
    ei_buf bytes = {0};

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    const char *secret = key + 21;
    assert_int_equal(strlen(secret), 43);

    read_database_bytes(f, &bytes);
    assert_true(bytes.len > 0);
    assert_null(memmem(bytes.data, bytes.len, secret, strlen(secret)));
    assert_null(memmem(bytes.data, bytes.len, secret, 16)); /* not even a part of it */
    assert_non_null(memmem(bytes.data, bytes.len, key_id, 16));

    OK(ei_registry_key_list(f->registry, "acme", "billing", &keys, &count, f->err,
                            sizeof(f->err)));
    assert_int_equal(count, 1);
    sha256_hex(secret, expected_hex);
    assert_string_equal(keys[0].sha256_hex, expected_hex);
    assert_null(strstr(keys[0].sha256_hex, secret));
    assert_int_equal(keys[0].revoked_us, 0);
    free(keys);
    ei_buf_free(&bytes);
}

/* ---- Apply ------------------------------------------------------------------- */

static const char apply_document[] =
    "{\"tenants\": ["
    "  {\"id\": \"acme\", \"principals\": ["
    "    {\"name\": \"billing\", \"policies\": ["
    "      {\"action\": \"produce\", \"pattern\": \"cloud.open.*\"},"
    "      {\"action\": \"tombstone\", \"pattern\": \"cloud.open.a\"}]},"
    "    {\"name\": \"audit\", \"enabled\": false}]},"
    "  {\"id\": \"globex\", \"enabled\": false}"
    "]}";

static void apply_twice_changes_nothing_second_time(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;

    OK(apply(f, apply_document, false, &changes, &count));
    assert_int_equal(count, 6);
    assert_non_null(strstr(changes.data, "create tenant acme\n"));
    assert_non_null(strstr(changes.data, "create tenant globex (disabled)\n"));
    assert_non_null(strstr(changes.data, "create principal acme/audit (disabled)\n"));
    assert_non_null(strstr(changes.data, "grant produce on cloud.open.* to acme/billing\n"));
    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.b"));
    assert_true(may(f, "acme", "billing", EI_ACTION_TOMBSTONE, "cloud.open.a"));

    OK(apply(f, apply_document, false, &changes, &count));
    assert_int_equal(count, 0);
    assert_true(changes.len == 0);
    ei_buf_free(&changes);
}

static void apply_removes_grant_missing_from_file(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    const char *without_tombstone =
        "{\"tenants\": ["
        "  {\"id\": \"acme\", \"principals\": ["
        "    {\"name\": \"billing\", \"policies\": ["
        "      {\"action\": \"produce\", \"pattern\": \"cloud.open.*\"}]},"
        "    {\"name\": \"audit\", \"enabled\": false}]},"
        "  {\"id\": \"globex\", \"enabled\": false}"
        "]}";

    OK(apply(f, apply_document, false, &changes, &count));
    assert_true(may(f, "acme", "billing", EI_ACTION_TOMBSTONE, "cloud.open.a"));
    OK(apply(f, without_tombstone, false, &changes, &count));
    assert_int_equal(count, 1);
    assert_string_equal(changes.data, "revoke tombstone on cloud.open.a from acme/billing\n");
    assert_false(may(f, "acme", "billing", EI_ACTION_TOMBSTONE, "cloud.open.a"));
    assert_true(may(f, "acme", "billing", EI_ACTION_PRODUCE, "cloud.open.a"));
    ei_buf_free(&changes);
}

static void apply_deletes_what_file_omits(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    ei_tenant_info *tenants = NULL;

    OK(apply(f, apply_document, false, &changes, &count));
    OK(apply(f, "{\"tenants\": [{\"id\": \"globex\"}]}", false, &changes, &count));
    assert_non_null(strstr(changes.data, "delete tenant acme\n"));
    assert_non_null(strstr(changes.data, "enable tenant globex\n"));
    assert_int_equal(count, 2);
    OK(ei_registry_tenant_list(f->registry, &tenants, &count, f->err, sizeof(f->err)));
    assert_int_equal(count, 1);
    assert_string_equal(tenants[0].id, "globex");
    assert_true(tenants[0].enabled);
    free(tenants);
    ei_buf_free(&changes);
}

static void apply_dry_run_changes_nothing(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    ei_tenant_info *tenants = NULL;

    OK(apply(f, apply_document, true, &changes, &count));
    assert_int_equal(count, 6);
    OK(ei_registry_tenant_list(f->registry, &tenants, &count, f->err, sizeof(f->err)));
    assert_int_equal(count, 0);
    free(tenants);
    ei_buf_free(&changes);
}

static void apply_invalid_file_changes_nothing(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    ei_tenant_info *tenants = NULL;
    ei_policy_info *policies = NULL;
    /* Valid up to the last policy, and it would delete globex. */
    const char *bad_action =
        "{\"tenants\": ["
        "  {\"id\": \"acme\", \"principals\": ["
        "    {\"name\": \"billing\", \"policies\": ["
        "      {\"action\": \"produce\", \"pattern\": \"*\"}]}]},"
        "  {\"id\": \"initech\", \"principals\": ["
        "    {\"name\": \"svc\", \"policies\": ["
        "      {\"action\": \"produce\", \"pattern\": \"a\"},"
        "      {\"action\": \"produce\", \"pattern\": \"b\"},"
        "      {\"action\": \"publish\", \"pattern\": \"c\"}]}]}"
        "]}";
    const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {bad_action, "tenants[1].principals[0].policies[2].action: unknown action \"publish\"; "
                     "use \"produce\" or \"tombstone\""},
        {"{\"tenants\": [{\"id\": \"a b\"}]}", "tenants[0].id: invalid tenant id \"a b\""},
        {"{\"tenants\": [{\"id\": \"x\"}, {\"id\": \"x\"}]}",
         "tenants[1]: duplicate tenant id \"x\" (also at tenants[0])"},
        {"{\"tenants\": [{\"id\": \"x\", \"principals\": [{\"name\": \"p\", \"policies\": "
         "[{\"action\": \"produce\", \"pattern\": \"a*b\"}]}]}]}",
         "tenants[0].principals[0].policies[0].pattern: invalid pattern \"a*b\""},
        {"{\"tenants\": [{\"id\": \"x\", \"owner\": \"y\"}]}",
         "tenants[0]: unknown member \"owner\""},
        {"{\"tenants\": [{\"id\": \"x\", \"enabled\": \"yes\"}]}",
         "tenants[0].enabled: expected true or false"},
        {"{\"tenants\": [{\"id\": \"x\", \"principals\": [{\"name\": \"p\", \"keys\": "
         "[{\"id\": \"0123456789abcdef\", \"sha256\": \"00\"}]}]}]}",
         "tenants[0].principals[0].keys[0].sha256: expected 64 hex digits"},
        {"{\"tenants\": [}", "line 1, column 14: "},
        {"{}", "tenants: missing"},
    };

    OK(apply(f, apply_document, false, &changes, &count));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(apply(f, cases[i].json, false, &changes, &count), EI_ERR_INVALID);
        if (strncmp(f->err, cases[i].message, strlen(cases[i].message)) != 0)
            fail_msg("case %zu: got \"%s\", expected it to start with \"%s\"", i, f->err,
                     cases[i].message);
        assert_int_equal(count, 0);
    }

    OK(ei_registry_tenant_list(f->registry, &tenants, &count, f->err, sizeof(f->err)));
    assert_int_equal(count, 2);
    assert_string_equal(tenants[1].id, "globex");
    OK(ei_registry_policy_list(f->registry, "acme", "billing", &policies, &count, f->err,
                               sizeof(f->err)));
    assert_int_equal(count, 2);
    assert_string_equal(policies[0].pattern, "cloud.open.*");
    free(tenants);
    free(policies);
    ei_buf_free(&changes);
}

static void apply_adds_and_revokes_keys_by_hash(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    char hex[65], document[1024];
    const char *secret = "k8Jx3n0yV9bQ2mP5tR7wZ1cF4hL6sD8gA0eU3iO5pYq";
    const char *key = "eik_00000000000000a1_k8Jx3n0yV9bQ2mP5tR7wZ1cF4hL6sD8gA0eU3iO5pYq";

    sha256_hex(secret, hex);
    snprintf(document, sizeof(document),
             "{\"tenants\": [{\"id\": \"acme\", \"principals\": [{\"name\": \"billing\","
             " \"keys\": [{\"id\": \"00000000000000a1\", \"sha256\": \"%s\"}]}]}]}",
             hex);
    OK(apply(f, document, false, &changes, &count));
    assert_non_null(strstr(changes.data, "add key 00000000000000a1 to acme/billing\n"));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_OK);
    OK(apply(f, document, false, &changes, &count));
    assert_int_equal(count, 0);

    OK(apply(f, "{\"tenants\": [{\"id\": \"acme\", \"principals\": [{\"name\": \"billing\"}]}]}",
             false, &changes, &count));
    assert_string_equal(changes.data, "revoke key 00000000000000a1 of acme/billing\n");
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_INVALID_KEY);

    /* A revoked key cannot come back through the file. */
    assert_int_equal(apply(f, document, false, &changes, &count), EI_ERR_INVALID);
    assert_non_null(strstr(f->err, "was revoked"));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_INVALID_KEY);
    ei_buf_free(&changes);
}

static void apply_rejects_other_hash_for_known_key(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    char key[EI_KEY_MAX], key_id[17], document[1024];

    create_principal(f, "acme", "billing");
    create_key(f, "acme", "billing", key, key_id);
    snprintf(document, sizeof(document),
             "{\"tenants\": [{\"id\": \"acme\", \"principals\": [{\"name\": \"billing\","
             " \"keys\": [{\"id\": \"%s\", \"sha256\": \"%064d\"}]}]}]}",
             key_id, 0);
    assert_int_equal(apply(f, document, false, &changes, &count), EI_ERR_INVALID);
    assert_non_null(strstr(f->err, "keys[0].sha256: differs"));
    assert_null(strstr(f->err, key + 21));
    assert_int_equal(authenticate(f, "acme", key), EI_AUTH_OK);
    ei_buf_free(&changes);
}

/* ---- Command line ------------------------------------------------------------ */

static void cli_key_create_prints_key_last(void **state) {
    fixture *f = *state;
    ei_buf out = {0};

    assert_int_equal(run_cli(f, &out, "tenant", "create", "acme", NULL), 0);
    assert_int_equal(run_cli(f, &out, "principal", "create", "acme", "billing", NULL), 0);
    assert_int_equal(run_cli(f, &out, "key", "create", "acme", "billing", NULL), 0);
    assert_non_null(strstr(out.data, "shown once"));

    /* The last line is the key alone. */
    assert_true(out.len > 65);
    assert_int_equal(out.data[out.len - 1], '\n');
    char *last = out.data + out.len - 65;
    assert_int_equal(last[-1], '\n');
    last[64] = '\0';
    assert_memory_equal(last, "eik_", 4);
    ei_registry_reload(f->registry);
    assert_int_equal(authenticate(f, "acme", last), EI_AUTH_OK);
    last[64] = '\n';

    /* The listing shows the id but never the key. */
    char key_id[17];
    memcpy(key_id, last + 4, 16);
    key_id[16] = '\0';
    char secret[44];
    memcpy(secret, last + 21, 43);
    secret[43] = '\0';
    assert_int_equal(run_cli(f, &out, "key", "list", "acme", NULL), 0);
    assert_non_null(strstr(out.data, key_id));
    assert_null(strstr(out.data, secret));
    ei_buf_free(&out);
}

static void cli_exit_status_tells_failure_from_usage(void **state) {
    fixture *f = *state;
    ei_buf out = {0};

    assert_int_equal(run_cli(f, &out, "tenant", "disable", "nobody", NULL), 1);
    assert_int_equal(run_cli(f, &out, "tenant", "create", "acme", NULL), 0);
    assert_int_equal(run_cli(f, &out, "tenant", "create", "acme", NULL), 1);
    assert_int_equal(run_cli(f, &out, "tenant", "create", NULL), 2);
    assert_int_equal(run_cli(f, &out, "tenant", "create", "a b", NULL), 2);
    assert_int_equal(run_cli(f, &out, "tenant", "frobnicate", "acme", NULL), 2);
    assert_int_equal(run_cli(f, &out, "tenant", "create", "x", "--bogus", NULL), 2);
    assert_int_equal(run_cli(f, &out, "policy", "grant", "acme", "p", "publish", "*", NULL), 2);
    assert_int_equal(run_cli(f, &out, "policy", "grant", "acme", "p", "produce", "*", NULL), 1);
    assert_int_equal(run_cli(f, &out, "key", "revoke", "acme", "p", "not-an-id", NULL), 2);
    assert_int_equal(run_cli(f, &out, "key", "--help", NULL), 0);
    assert_non_null(strstr(out.data, "Usage: event-issuer key"));
    assert_int_equal(run_cli(f, &out, "tenant", "list", NULL), 0);
    assert_non_null(strstr(out.data, "acme"));
    ei_buf_free(&out);
}

static void cli_apply_twice_prints_no_changes(void **state) {
    fixture *f = *state;
    ei_buf out = {0};
    char path[128];

    snprintf(path, sizeof(path), "%s/registry.json", f->dir);
    FILE *file = fopen(path, "w");
    fputs(apply_document, file);
    fclose(file);

    assert_int_equal(run_cli(f, &out, "apply", path, "--dry-run", NULL), 0);
    assert_non_null(strstr(out.data, "dry run: 6 changes not applied\n"));
    assert_int_equal(run_cli(f, &out, "apply", path, NULL), 0);
    assert_non_null(strstr(out.data, "applied 6 changes\n"));
    assert_int_equal(run_cli(f, &out, "apply", path, NULL), 0);
    assert_string_equal(out.data, "no changes\n");
    ei_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(created_key_authenticates, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_secret_is_invalid_key, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_keys_are_invalid_key, setup, teardown),
        cmocka_unit_test_setup_teardown(absent_key_is_missing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_key_id_is_invalid_key, setup, teardown),
        cmocka_unit_test_setup_teardown(revoked_key_is_invalid_key, setup, teardown),
        cmocka_unit_test_setup_teardown(key_of_other_tenant_is_wrong_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_key_reveals_nothing_about_tenants, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(disabled_tenant_is_disabled_until_enabled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(disabled_principal_is_disabled_until_enabled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rotation_keeps_second_key_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_tenant_takes_keys_and_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicates_and_missing_names_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(key_given_as_name_stays_hidden, setup, teardown),
        cmocka_unit_test_setup_teardown(names_and_patterns_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(exact_pattern_matches_only_that_type, setup, teardown),
        cmocka_unit_test_setup_teardown(prefix_pattern_needs_a_further_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(star_pattern_matches_every_type, setup, teardown),
        cmocka_unit_test_setup_teardown(produce_grant_does_not_allow_tombstone, setup, teardown),
        cmocka_unit_test_setup_teardown(revoked_grant_and_disabled_principal_deny, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(watcher_sees_change_of_other_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(reload_picks_up_change_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(database_holds_hash_not_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_twice_changes_nothing_second_time, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_removes_grant_missing_from_file, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_deletes_what_file_omits, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_dry_run_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_invalid_file_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_adds_and_revokes_keys_by_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_rejects_other_hash_for_known_key, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_key_create_prints_key_last, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_exit_status_tells_failure_from_usage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cli_apply_twice_prints_no_changes, setup, teardown),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
