/* migrate.c -- tally_migrate: a key-schema v2 dataset converted to v3 in
 * place (docs/keys.md "Migrating from version 2"). The v2 keys are found with
 * SCAN MATCH on every primary and renamed, one entity (hash tag) a script
 * call (lua/migrate.lua); then each v2 requests board is read in pages, its
 * members' buckets of the period read from their keys' hashes (read.lua),
 * written as k: fields of the shard's hash of the period, and the period's
 * boards deleted, the boards of all time last (tally_open refuses the prefix
 * while one is left). Then each account's own buckets of all time, of a
 * month and of a day (v2 wrote them per event) are folded into its a: fields
 * of the shards' hashes where those fall short, its total and month hashes
 * deleted (v3 reads them from the shards), and the accounts marker set to 0
 * when every bucket was folded. Every step is idempotent, so a run cut short
 * is finished by the next. Layer: features. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "exec.h"
#include "keys.h"
#include "node.h"
#include "open.h"
#include "queries.h"

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
    name_list accounts;   /* v2 account buckets found: {a:ID}:t, :M:, :D: */
    int unfolded;         /* account buckets not folded: the marker stays */
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

/* Whether key (with its hash tag at tag) is an account's bucket hash of all
 * time, a month or a day. */
static int account_bucket(const char *tag) {
    const char *end = strchr(tag, '}'), *rest = end ? end + 2 : NULL;
    return tag[1] == 'a' && tag[2] == ':' && end && end[1] == ':' &&
           (strcmp(rest, "t") == 0 || strncmp(rest, "M:", 2) == 0 || strncmp(rest, "D:", 2) == 0);
}

/* The account buckets a run folds: in a dry run the v2 keys SCAN found (none
 * is renamed), else the v3 ones found after the renames (a run cut short
 * after them finds them too). */
static int take_account(run *m, const char *key, size_t n) {
    const char *tag = memchr(key, '{', n);
    if (tag == key + strlen(m->t->cfg.prefix) + 4 && account_bucket(tag) && push(&m->accounts, key, n))
        return tally__oom(m->t);
    return TALLY_OK;
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
    if (m->dry && take_account(m, key, n) != TALLY_OK) return m->t->err;
    if (push(board ? &m->boards : &m->pending, key, n)) return tally__oom(m->t);
    return m->pending.n >= m->per_call ? rename_pending(m) : TALLY_OK;
}

/* The prefix as a SCAN pattern: glob characters escaped, then tail. */
static size_t pattern(const char *prefix, const char *tail, char *out) {
    size_t o = 0;
    for (const char *p = prefix; *p; p++) {
        if (strchr("*?[]\\", *p)) out[o++] = '\\';
        out[o++] = *p;
    }
    strcpy(out + o, tail);
    return o + strlen(tail);
}

#define V2_KEYS ":v2:*"
#define V3_ACCOUNT_BUCKETS ":v3:{a:*}:[tMD]*"

/* SCANs primary node i for the keys of pattern tail, each handed to take. */
static int scan_node(run *m, int i, const char *tail, int (*found)(run *, const char *, size_t)) {
    tally *t = m->t;
    char pat[2 * 64 + 32], cursor[24] = "0";
    size_t pn = pattern(t->cfg.prefix, tail, pat);
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
                rc = found(m, keys->element[k]->str, keys->element[k]->len);
        freeReplyObject(r);
        if (rc != TALLY_OK) return rc;
    } while (strcmp(cursor, "0") != 0);
    return TALLY_OK;
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
    if (m->boards.n) qsort(m->boards.v, m->boards.n, sizeof *m->boards.v, by_period);
    for (size_t i = 0; i < m->boards.n; i++) {
        if (i && by_period(&m->boards.v[i - 1], &m->boards.v[i]) == 0) continue; /* its period is done */
        int rc = mark(m);
        if (rc == TALLY_OK) rc = period(m, m->boards.v[i]);
        if (rc != TALLY_OK) return rc;
    }
    return TALLY_OK;
}

/* The raw id of an encoded one (docs/keys.md: %XX for the bytes escaped)
 * into out[TALLY_ID_MAX + 1]; its length. */
static size_t decode(const char *enc, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n && o < TALLY_ID_MAX; i++) {
        unsigned v;
        if (enc[i] == '%' && i + 2 < n && sscanf(enc + i + 1, "%2X", &v) == 1) out[o++] = (char)v, i += 2;
        else out[o++] = enc[i];
    }
    out[o] = '\0';
    return o;
}

