/* migrate.c -- tally_migrate: a key-schema v2 dataset converted to v3 in
 * place (docs/keys.md "Migrating from version 2"). The v2 keys are found with
 * SCAN MATCH on every primary and renamed, one entity (hash tag) a script
 * call (lua/migrate.lua); then each v2 requests board is read in pages, its
 * members' buckets of the period read from their keys' hashes (read.lua),
 * written as k: fields of the shard's hash of the period, and the period's
 * boards deleted, the boards of all time last (tally_open refuses the prefix
 * while one is left). Every step is idempotent, so a run cut short is
 * finished by the next. Layer: features. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "exec.h"
#include "keys.h"
#include "node.h"
#include "open.h"

/* Redis time reckoned per key renamed or bucket read and written: a call
 * takes about max_script_us / MIGRATE_ITEM_US of them. */
#define MIGRATE_ITEM_US 5
#define SCAN_COUNT "1000"

typedef struct {
    char **v;
    size_t n, cap;
} name_list;

typedef struct {
    tally *t;
    int dry;
    int marked;           /* the mark is stored (or a dry run would store it) */
    size_t per_call;      /* keys renamed, or members read, per call */
    tally_migrate_stats *st;
    name_list pending;    /* v2 keys to rename with the next call */
    name_list boards;     /* v2 leaderboards found */
    char left[TALLY_ENTITY_MAX + 64]; /* the first key left under v2 */
} run;

static int push(name_list *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v, l->cap = cap;
    }
    char *c = malloc(n + 1);
    if (!c) return -1;
    memcpy(c, s, n);
    c[n] = '\0';
    l->v[l->n++] = c;
    return 0;
}

static void clear(name_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    l->n = 0;
}

/* Runs the migrate.lua call built in t->args on one entity: the reply (not an
 * error), or NULL with the handle's error set. */
static redisReply *call(run *m) {
    m->st->calls++;
    return tally__eval(m->t, &m->t->args);
}

/* The script calls a call built in t->args makes: one on a single server,
 * one per slot of its keys on a cluster (tally__eval_keyed). */
static uint64_t calls_of(const tally *t) {
    const tally_args *a = &t->args;
    if (!tally__is_cluster(t)) return 1;
    unsigned char seen[TALLY_SLOTS / 8] = { 0 };
    uint64_t n = 0;
    for (int i = 3; i < a->nkeys_at; i++) {
        unsigned slot = tally__key_slot(a->buf + a->off[i], a->lens[i]);
        if (!(seen[slot / 8] & (1u << (slot % 8)))) n++;
        seen[slot / 8] |= (unsigned char)(1u << (slot % 8));
    }
    return n;
}

static int start(run *m, const char *mode) {
    tally__args_end_keys(&m->t->args);
    return tally__args_str(&m->t->args, mode) | tally__args_str(&m->t->args, m->dry ? "1" : "0");
}

/* Refuses a prefix that holds v3 data the migration did not make: its
 * parameters or price table without the mark. */
static int check_target(run *m) {
    tally *t = m->t;
    char key[1][TALLY_ENTITY_MAX];
    for (int i = 0; i < 3; i++) {
        int found;
        if (i == 0) tally__migrated_key(&t->schema, key[0]);
        else if (i == 1) tally__schema_key(&t->schema, key[0]);
        else tally__prices_key(&t->schema, key[0]);
        int rc = tally__exists(t, key, 1, &found);
        if (rc != TALLY_OK) return rc;
        if (found < 0) return tally__fail(t, TALLY_ECONNECT, "cannot check %s (its node is down, or NOPERM)", key[0]);
        if (found && i == 0) return m->marked = 1, TALLY_OK;
        if (found)
            return tally__fail(t, TALLY_EINVAL,
                               "prefix '%s' holds key-schema v3 data that no migration made (%s exists): "
                               "migrating v2 into it would mix two datasets; move one of them to another prefix",
                               t->cfg.prefix, key[0]);
    }
    return TALLY_OK;
}

