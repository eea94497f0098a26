/* scripts.h -- the embedded scripts' life on one node: SCRIPT LOAD with SHA
 * checks, SCRIPT EXISTS, SCRIPT FLUSH, and preparing new connections. */
#ifndef TALLY_SCRIPTS_H
#define TALLY_SCRIPTS_H

#include "node.h"

/* Loads every script on connected node i (pipelined) and checks each SHA. */
int tally__scripts_load_on(tally *t, int i);
/* Connects node i and, when the connection is new, loads the scripts there
 * (unless cfg.defer_script_load). TALLY_OK or the error. */
int tally__scripts_ready(tally *t, int i);
/* SCRIPT FLUSH on node i. */
int tally__scripts_flush_on(tally *t, int i);

#endif