/* The name of a v3 key (a v2 one in a dry run: nothing is renamed yet). */
static void as_read(const run *m, char *key) {
    tally__key_at_version(&m->t->schema, key, m->dry ? 2 : 3);
}

/* Writes a bucket as six decimal integers into buf[160]. */
static void format_bucket(const tally_bucket *b, char *buf) {
    snprintf(buf, 160, "%lld,%lld,%lld,%lld,%lld,%lld", (long long)b->requests, (long long)b->input_tokens,
             (long long)b->output_tokens, (long long)b->cache_create_tokens, (long long)b->cache_read_tokens,
             (long long)b->cost_nanos);
}

/* Count i of a bucket, in the order of its text (requests, the four token
 * counts, cost). */
static int64_t *count(tally_bucket *b, int i) {
    int64_t *c[6] = { &b->requests, &b->input_tokens, &b->output_tokens, &b->cache_create_tokens,
                      &b->cache_read_tokens, &b->cost_nanos };
    return c[i];
}

/* Runs the migrate.lua call built in t->args and takes its integer answer
 * into *n. */
static int call_int(run *m, long long *n) {
    redisReply *r = call(m);
    if (!r) return m->t->err;
    int ok = r->type == REDIS_REPLY_INTEGER;
    *n = ok ? r->integer : 0;
    freeReplyObject(r);
    return ok ? TALLY_OK : tally__fail(m->t, TALLY_ESCRIPT, "migrate answered something unexpected");
}

/* Folds one account bucket (v2 key name `key`): the difference between its
 * own `_` and the sum of its a: fields over the shards' hashes of the period
 * is added to the field in the shard FNV-1a(account) mod shards; then its
 * total or month hash goes. A bucket whose fields exceed it in some count, or
 * whose fixed shard's hash of a month or day is gone, is left and counted. */
static int fold(run *m, const char *key) {
    tally *t = m->t;
    int shards = t->cfg.shards;
    char own[TALLY_ENTITY_MAX + 64], raw[TALLY_ID_MAX + 1], sk[TALLY_ENTITY_MAX + 64], base[TALLY_ENTITY_MAX];
    snprintf(own, sizeof own, "%s", key);
    as_read(m, own);
    const char *tag = strchr(own, '{'), *close = strchr(tag, '}'), *suffix = close + 2;
    size_t rn = decode(tag + 3, (size_t)(close - tag - 3), raw);
    int *chunk = calloc((size_t)shards + 2, sizeof *chunk);
    int err = !chunk || tally__args_script_ro_primary(&t->args, TALLY_SCRIPT_READ) | tally__args_str(&t->args, own);
    for (int i = 0; i < shards && !err; i++) {
        snprintf(sk, sizeof sk, "%.*s%s", (int)tally__shard_entity(&t->schema, (unsigned)i, base), base, suffix);
        as_read(m, sk);
        err |= tally__args_str(&t->args, sk);
    }
    tally__args_end_keys(&t->args);
    err |= tally__args_str(&t->args, "get") | tally__args_str(&t->args, "1") | tally__args_str(&t->args, "_");
    for (int i = 0; i < shards + 1; i++) chunk[i] = 2;
    for (int i = 0; i < shards && !err; i++)
        err |= tally__args_str(&t->args, "1") | tally__args_cat(&t->args, "a:", 2, raw, rn);
    tally_keyed k = { 0 };
    uint64_t calls = err ? 0 : calls_of(t);
    int rc = err ? tally__oom(t) : tally__eval_keyed(t, &t->args, 1, chunk, &k);
    free(chunk);
    if (rc != TALLY_OK) return rc;
    m->st->calls += calls;
    unsigned target = tally__shard_of(&t->schema, raw, rn);
    tally_bucket mine = { 0 }, sum = { 0 }, at_target = { 0 };
    int present = 0, target_present = 0;
    for (int i = 0; i < shards + 1 && rc == TALLY_OK; i++) {
        const redisReply *v = k.per_key[i];
        v = tally__reply_fits(v, 1, "s") ? v->element[0] : NULL;
        if (!v) continue;
        int got = tally__add_packed(i ? &sum : &mine, v->str, v->len);
        if (!got && i == (int)target + 1) got = tally__add_packed(&at_target, v->str, v->len), target_present = 1;
        if (got) rc = tally__packed_failed(t, got, i ? "the account's fields" : own);
        present |= !i;
    }
    tally__keyed_free(&k);
    if (rc != TALLY_OK || !present) return rc; /* its bucket expired: nothing to fold */
    int64_t d[6];
    int zero = 1, under = 0;
    for (int i = 0; i < 6; i++) {
        d[i] = *count(&mine, i) - *count(&sum, i);
        zero &= d[i] == 0;
        under |= d[i] < 0;
    }
    if (under) return m->unfolded++, m->st->skipped++, TALLY_OK;
    long long n = 1;
    if (!zero) {
        char expected[160] = "", next[160];
        if (target_present) format_bucket(&at_target, expected);
        for (int i = 0; i < 6; i++) *count(&at_target, i) += d[i];
        format_bucket(&at_target, next);
        snprintf(sk, sizeof sk, "%.*s%s", (int)tally__shard_entity(&t->schema, target, base), base, suffix);
        as_read(m, sk);
        if (tally__args_script(&t->args, TALLY_SCRIPT_MIGRATE) | tally__args_str(&t->args, sk) | start(m, "fold") |
            tally__args_cat(&t->args, "a:", 2, raw, rn) | tally__args_str(&t->args, expected) |
            tally__args_str(&t->args, next))
            return tally__oom(t);
        if ((rc = mark(m)) != TALLY_OK || (rc = call_int(m, &n)) != TALLY_OK) return rc;
        if (n < 0) return m->unfolded++, m->st->skipped++, TALLY_OK; /* the shard's hash is gone */
        m->st->fields++;
    }
    if (strcmp(suffix, "t") != 0 && strncmp(suffix, "M:", 2) != 0) return TALLY_OK; /* a day stays */
    if (tally__args_script(&t->args, TALLY_SCRIPT_MIGRATE) | tally__args_str(&t->args, own) | start(m, "drop"))
        return tally__oom(t);
    return mark(m) != TALLY_OK ? t->err : call_int(m, &n);
}