/* Stores the mark before the first write. */
static int mark(run *m) {
    if (m->marked) return TALLY_OK;
    char key[TALLY_ENTITY_MAX];
    size_t n = tally__migrated_key(&m->t->schema, key);
    if (tally__args_script(&m->t->args, TALLY_SCRIPT_MIGRATE) | tally__args_add(&m->t->args, key, n) |
        start(m, "mark"))
        return tally__oom(m->t);
    redisReply *r = call(m);
    if (!r) return m->t->err;
    freeReplyObject(r);
    m->marked = 1;
    return TALLY_OK;
}

/* Counts a key left under v2, naming the first. */
static void keep(run *m, const char *key) {
    if (!m->st->left++) snprintf(m->left, sizeof m->left, "%s", key);
}

/* Renames the pending keys: one call per slot. */
static int rename_pending(run *m) {
    tally *t = m->t;
    if (!m->pending.n) return TALLY_OK;
    int rc = mark(m);
    int *chunk = calloc(2 * m->pending.n, sizeof *chunk);
    int err = !chunk || tally__args_script(&t->args, TALLY_SCRIPT_MIGRATE);
    for (size_t i = 0; i < m->pending.n && !err; i++) {
        char *src = m->pending.v[i];
        size_t n = strlen(src);
        err |= tally__args_add(&t->args, src, n);
        tally__key_at_version(&t->schema, src, 3);
        err |= tally__args_add(&t->args, src, n);
        tally__key_at_version(&t->schema, src, 2);
    }
    err |= start(m, "rename");
    tally_keyed k = { 0 };
    uint64_t calls = err ? 0 : calls_of(t);
    if (rc == TALLY_OK) rc = err ? tally__oom(t) : tally__eval_keyed(t, &t->args, 2, chunk, &k);
    if (rc == TALLY_OK) m->st->calls += calls;
    for (size_t i = 0; rc == TALLY_OK && i < m->pending.n; i++) {
        const redisReply *e = k.per_key[2 * i];
        if (e->type != REDIS_REPLY_INTEGER) rc = tally__fail(t, TALLY_ESCRIPT, "migrate answered something unexpected");
        else if (e->integer == 1) m->st->renamed++;
        else if (e->integer < 0) keep(m, m->pending.v[i]);
    }
    tally__keyed_free(&k);
    free(chunk);
    clear(&m->pending);
    return rc;
}

/* Takes one key SCAN found: a board is kept for later, any other key waits
 * for the next rename call; a key of no entity (not tally's) is left. */
static int take(run *m, const char *key, size_t n) {
    const char *tag = memchr(key, '{', n);
    if (tag != key + strlen(m->t->cfg.prefix) + 4 || !memchr(tag, '}', n - (size_t)(tag - key))) {
        keep(m, key);
        return TALLY_OK;
    }
    const char *at = strstr(tag, "}:L"); /* a board: {s:N}:L<c|k|r>:<period> */
    int board = tag[1] == 's' && tag[2] == ':' && at && at[3] && strchr("ckr", at[3]) && at[4] == ':';
    if (push(board ? &m->boards : &m->pending, key, n)) return tally__oom(m->t);
    return m->pending.n >= m->per_call ? rename_pending(m) : TALLY_OK;
}

/* The prefix as a SCAN pattern: glob characters escaped, then ":v2:*". */
static size_t pattern(const char *prefix, char *out) {
    size_t o = 0;
    for (const char *p = prefix; *p; p++) {
        if (strchr("*?[]\\", *p)) out[o++] = '\\';
        out[o++] = *p;
    }
    memcpy(out + o, ":v2:*", 6);
    return o + 5;
}

