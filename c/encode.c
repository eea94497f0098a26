/* encode.c -- a merged record call (merge.h) written as one EVALSHA of
 * lua/record.lua: its keys, the call's numbers (wire.h: head, deltas, hashes,
 * id hashes) packed by wire.c, the field names in the order the numbers use
 * them, and the request-id lists; and the way back from
 * a "duplicate" answer to the events it names. Pure: no I/O. */
#include <string.h>

#include "encode.h"
#include "merge.h"
#include "wire.h"

static int same_delta(void *ctx, uint32_t i, const void *sought) {
    const field_rec *a = &AT(((tally_agg *)ctx)->fields, field_rec, AT(((tally_agg *)ctx)->deltas, uint32_t, i));
    return memcmp(a->d, sought, sizeof a->d) == 0;
}

/* Numbers the distinct deltas of the call, in first-use order: g->deltas
 * holds the field whose sums stand for each; each field's number goes to
 * delta_of. */
static int number(tally_agg *g, uint32_t *delta_of) {
    tally__map_clear(&g->delta_map);
    g->deltas.n = 0;
    for (size_t i = 0; i < g->fields.n; i++) {
        const int64_t *d = AT(g->fields, field_rec, i).d;
        uint32_t f = (uint32_t)i;
        uint32_t *slot = tally__map_find(&g->delta_map, tally__fnv64(TALLY_FNV64_BASIS, d, 6 * sizeof *d), same_delta, g, d);
        if (!slot || (!*slot && (tally__vec_push(&g->deltas, &f, sizeof f) < 0 || !(*slot = (uint32_t)g->deltas.n))))
            return -1;
        delta_of[i] = *slot;
    }
    return 0;
}

/* The entity part of a key ("<prefix>:v3:{k:<id>}:") of tuple t, into out. */
static size_t entity_of(const tally_agg *g, uint64_t t, char *out) {
    unsigned kind = tally__tuple_kind(t);
    uint32_t e = tally__tuple_entity(t);
    if (kind == E_SHARD) return tally__shard_entity(g->schema, e, out);
    const str *s = &AT(g->strs, str, e);
    return tally__entity(g->schema, kind == E_KEY ? TALLY_ENTITY_KEY : TALLY_ENTITY_ACCOUNT, s->s, s->n, out);
}

/* The period of a tuple's value: month 202611, day 20261126. */
static tally_period period_of(unsigned p, int64_t v) {
    if (p == P_MONTH) return (tally_period){ TALLY_MONTH, (int)(v / 100), (int)(v % 100), 0, 0 };
    if (p == P_DAY) return (tally_period){ TALLY_DAY, (int)(v / 10000), (int)(v / 100 % 100), (int)(v % 100), 0 };
    return (tally_period){ TALLY_TOTAL, 0, 0, 0, 0 };
}

/* The key of tuple t (a bucket hash, an id hash): built by keys.c. */
static int add_key(tally_agg *g, tally_args *a, uint64_t t) {
    char base[TALLY_ENTITY_MAX], suffix[64];
    size_t n = entity_of(g, t, base), sn;
    unsigned p = tally__tuple_period(t);
    int64_t v = tally__tuple_value(t);
    tally_period period = period_of(p, v);
    if (p == P_MINUTE) sn = tally__minute_suffix(v, suffix);
    else if (p == P_IDS) sn = tally__ids_suffix(v, suffix);
    else sn = tally__period_suffix(&period, suffix);
    return tally__args_cat(a, base, n, suffix, sn);
}

/* Writes the name of the field with code `code` ("_", "m:<model>",
 * "a:<account>", "k:<key id>", and for an hour "HH", "HHm:<model>", as keys.c
 * spells them). */