/* Every account bucket folded; then, if none was left, the accounts marker
 * says the shards' a: fields hold every event (0). */
static int accounts(run *m) {
    for (int i = 0; !m->dry && i < m->t->nodes->n; i++)
        if (!m->t->nodes->v[i].replica) {
            int rc = scan_node(m, i, V3_ACCOUNT_BUCKETS, take_account);
            if (rc != TALLY_OK) return rc;
        }
    for (size_t i = 0; i < m->accounts.n; i++) {
        int rc = fold(m, m->accounts.v[i]);
        if (rc != TALLY_OK) return rc;
    }
    if (m->unfolded || m->dry || !m->accounts.n) return TALLY_OK;
    char key[TALLY_ENTITY_MAX];
    size_t n = tally__accounts_key(&m->t->schema, key);
    long long done;
    if (tally__args_script(&m->t->args, TALLY_SCRIPT_MIGRATE) | tally__args_add(&m->t->args, key, n) |
        start(m, "complete"))
        return tally__oom(m->t);
    return call_int(m, &done);
}

int tally_migrate(tally *t, int dry_run, tally_migrate_stats *out) {
    tally_migrate_stats mine;
    run m = { t, dry_run != 0, dry_run != 0, 1, out ? out : &mine, { 0 }, { 0 }, { 0 }, 0, "" };
    memset(m.st, 0, sizeof *m.st);
    if (t->cfg.max_script_us / MIGRATE_ITEM_US > 1) m.per_call = (size_t)(t->cfg.max_script_us / MIGRATE_ITEM_US);
    int rc = check_target(&m);
    for (int i = 0; rc == TALLY_OK && i < t->nodes->n; i++) /* the keys of its slots */
        if (!t->nodes->v[i].replica && (rc = scan_node(&m, i, V2_KEYS, take)) == TALLY_OK) rc = rename_pending(&m);
    if (rc == TALLY_OK && m.st->left)
        rc = tally__fail(t, TALLY_EINVAL,
                         "%llu v2 keys were left (first: %s): the v3 name exists (something wrote v3 keys "
                         "during the migration), or it is no key of tally's; stop that, move them away and run "
                         "it again",
                         (unsigned long long)m.st->left, m.left);
    if (rc == TALLY_OK) rc = boards(&m);
    if (rc == TALLY_OK) rc = accounts(&m);
    clear(&m.pending), clear(&m.boards), clear(&m.accounts);
    free(m.pending.v), free(m.boards.v), free(m.accounts.v);
    return rc == TALLY_OK ? tally__ok(t) : rc;
}
