/* Read-only commands of the command line for the embedded event log. */
#ifndef EI_CLI_H
#define EI_CLI_H

/* Runs `event-issuer log ...`; argv[0] is "log". Returns the exit status. */
int ei_cli_log(int argc, char **argv);

#endif