static int add_name(tally_agg *g, tally_args *a, uint32_t code) {
    unsigned f = tally__code_kind(code), hh = tally__code_hour(code);
    char pre[32];
    if (f == F_PRICE) return tally__args_add(a, pre, tally__field_price(tally__code_version(code), pre));
    if (f == F_UNPRICED) return tally__args_str(a, TALLY_FIELD_UNPRICED);
    if (f == F_ACCOUNT || f == F_KEY) {
        const str *s = &AT(g->strs, str, tally__code_name(code));
        const char *head = f == F_KEY ? TALLY_FIELD_KEY : TALLY_FIELD_ACCOUNT;
        return tally__args_cat(a, head, strlen(head), s->s, s->n);
    }
    tally_period hour = { tally__kind_is_hour(f) ? TALLY_HOUR : TALLY_DAY, 0, 0, 0, (int)hh };
    size_t pn = tally__field_prefix(&hour, f == F_MODEL || f == F_HOUR_MODEL, pre);
    if (f == F_ALL || f == F_HOUR) return tally__args_add(a, pre, pn);
    const str *s = &AT(g->strs, str, tally__code_name(code));
    return tally__args_cat(a, pre, pn, s->s, s->n);
}

static uint32_t field_owner(const void *g, size_t r) { return AT(((const tally_agg *)g)->fields, field_rec, r).hash; }
static uint32_t id_owner(const void *g, size_t r) { return AT(((const tally_agg *)g)->ids, id_rec, r).hash; }

/* Whether field f is an hour bucket (merge.h). */
static int hour_field(const tally_agg *g, uint32_t f) {
    return tally__kind_is_hour(tally__code_kind(AT(g->fields, field_rec, f).code));
}

/* Per hash, its fields in the call's order: the day fields, then the hour
 * fields (wire.h); fn(g, field, ctx) for each. */
static int each_field(tally_agg *g, size_t h, int (*fn)(tally_agg *, uint32_t, void *), void *ctx) {
    const uint32_t *start = g->start.p, *order = g->order.p;
    int err = 0;
    for (int hour = 0; hour <= 1; hour++)
        for (uint32_t i = start[h]; i < start[h + 1]; i++)
            if (hour_field(g, order[i]) == hour) err |= fn(g, order[i], ctx);
    return err;
}

static int put_delta(tally_agg *g, uint32_t f, void *v) { return tally__wire_num(v, AT(g->delta_of, uint32_t, f)); }
static int put_name(tally_agg *g, uint32_t f, void *a) { return add_name(g, a, AT(g->fields, field_rec, f).code); }

/* The call's numbers (wire.h) into g->text: head, deltas, hashes, id hashes. Each id hash's nadd is counted first: it decides the expiry.
 */
static int pack_numbers(tally_agg *g, int releases, size_t names) {
    tally_vec *v = &g->text;
    for (size_t j = 0; j < g->idhashes.n; j++) AT(g->idhashes, idhash_rec, j).nadd = 0;
    for (size_t i = 0; i < g->ids.n; i++) {
        const id_rec *r = &AT(g->ids, id_rec, i);
        AT(g->idhashes, idhash_rec, r->hash).nadd += (uint32_t)r->add;
    }
    const int64_t head[TALLY_WIRE_HEAD] = { g->latest_ms, g->schema->max_future_ms, (int64_t)g->hashes.n,
                                            (int64_t)g->idhashes.n, (int64_t)g->prunes.n, releases,
                                            (int64_t)g->deltas.n, (int64_t)names, g->timed ? 1 : 0 };
    int err = tally__wire_open(v);
    for (int i = 0; i < TALLY_WIRE_HEAD; i++) err |= tally__wire_num(v, head[i]);
    for (size_t d = 0; d < g->deltas.n; d++) {
        const int64_t *x = AT(g->fields, field_rec, AT(g->deltas, uint32_t, d)).d;
        for (int m = 0; m < TALLY_WIRE_DELTA; m++) err |= tally__wire_num(v, x[m]);
    }
    if (err || tally__vec_order_by(&g->order, &g->start, g->hashes.n, g->fields.n, field_owner, g) < 0) return -1;
    for (size_t h = 0; h < g->hashes.n; h++) {
        const hash_rec *hr = &AT(g->hashes, hash_rec, h);
        const uint32_t *start = g->start.p, *order = g->order.p;
        int64_t hours = 0;
        for (uint32_t i = start[h]; i < start[h + 1]; i++) hours += hour_field(g, order[i]);
        err |= tally__wire_num(v, hr->expiry) | tally__wire_num(v, hr->until) | tally__wire_num(v, hr->hours_until) |
               tally__wire_num(v, hr->prune) | tally__wire_num(v, start[h + 1] - start[h] - hours) |
               tally__wire_num(v, hours) | each_field(g, h, put_delta, v);
    }
    for (size_t j = 0; j < g->idhashes.n; j++) {
        const idhash_rec *ih = &AT(g->idhashes, idhash_rec, j);
        err |= tally__wire_num(v, ih->nadd ? ih->expiry : 0);
    }
    return err | tally__wire_close(v);
}

