/* keys.h -- the key schema, in one place: every key name, hash tag, shard
 * choice, period suffix and bucket field the library sends is built by keys.c
 * (docs/keys.md describes it; tests/test_keys.c checks the two agree).
 * Layer: pure; no I/O, no hiredis.
 *
 * Every key is  <prefix>:v3:{<kind>:<encoded id>}:<rest>  -- an entity base
 * (tally__entity) followed by a suffix built here. */
#ifndef TALLY_KEYS_H
#define TALLY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "tally.h"

/* The schema context: the parameters that decide which key and bucket an
 * event lands in and when they expire, built from the configuration at
 * tally_open and owned by the handle (t->schema). The pure units (keys.c,
 * aggregate.c, group.c) read it through a const pointer, never the handle. */
typedef struct tally_schema {
    const char *prefix;      /* the handle's copy of cfg.prefix */
    int shards;
    int tz_offset_min;
    int64_t ttl_minute_s, ttl_hour_s, ttl_day_s, ttl_month_s;
    int64_t idempotency_s;   /* the request-id window */
    int64_t max_future_ms;   /* how far ahead an event time may lie */
} tally_schema;

/* The context of configuration cfg (checked before). */
tally_schema tally__schema_of(const tally_config *cfg);

/* Ids are 1..TALLY_ID_MAX bytes of valid UTF-8 without control characters. */
#define TALLY_ID_MAX 256
#define TALLY_ENTITY_MAX (64 + 10 + 3 * TALLY_ID_MAX)

/* Entity kinds: the letter inside the hash tag. */
enum { TALLY_ENTITY_KEY = 'k', TALLY_ENTITY_ACCOUNT = 'a', TALLY_ENTITY_SHARD = 's', TALLY_ENTITY_PRICES = 'p',
       TALLY_ENTITY_CONFIG = 'c' };

/* Fixed suffixes and fields. */
#define TALLY_SUFFIX_TOTAL "t"            /* all-time bucket hash */
#define TALLY_FIELD_ENTITY "_"            /* the entity's own bucket in a hash */
#define TALLY_FIELD_MODEL "m:"            /* + model name: a model's bucket */
#define TALLY_FIELD_ACCOUNT "a:"          /* + account id: its bucket in a shard's hash */
#define TALLY_FIELD_KEY "k:"              /* + API key id: its bucket in its shard's hash */
#define TALLY_FIELD_PRICE "p:"            /* + version: what that price table priced */
#define TALLY_FIELD_UNPRICED "p:none"     /* events recorded unpriced (TALLY_UNPRICED) */
#define TALLY_FIELD_VERSION "version"     /* the price table's version */

/* 0 when id is a valid id, or -1 with a message naming `what` and the problem
 * in msg (cap bytes); thread-safe (tally__id_check, handle.h, sets it as the
 * handle's error). */
int tally__id_problem(const char *what, const char *id, size_t n, char *msg, size_t cap);
/* Writes "<prefix>:v3:{<kind>:<encoded id>}:" into out (TALLY_ENTITY_MAX
 * bytes) and returns its length. */
size_t tally__entity(const tally_schema *s, char kind, const char *id, size_t n, char *out);
/* The shard of the shared aggregates an API key feeds: FNV-1a-32 of its id
 * bytes, mod s->shards. */
unsigned tally__shard_of(const tally_schema *s, const char *key, size_t n);
/* The entity base of shard `shard`, as tally__entity. */
size_t tally__shard_entity(const tally_schema *s, unsigned shard, char *out);
/* Turns key (built by this unit) into the same name in key schema `version`
 * (1..9), in place: "<prefix>:v<version>:{...". The keys of older versions
 * that open.c looks for and migrate.c converts. */
void tally__key_at_version(const tally_schema *s, char *key, int version);
/* The key schema version a key under the prefix names (its digit after
 * "<prefix>:v"). */
int tally__key_version(const tally_schema *s, const char *key);
/* Adds one key per shard, "<shard base><suffix>", to `a`. 0, or -1 (memory). */
int tally__add_shard_keys(const tally_schema *s, tally_args *a, const char *suffix, size_t n);

/* An entity's budget reservations: "<base>B" (hash) and "<base>Bx" (sorted
 * set of their leases), added to `a`. 0, or -1 (memory). */