/* SCANs primary node i for v2 keys and renames them as they come. */
static int scan_node(run *m, int i) {
    tally *t = m->t;
    char pat[2 * 64 + 8], cursor[24] = "0";
    size_t pn = pattern(t->cfg.prefix, pat);
    do {
        tally__args_reset(&t->aux);
        if (tally__args_str(&t->aux, "SCAN") | tally__args_str(&t->aux, cursor) | tally__args_str(&t->aux, "MATCH") |
            tally__args_add(&t->aux, pat, pn) | tally__args_str(&t->aux, "COUNT") | tally__args_str(&t->aux, SCAN_COUNT))
            return tally__oom(t);
        redisReply *r = tally__node_command(t, i, &t->aux);
        if (!r) return t->err;
        if (r->type == REDIS_REPLY_ERROR) {
            int rc = tally__reply_error(t, r);
            freeReplyObject(r);
            return rc;
        }
        if (!tally__reply_fits(r, 2, "sa") || r->element[0]->len >= sizeof cursor) {
            freeReplyObject(r);
            return tally__fail(t, TALLY_EIO, "SCAN answered something unexpected");
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        const redisReply *keys = r->element[1];
        int rc = TALLY_OK;
        for (size_t k = 0; k < keys->elements && rc == TALLY_OK; k++)
            if (keys->element[k]->type == REDIS_REPLY_STRING)
                rc = take(m, keys->element[k]->str, keys->element[k]->len);
        freeReplyObject(r);
        if (rc != TALLY_OK) return rc;
    } while (strcmp(cursor, "0") != 0);
    return rename_pending(m);
}

/* A board's parts: where "}:L" is (its entity ends 2 bytes after), and its
 * period (after "}:Lx:"). */
static const char *board_period(const char *board, size_t *entity_n) {
    const char *at = strstr(board, "}:L");
    *entity_n = (size_t)(at - board) + 2;
    return at + 5;
}

/* The board of metric m ('r', 'c', 'k') of board's shard and period. */
static void sibling(const char *board, char m, char *out, size_t cap) {
    size_t en;
    const char *period = board_period(board, &en);
    snprintf(out, cap, "%.*sL%c:%s", (int)en, board, m, period);
}

/* Boards of one shard and period together, every shard's "t" last (open
 * refuses the prefix while a v2 board of all time is left). */
static int by_period(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t xn, yn;
    const char *xp = board_period(x, &xn), *yp = board_period(y, &yn);
    int xt = strcmp(xp, "t") == 0, yt = strcmp(yp, "t") == 0;
    if (xt != yt) return xt - yt;
    int c = strcmp(xp, yp);
    if (c) return c;
    return xn != yn ? (xn < yn ? -1 : 1) : memcmp(x, y, xn);
}

/* Reads the buckets of the members' keys of the period (dry run: under v2,
 * not renamed yet) into *k: one key per member. */
static int read_buckets(run *m, const redisReply *members, const char *period, tally_keyed *k) {
    tally *t = m->t;
    size_t pn = strlen(period);
    int *chunk = calloc(members->elements + 1, sizeof *chunk);
    int err = !chunk || tally__args_script_ro_primary(&t->args, TALLY_SCRIPT_READ);
    for (size_t i = 0; i < members->elements && !err; i++) {
        const redisReply *e = members->element[i];
        char key[TALLY_ENTITY_MAX + 32];
        size_t n = tally__entity(&t->schema, TALLY_ENTITY_KEY, e->str, e->len, key);
        memcpy(key + n, period, pn + 1);
        if (m->dry) tally__key_at_version(&t->schema, key, 2);
        err |= tally__args_add(&t->args, key, n + pn);
        chunk[i] = 2;
    }
    tally__args_end_keys(&t->args);
    err |= tally__args_str(&t->args, "get");
    for (size_t i = 0; i < members->elements && !err; i++)
        err |= tally__args_str(&t->args, "1") | tally__args_str(&t->args, "_");
    uint64_t calls = err ? 0 : calls_of(t);
    int rc = err ? tally__oom(t) : tally__eval_keyed(t, &t->args, 1, chunk, k);
    free(chunk);
    if (rc == TALLY_OK) m->st->calls += calls;
    return rc;
}

/* Adds the fill call's keys: the shard's hash of the period (v3; v2 in a
 * dry run), then the period's three v2 boards. */
static int fill_keys(run *m, const char *board) {
    tally *t = m->t;
    size_t en;
    const char *period = board_period(board, &en);
    char key[TALLY_ENTITY_MAX + 32];
    memcpy(key, board, en);
    strcpy(key + en, period);
    if (!m->dry) tally__key_at_version(&t->schema, key, 3);
    int err = tally__args_str(&t->args, key);
    for (const char *c = "rck"; *c; c++) {
        sibling(board, *c, key, sizeof key);
        err |= tally__args_str(&t->args, key);
    }
    return err;
}

/* One page of a shard's period: its members' buckets as k: fields; with
 * last, the boards go too. */
static int fill(run *m, const char *board, const redisReply *members, const tally_keyed *k, int last) {
    tally *t = m->t;
    int err = tally__args_script(&t->args, TALLY_SCRIPT_MIGRATE) | fill_keys(m, board) | start(m, "fill");
    err |= tally__args_str(&t->args, last ? "1" : "0");
    size_t given = 0;
    for (size_t i = 0; i < members->elements && !err; i++) {
        const redisReply *v = k->per_key[i];
        v = tally__reply_fits(v, 1, "s") ? v->element[0] : NULL;
        if (!v) {
            m->st->skipped++;
            continue;
        }
        err |= tally__args_cat(&t->args, "k:", 2, members->element[i]->str, members->element[i]->len);
        err |= tally__args_add(&t->args, v->str, v->len);
        given++;
    }
    if (err) return tally__oom(t);
    redisReply *r = call(m);
    if (!r) return t->err;
    int rc = TALLY_OK;
    if (!tally__reply_fits(r, 2, "ii")) rc = tally__fail(t, TALLY_ESCRIPT, "migrate answered something unexpected");
    else if (r->element[0]->integer < 0) m->st->skipped += given;
    else m->st->fields += (uint64_t)r->element[0]->integer;
    if (rc == TALLY_OK) m->st->boards += (uint64_t)r->element[1]->integer;
    freeReplyObject(r);
    return rc;
}

/* A shard's period: its requests board read in pages of per_call members. */
static int period(run *m, const char *board) {
    tally *t = m->t;
    size_t en;
    const char *per = board_period(board, &en);
    char lr[TALLY_ENTITY_MAX + 32];
    sibling(board, 'r', lr, sizeof lr);
    for (size_t first = 0;; first += m->per_call) {
        int err = tally__args_script(&t->args, TALLY_SCRIPT_MIGRATE) | tally__args_str(&t->args, lr) |
                  start(m, "page") | tally__args_i64(&t->args, (int64_t)first) |
                  tally__args_i64(&t->args, (int64_t)m->per_call);
        if (err) return tally__oom(t);
        redisReply *page = call(m);
        if (!page) return t->err;
        int rc = TALLY_OK, last = page->elements < m->per_call;
        tally_keyed k = { 0 };
        if (!tally__reply_fits(page, page->elements, "s"))
            rc = tally__fail(t, TALLY_ESCRIPT, "migrate answered something unexpected");
        if (rc == TALLY_OK && page->elements) rc = read_buckets(m, page, per, &k);
        if (rc == TALLY_OK) rc = fill(m, board, page, &k, last);
        tally__keyed_free(&k);
        freeReplyObject(page);
        if (rc != TALLY_OK || last) return rc;
    }
}

static int boards(run *m) {
    qsort(m->boards.v, m->boards.n, sizeof *m->boards.v, by_period);
    for (size_t i = 0; i < m->boards.n; i++) {
        if (i && by_period(&m->boards.v[i - 1], &m->boards.v[i]) == 0) continue; /* its period is done */
        int rc = mark(m);
        if (rc == TALLY_OK) rc = period(m, m->boards.v[i]);
        if (rc != TALLY_OK) return rc;
    }
    return TALLY_OK;
}

int tally_migrate(tally *t, int dry_run, tally_migrate_stats *out) {
    tally_migrate_stats mine;
    run m = { t, dry_run != 0, dry_run != 0, 1, out ? out : &mine, { 0 }, { 0 }, "" };
    memset(m.st, 0, sizeof *m.st);
    if (t->cfg.max_script_us / MIGRATE_ITEM_US > 1) m.per_call = (size_t)(t->cfg.max_script_us / MIGRATE_ITEM_US);
    int rc = check_target(&m);
    for (int i = 0; rc == TALLY_OK && i < t->nodes->n; i++) /* the keys of its slots */
        if (!t->nodes->v[i].replica) rc = scan_node(&m, i);
    if (rc == TALLY_OK && m.st->left)
        rc = tally__fail(t, TALLY_EINVAL,
                         "%llu v2 keys were left (first: %s): the v3 name exists (something wrote v3 keys "
                         "during the migration), or it is no key of tally's; stop that, move them away and run "
                         "it again",
                         (unsigned long long)m.st->left, m.left);
    if (rc == TALLY_OK) rc = boards(&m);
    clear(&m.pending), clear(&m.boards);
    free(m.pending.v), free(m.boards.v);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}
