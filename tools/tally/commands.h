/* commands.h -- the tally tool's commands; each takes the whole argv
 * (argv[1] is the command's name) and returns the exit status. */
#ifndef TALLY_COMMANDS_H
#define TALLY_COMMANDS_H

int cmd_scripts(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_settle(int argc, char **argv);
int cmd_reserve(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_prices(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_trend(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_active(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_exporter(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
/* admission control */
int cmd_allow(int argc, char **argv);
int cmd_limits(int argc, char **argv);
int cmd_lease(int argc, char **argv);

#endif