int tally__add_held_keys(tally_args *a, const char *base, size_t n);
/* The member naming a reservation in those two keys, added to `a`: the API
 * key id, byte 0x1F, the request id (a request id belongs to its key, so keys
 * of one account that reuse an id hold apart). Both ids checked before.
 * 0, or -1 (memory). */
int tally__add_reservation_member(tally_args *a, const char *key, const char *request_id);
/* A subject's concurrency leases: "<base>ls" (sorted set), added to `a`.
 * 0, or -1 (memory). */
int tally__add_lease_key(tally_args *a, const char *base, size_t n);

/* The price table hash, "<prefix>:v3:{p:prices}:P" (its own slot), into
 * out (TALLY_ENTITY_MAX bytes); returns the length. Fields: "version" and
 * "m:<model>" (lua/prices.lua). */
size_t tally__prices_key(const tally_schema *s, char *out);

/* The schema's parameters, "<prefix>:v3:{c:schema}:S" (a string in its own
 * slot, never expiring; schema.c), into out (TALLY_ENTITY_MAX bytes); returns
 * the length. */
size_t tally__schema_key(const tally_schema *s, char *out);
/* The day from which the shards' hashes hold every event's account fields,
 * "<prefix>:v3:{c:schema}:A" (a string in the schema key's slot; schema.c),
 * into out (TALLY_ENTITY_MAX bytes); returns the length. */
size_t tally__accounts_key(const tally_schema *s, char *out);
/* The mark of a migration from key schema v2, "<prefix>:v3:{c:schema}:F" (a
 * string in the schema key's slot, never expiring; migrate.c), into out
 * (TALLY_ENTITY_MAX bytes); returns the length. */
size_t tally__migrated_key(const tally_schema *s, char *out);
/* Suffixes; each returns its length. */
/* A period's bucket hash into buf[24]: "t", "M:202611", "D:20261126", and
 * the day's hash for hours too (since schema v2: the hour is a field of it). */
size_t tally__period_suffix(const tally_period *p, char *buf);
/* The system minute bucket into buf[32]: "n:<epoch minute>". */
size_t tally__minute_suffix(int64_t minute, char *buf);
/* The request ids of one idempotency slice into buf[32]: "i:<slice>". */
size_t tally__ids_suffix(int64_t slice, char *buf);
/* A rate-limit rule's state into buf[64]: "rl:<r|t|c>:<algo>:<window ms>", and
 * with `sum` the sliding log's sum and sequence hash ("...:s"). */
size_t tally__limit_suffix(int counts, const char *algo, int64_t window_ms, int sum, char *buf);

/* Fields. */
/* The start of a bucket's field in a period's hash into buf[8]: "_" or "m:"
 * (the model name follows); "HH" or "HHm:" for an hour (in its day's hash). */
size_t tally__field_prefix(const tally_period *p, int per_model, char *buf);
/* The bucket field of the events priced by price table `version` into
 * buf[32]: "p:<version>". */
size_t tally__field_price(int64_t version, char *buf);
/* The model name inside a model's field of a total, month or day hash (its
 * mn bytes), or NULL when `field` is not a model's. */
const char *tally__field_model(const char *field, size_t n, size_t *mn);
/* The same for a price version's field ("p:<version>"): its digits. */
const char *tally__field_price_version(const char *field, size_t n, size_t *vn);
/* The same for an account's field of a shard's hash ("a:<account>"). */
const char *tally__field_account(const char *field, size_t n, size_t *an);
/* The same for an API key's field of a shard's hash ("k:<key id>"). */
const char *tally__field_key(const char *field, size_t n, size_t *kn);
/* A request id's entry in record.lua's id lists, TALLY_ID_ENTRY bytes: its
 * field in an ids hash, the first TALLY_ID_FIELD bytes of the SHA-256 of the id
 * (of key 0x1f id when `scoped`, for hashes shared by several keys), then the
 * TALLY_ID_FIELD_V0 bytes of the field that tally before 16-byte fingerprints
 * wrote (FNV-1a-64 of the same bytes, big-endian), which the script only
 * checks, so that an id recorded before an upgrade stays a duplicate after it
 * (docs/keys.md, "Idempotency"). The only place request ids are
 * fingerprinted. */
#define TALLY_ID_FIELD 16
#define TALLY_ID_FIELD_V0 8
#define TALLY_ID_ENTRY (TALLY_ID_FIELD + TALLY_ID_FIELD_V0)
void tally__id_field(const char *key, const char *request_id, int scoped, unsigned char out[TALLY_ID_ENTRY]);

#endif
