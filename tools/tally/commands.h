/* commands.h -- the tally tool's commands; each takes the whole argv
 * (argv[1] is the command's name) and returns the exit status. */
#ifndef TALLY_COMMANDS_H
#define TALLY_COMMANDS_H

int cmd_scripts(int argc, char **argv);
/* admission control */
int cmd_allow(int argc, char **argv);
int cmd_limits(int argc, char **argv);
int cmd_lease(int argc, char **argv);

#endif
