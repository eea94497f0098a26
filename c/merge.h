/* merge.h -- the records of a merged record call (struct tally_agg), shared
 * by the two halves of the record path's host side: aggregate.c merges events
 * into them, encode.c writes them as one call of lua/record.lua (wire.h).
 * Private to those two units. Layer: pure. */
#ifndef TALLY_MERGE_H
#define TALLY_MERGE_H

#include <stdint.h>

#include "keys.h"
#include "table.h"

/* Bucket periods (the hash a field lives in; P_IDS: request ids), field kinds
 * and entities. */
enum { P_TOTAL, P_MONTH, P_DAY, P_MINUTE, P_IDS = 7 };
enum { F_ALL, F_MODEL, F_HOUR, F_HOUR_MODEL, F_PRICE, F_UNPRICED, F_ACCOUNT, F_KEY };
enum { E_KEY, E_ACCOUNT, E_SHARD };

/* A hash's tuple: kind (entity) 2 bits | entity 24 bits | period 3 bits |
 * value 35 bits (month 202611, day 20261126, minute, idempotency slice). */
static inline uint64_t tally__tuple(unsigned kind, uint32_t entity, unsigned period, int64_t value) {
    return (uint64_t)kind << 62 | (uint64_t)(entity & 0xffffff) << 38 | (uint64_t)period << 35 |
           ((uint64_t)value & 0x7ffffffffull);
}
static inline unsigned tally__tuple_kind(uint64_t t) { return (unsigned)(t >> 62); }
static inline uint32_t tally__tuple_entity(uint64_t t) { return (uint32_t)(t >> 38) & 0xffffff; }
static inline unsigned tally__tuple_period(uint64_t t) { return (unsigned)(t >> 35) & 7; }
static inline int64_t tally__tuple_value(uint64_t t) { return (int64_t)(t & 0x7ffffffffull); }

/* An hour bucket's kind (its name starts with the hour's digits): written
 * while the hours of its day are kept, the others while the day is. */
static inline int tally__kind_is_hour(unsigned kind) { return kind == F_HOUR || kind == F_HOUR_MODEL; }

/* A field's code: kind F_* 3 bits, then for an hour its hour (5 bits) and for
 * a model's, an account's or an API key's field (F_ACCOUNT: "a:<account>",
 * F_KEY: "k:<key id>") the model's, account's or key's string index (`name`)
 * from bit 8; for F_PRICE the price table version from bit 3. */
static inline uint32_t tally__field_code(unsigned kind, int hour, uint32_t name, int64_t version) {
    if (kind == F_PRICE) return F_PRICE | (uint32_t)version << 3;
    return kind | (tally__kind_is_hour(kind) ? (uint32_t)hour << 3 : 0) |
           (kind == F_MODEL || kind == F_HOUR_MODEL || kind == F_ACCOUNT || kind == F_KEY ? name << 8 : 0);
}
static inline unsigned tally__code_kind(uint32_t c) { return c & 7; }
static inline unsigned tally__code_hour(uint32_t c) { return c >> 3 & 31; }
static inline uint32_t tally__code_name(uint32_t c) { return c >> 8; }
static inline int64_t tally__code_version(uint32_t c) { return (int64_t)(c >> 3); }

typedef struct { const char *s; uint32_t n, shard; } str;
typedef struct { uint64_t tuple; int64_t expiry, until, hours_until; uint32_t prune; } hash_rec;
typedef struct { uint32_t hash, code; int64_t d[6]; } field_rec;
typedef struct { uint64_t tuple; int64_t expiry; uint32_t nadd; } idhash_rec;
typedef struct { uint32_t hash; int add; unsigned char fp[TALLY_ID_ENTRY]; size_t event; } id_rec;

struct tally_agg {
    const tally_schema *schema;
    int64_t now_ms, latest_ms, total[7]; /* the call's sums: 6 counts, tokens */
    tally_vec strs, hours, hashes, fields, idhashes, ids, events, prunes;
    const tally_event *settle; /* the event whose reservations the call releases */
    int settle_mask;
    int timed; /* the call asks record.lua how long it ran (1, the default) */
    tally_map str_map, hour_map, hash_map, field_map, idhash_map;
    /* encoding */
    tally_vec order, start, deltas, delta_of, dup_events, text;
    tally_map delta_map;
};


#endif
