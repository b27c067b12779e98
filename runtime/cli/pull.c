/* `vce pull`, `vce login`, `vce logout`, and the pull `run` does. */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#include "../../common/banned.h"

static const char pull_help[] =
    "Usage: vce pull [OPTIONS] NAME[:TAG|@DIGEST]\n\n"
    "Download an image from a registry (Docker Hub when NAME has no host).\n"
    "Layers are unpacked while they download; an interrupted pull resumes.\n\n"
    "  --platform OS/ARCH[/VARIANT]   the platform to pull (default: this machine's)\n"
    "  -q, --quiet                    print only the image name\n\n"
    "Registries that need a login: vce login HOST. Mirrors and plain-HTTP\n"
    "registries are set in /etc/vce/config.json (see the README).\n";

int cli_pull(struct cli *cli, const char *image, const char *platform, bool quiet, FILE *out,
	     vce_err *err)
{
	oci_pull_opts opts = { .platform = platform };
	oci_pulled pulled;
	oci_store *store;

	if (!quiet && isatty(fileno(out)))
		opts.progress = out;
	if (cli_store(cli, &store, err) < 0 || oci_pull(store, image, &opts, &pulled, err) < 0)
		return -1;
	if (quiet) {
		fprintf(out, "%s\n", pulled.name);
	} else {
		fprintf(out, "Digest: %s\n", pulled.digest);
		fprintf(out, "Status: %s for %s\n",
			pulled.up_to_date ? "Image is up to date" : "Downloaded newer image",
			pulled.name);
		fprintf(out, "%s\n", pulled.name);
	}
	oci_pulled_free(&pulled);
	return 0;
}

int cmd_pull(struct cli *cli, int argc, char **argv, vce_err *err)
{
	enum { OPT_PLATFORM = 256 };
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *platform = NULL;
	bool quiet = false;
	int c;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PLATFORM:
			platform = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(pull_help, stdout);
			return 0;
		default:
			return cli_usage_error(err, "pull", "bad option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(err, "pull", "give one image: vce pull NAME[:TAG]");
	return cli_pull(cli, argv[optind], platform, quiet, stdout, err);
}

/* ---- login / logout ---- */

static const char login_help[] =
    "Usage: vce login [-u USER] [-p PASSWORD | --password-stdin] [HOST]\n\n"
    "Log in to a registry (default docker.io). The credentials are checked\n"
    "with the registry, then kept in ~/.docker/config.json (or\n"
    "$REGISTRY_AUTH_FILE), where docker and podman find them too.\n";

static char *read_line(FILE *in, bool echo)
{
	struct termios old, quiet;
	bool tty = !echo && isatty(fileno(in)) && tcgetattr(fileno(in), &old) == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(in), TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, in);
	if (tty) {
		tcsetattr(fileno(in), TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static const char *registry_host(const char *arg)
{
	/* docker login accepts "https://host/..." too. */
	if (strncmp(arg, "https://", 8) == 0)
		return arg + 8;
	if (strncmp(arg, "http://", 7) == 0)
		return arg + 7;
	return arg;
}

int cmd_login(struct cli *cli, int argc, char **argv, vce_err *err)
{
	enum { OPT_STDIN = 256 };
	static const struct option opts[] = {
		{ "username", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "password-stdin", no_argument, NULL, OPT_STDIN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_free char *user = NULL, *password = NULL, *host = NULL, *file = NULL;
	bool from_stdin = false;
	int c, ret;

	(void)cli;
	while ((c = getopt_long(argc, argv, "u:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			free(user);
			user = xstrdup(optarg);
			break;
		case 'p':
			free(password);
			password = xstrdup(optarg);
			break;
		case OPT_STDIN:
			from_stdin = true;
			break;
		case 'h':
			fputs(login_help, stdout);
			return 0;
		default:
			return cli_usage_error(err, "login", "bad option");
		}
	}
	if (optind + 1 < argc)
		return cli_usage_error(err, "login", "give at most one registry host");
	host = xstrdup(registry_host(optind < argc ? argv[optind] : "docker.io"));
	host[strcspn(host, "/")] = '\0';
	if (from_stdin && password)
		return cli_usage_error(err, "login",
				       "--password and --password-stdin are exclusive");
	if (from_stdin && user == NULL)
		return cli_usage_error(err, "login", "--password-stdin needs --username");
	if (user == NULL) {
		fprintf(stderr, "Username: ");
		user = read_line(stdin, true);
	}
	if (password == NULL && !from_stdin)
		fprintf(stderr, "Password: ");
	if (password == NULL)
		password = read_line(stdin, from_stdin);
	if (user == NULL || *user == '\0' || password == NULL || *password == '\0')
		return vce_error_make(err, 0,
				      "a username and a password are needed to log in to %s", host);
	ret = oci_login(host, user, password, &file, err);
	explicit_bzero(password, strlen(password));
	if (ret < 0)
		return -1;
	printf("Login Succeeded (credentials kept in %s)\n", file);
	return 0;
}

int cmd_logout(struct cli *cli, int argc, char **argv, vce_err *err)
{
	cleanup_free char *host = NULL, *file = NULL;

	(void)cli;
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs("Usage: vce logout [HOST]\n\nForget the credentials kept for a registry "
		      "(default docker.io).\n",
		      stdout);
		return 0;
	}
	if (argc > 2)
		return cli_usage_error(err, "logout", "give at most one registry host");
	host = xstrdup(registry_host(argc > 1 ? argv[1] : "docker.io"));
	host[strcspn(host, "/")] = '\0';
	if (oci_logout(host, &file, err) < 0)
		return -1;
	printf("Removing login credentials for %s (from %s)\n", host, file);
	return 0;
}

/* ---- run --pull ---- */

/* 1 if the store has image, 0 if not; -1 if the store cannot tell (that
 * is an error to show, not a reason to pull). */
static int image_in_store(oci_store *store, const char *image, vce_err *err)
{
	cleanup_err vce_err not_found = NULL;
	oci_images images;
	int found;

	if (oci_images_load(store, &images, err) < 0)
		return -1;
	found = oci_images_find(&images, image, &not_found) >= 0;
	oci_images_free(&images);
	return found;
}

int cli_ensure_image(struct cli *cli, const char *image, const char *policy, const char *platform,
		     vce_err *err)
{
	oci_store *store;

	if (policy == NULL)
		policy = "missing";
	if (strcmp(policy, "never") == 0)
		return 0;
	if (strcmp(policy, "missing") != 0 && strcmp(policy, "always") != 0)
		return cli_usage_error(
		    err, "run", "--pull must be missing, always or never, not \"%s\"", policy);
	if (cli_store(cli, &store, err) < 0)
		return -1;
	if (strcmp(policy, "missing") == 0) {
		int have = image_in_store(store, image, err);
		if (have != 0)
			return have < 0 ? -1 : 0;
	}
	if (strcmp(policy, "missing") == 0)
		fprintf(stderr, "Unable to find image '%s' locally\n", image);
	/* Standard output belongs to the container. */
	return cli_pull(cli, image, platform, false, stderr, err);
}