int tally__agg_encode(tally_agg *g, tally_args *a) {
    if (tally__vec_reserve(&g->delta_of, g->fields.n, sizeof(uint32_t)) < 0 || number(g, g->delta_of.p) < 0)
        return -1;
    int err = tally__args_script(a, TALLY_SCRIPT_RECORD);
    for (size_t h = 0; h < g->hashes.n; h++) err |= add_key(g, a, AT(g->hashes, hash_rec, h).tuple);
    for (size_t j = 0; j < g->idhashes.n; j++) err |= add_key(g, a, AT(g->idhashes, idhash_rec, j).tuple);
    for (size_t j = 0; j < g->prunes.n; j++) err |= add_key(g, a, AT(g->prunes, uint64_t, j));
    int releases = 0;
    if (g->settle) { /* the reservations hash and leases set of the key and the account */
        const tally_event *e = g->settle;
        char base[TALLY_ENTITY_MAX];
        size_t n;
        for (int en = E_KEY; en <= E_ACCOUNT; en++) {
            const char *id = en == E_KEY ? e->key : e->account;
            if (!(g->settle_mask & (en == E_KEY ? TALLY_AGG_KEY : TALLY_AGG_ACCOUNT)) || !id || !*id) continue;
            n = tally__entity(g->schema, en == E_KEY ? TALLY_ENTITY_KEY : TALLY_ENTITY_ACCOUNT, id, strlen(id), base);
            err |= tally__add_held_keys(a, base, n);
            releases++;
        }
    }
    tally__args_end_keys(a);
    if (err || pack_numbers(g, releases, g->fields.n) < 0) return -1;
    err |= tally__args_add(a, g->text.p, g->text.n);
    err |= releases ? tally__add_reservation_member(a, g->settle->key, g->settle->request_id) : tally__args_add(a, "", 0);
    /* the names: every hash's fields (the grouping of pack_numbers, still in
     * g->order) */
    for (size_t h = 0; h < g->hashes.n; h++) err |= each_field(g, h, put_name, a);
    /* the id lists last: their grouping stays for tally__agg_dup_event */
    if (err || tally__vec_order_by(&g->order, &g->start, g->idhashes.n, g->ids.n, id_owner, g) < 0 ||
        tally__vec_reserve(&g->dup_events, g->ids.n, sizeof(size_t)) < 0)
        return -1;
    const uint32_t *start = g->start.p, *order = g->order.p;
    size_t *events = g->dup_events.p;
    for (size_t j = 0; j < g->idhashes.n; j++) {
        size_t w = start[j];
        /* the fingerprints to add first, then those only to check */
        for (int add = 1; add >= 0; add--) {
            g->text.n = 0;
            for (uint32_t i = start[j]; i < start[j + 1]; i++) {
                const id_rec *r = &AT(g->ids, id_rec, order[i]);
                if (r->add != add) continue;
                err |= tally__text_add(&g->text, r->fp, TALLY_ID_ENTRY);
                events[w++] = r->event;
            }
            err |= tally__args_add(a, g->text.p, g->text.n);
        }
    }
    g->text.n = 0;
    return err ? -1 : 0;
}

size_t tally__agg_dup_event(const tally_agg *g, long long j, long long p) {
    if (j < 1 || (size_t)j > g->idhashes.n || p == 0) return (size_t)-1;
    const idhash_rec *ih = &AT(g->idhashes, idhash_rec, j - 1);
    const uint32_t *start = g->start.p;
    size_t n = start[j] - start[j - 1], at = p > 0 ? (size_t)(p - 1) : ih->nadd + (size_t)(-p - 1);
    if ((p > 0 && (size_t)p > ih->nadd) || at >= n) return (size_t)-1;
    return ((const size_t *)g->dup_events.p)[start[j - 1] + at];
}
