/* args.h -- command arguments, written straight into the RESP encoding of the
 * command ("$len\r\narg\r\n" each) in one growing buffer that the handle
 * reuses: a call costs no allocation once the buffers have grown to its size,
 * and no copy but the one into the connection's output buffer. Layer: bottom;
 * no I/O, no hiredis. */
#ifndef TALLY_ARGS_H
#define TALLY_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "scripts_gen.h"

/* Arguments are binary-safe; off[i] and lens[i] locate argument i's bytes in
 * buf. */
typedef struct tally_args {
    char *buf;
    size_t len, cap;
    size_t *off;
    size_t *lens;
    int argc, cap_argc;
    int nkeys_at;         /* argc when the keys ended, for EVALSHA's numkeys; -1 */
    size_t start;         /* where the finished command starts in buf; 0: not yet */
    int primary;          /* 1: an EVALSHA_RO that stays on the primary (below) */
} tally_args;

void tally__args_free(tally_args *a);
/* Writes u in decimal ending just before `end` (24 bytes suffice) and returns
 * where it starts; two digits per division, no locale, no printf. */
char *tally__utoa_end(uint64_t u, char *end);
void tally__args_reset(tally_args *a);
/* Each adder returns 0, or -1 when memory ran out (the builder stays usable). */
int tally__args_add(tally_args *a, const void *p, size_t n);
/* Adds one argument made of two parts, e.g. an entity base and a key suffix. */
int tally__args_cat(tally_args *a, const char *p1, size_t n1, const char *p2, size_t n2);
int tally__args_str(tally_args *a, const char *s);
int tally__args_i64(tally_args *a, int64_t v);
/* Starts an EVALSHA of embedded script `id` (TALLY_SCRIPT_*): keys follow, then
 * tally__args_end_keys(), then the script's ARGV. */
int tally__args_script(tally_args *a, int id);
/* The same with EVALSHA_RO, for a script flagged no-writes: Redis refuses it
 * if the script could write, and a cluster replica (after READONLY) runs it. */
int tally__args_script_ro(tally_args *a, int id);
/* The same, sent to the slot's primary even under TALLY_READ_REPLICA: a read
 * that must not see a replica's lag or a replica not synced yet (the price
 * table: an empty replica would read as no table, and every event as
 * unpriced). EVALSHA_RO needs only read access to the keys (docs/acl.md). */
int tally__args_script_ro_primary(tally_args *a, int id);
/* 1 when the command in `a` is an EVALSHA_RO (a read that a replica may serve). */
int tally__args_is_ro(const tally_args *a);
/* The same by command ("EVALSHA" or "EVALSHA_RO") and SHA1 (40 hex digits). */
int tally__args_evalsha(tally_args *a, const char *cmd, const char *sha1);
void tally__args_end_keys(tally_args *a);
/* The whole command in RESP: the bytes to send. Sets *n. Valid until the
 * builder is reset; calling it again returns the same bytes. */
const char *tally__args_resp(tally_args *a, size_t *n);
/* "running <command>" (its first 20 bytes) into buf of n bytes: what an error
 * message says the call was doing. */
void tally__args_doing(const tally_args *a, char *buf, size_t n);

#endif
