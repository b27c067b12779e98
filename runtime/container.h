/* The container's record in the store (runtime/ only). */
#ifndef VCE_RUNTIME_CONTAINER_H
#define VCE_RUNTIME_CONTAINER_H

#include <jansson.h>

#include "internal.h"

/* Under the store lock: finds the image, builds the plan, creates
 * containers/<id>/, its options.json and state.json; *dir_fd_out gets
 * the directory. */
int rt_container_create(oci_store *store, const rt_options *opts, rt_plan *plan, int *dir_fd_out,
			vce_err *err);
/* Removes containers/<id>, with the user's id range if files of other
 * ids are left in it (rootless). */
int rt_container_remove(oci_store *store, const char *id, vce_err *err);
/* The same from a supervisor, which knows the directory, not the store. */
int rt_container_remove_dir(const char *dir, vce_err *err);

/* A container named by its name, its id or a unique prefix of its id,
 * with its directory open and locked (flock: two vce commands on one
 * container take turns) and its state loaded and put right. */
typedef struct rt_container {
	char *id;
	int dir_fd, lock_fd;
	json_t *state;
} rt_container;
int rt_container_open(oci_store *store, const char *ref, rt_container *c, vce_err *err);
void rt_container_close(rt_container *c);
int rt_container_save(rt_container *c, vce_err *err);
/* The id a name or prefix stands for (no lock). */
int rt_container_resolve(oci_store *store, const char *ref, char **id, vce_err *err);

/* The plan of an existing container, from its state and options.json
 * (opts gets those; the caller may change them first: see exec). */
int rt_plan_existing(oci_store *store, rt_container *c, rt_options *opts, rt_plan *plan,
		     vce_err *err);
int rt_plan_from_options(oci_store *store, rt_container *c, rt_options *opts, rt_plan *plan,
			 vce_err *err);

/* A process of the container whose /proc entries (namespaces, root)
 * this user may open: init, or without privilege its first child, the
 * command (init is not dumpable: its fds reach the store). */
pid_t rt_container_member(pid_t init);

/* Docker's inspect object of a container. */
json_t *rt_container_describe(oci_store *store, const char *id, int dir_fd, json_t *state);

json_t *rt_state_new(const rt_plan *plan);
/* The container's state.json, or NULL with err. */
json_t *rt_state_load(int dir_fd, vce_err *err);
int rt_state_save(int dir_fd, json_t *state, vce_err *err);
void rt_state_set_running(json_t *state, pid_t init, pid_t supervisor);
void rt_state_set_exit(json_t *state, int code);
const char *rt_state_status(json_t *state);
/* A state that says running while its supervisor is gone (kill -9, a
 * reboot) is put right: exited, with the reason. Returns whether it
 * changed. */
bool rt_state_refresh(json_t *state);

/* options.json: what `create` was asked, so that `start` builds the
 * same container again (environment and host ids resolved at create). */
int rt_options_save(int dir_fd, const rt_options *opts, const rt_plan *plan, vce_err *err);
int rt_options_load(int dir_fd, rt_options *opts, vce_err *err);
void rt_options_free(rt_options *opts);

#endif
