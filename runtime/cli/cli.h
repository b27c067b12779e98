/* The command-line layer: parses arguments, calls the libraries, prints.
 * Only main() turns an error into a message and an exit code. */
#ifndef VCE_CLI_H
#define VCE_CLI_H

#include <stdio.h>

#include "../../common/common.h"
#include "../../oci/oci.h"

struct cli {
	const char *root; /* --root, or NULL for the default */
	oci_store *store; /* opened on first use */
	int exit_code;	  /* what vce exits with (run: the command's code) */
};

/* Exit codes: 0 success, 1 failure, 2 bad usage (as getopt reports). */
#define CLI_USAGE 2

int cli_store(struct cli *cli, oci_store **out, vce_err *err);
/* A usage error: sets err, and main exits with CLI_USAGE. */
int cli_usage_error(vce_err *err, const char *verb, const char *fmt, ...) VCE_PRINTF(3, 4);
bool cli_is_usage_error(const vce_error *err);
bool cli_wants_help(int argc, char **argv);

/* Pulls image, printing as `vce pull` does to out (bars if a terminal). */
int cli_pull(struct cli *cli, const char *image, const char *platform, bool quiet, FILE *out,
	     vce_err *err);
/* run's --pull: missing (default), always, never. */
int cli_ensure_image(struct cli *cli, const char *image, const char *policy, const char *platform,
		     vce_err *err);

int cmd_pull(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_login(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_logout(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_load(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_save(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_images(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_tag(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_rmi(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_inspect(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_port(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_system(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_run(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_image_prune(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_create(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_start(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_stop(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_restart(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_kill(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_rm(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_wait(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_rename(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_ps(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_container_prune(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_stats(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_exec(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_logs(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_image_inspect(struct cli *cli, int argc, char **argv, vce_err *err);
int cmd_container_inspect(struct cli *cli, int argc, char **argv, vce_err *err);

#endif
